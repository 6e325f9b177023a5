"""The timeout check's second half: where the target asks (timeouts.beyond_limit), a request
beyond nginx's read timeout must time out on both sides, not only succeed below it."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_checks

MANIFESTS = """
apiVersion: v1
kind: Service
metadata: {name: report, namespace: batch}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: report
  namespace: batch
  annotations: {nginx.ingress.kubernetes.io/proxy-read-timeout: "18"}
spec:
  ingressClassName: nginx
  rules:
    - host: report.example
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: report, port: {number: 80}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: batch}
spec:
  gatewayClassName: cilium
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: report, namespace: batch}
spec:
  parentRefs: [{name: gw}]
  hostnames: [report.example]
  rules:
    - timeouts: {request: 18s}
      backendRefs: [{name: report, port: 80}]
"""
OVERLAY = {
    "lab": {"profile": "cilium-1.20"},
    "services": {"report": {"timeouts": {"slow_request_seconds": 16, "beyond_limit": True, "beyond_margin": 3}}},
}


def _manifests(directory: Path, with_route_timeout: bool) -> Path:
    directory.mkdir()
    text = (
        MANIFESTS
        if with_route_timeout
        else MANIFESTS.replace("    - timeouts: {request: 18s}\n      backendRefs", "    - backendRefs")
    )
    (directory / "objects.yaml").write_text(text)
    (directory / "cutover.yaml").write_text(yaml.safe_dump(OVERLAY))
    return directory


def _run(manifests: Path) -> subprocess.CompletedProcess[str]:
    return run_checks("-m", "timeouts", "--manifests", str(manifests), "--no-go-report", timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    base = tmp_path_factory.mktemp("limits")
    with ThreadPoolExecutor(2) as pool:
        limited = pool.submit(_run, _manifests(base / "limited", True))
        unlimited = pool.submit(_run, _manifests(base / "unlimited", False))
        return {"limited": limited.result(), "unlimited": unlimited.result()}


def test_both_sides_enforce_the_limit(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = runs["limited"]
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed" in result.stdout  # slow 16s and beyond 18s


def test_a_gateway_without_the_limit_fails(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = runs["unlimited"]
    assert result.returncode == 1
    assert "report[beyond 18s]" in result.stdout
    assert "gateway limit: nginx 504 after 18." in result.stdout
    assert "gateway 200 after 21." in result.stdout and "gateway did not enforce the 18 s limit" in result.stdout
