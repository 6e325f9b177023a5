"""The lab's two proxies reproduce the documented path behaviour (../shared/ref/*.md).

nginx: the path table observed with ingress-nginx's generated blocks (Prefix twins,
ImplementationSpecific, use-regex host-wide, the trailing-slash 301).
Envoy: PathPrefix on segment boundaries, Exact is exact, case-sensitive.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.lab import Lab, LabOptions
from tests.conftest import RunningLab

MANIFESTS = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: plain, namespace: demo}
spec:
  ingressClassName: nginx
  rules:
    - host: plain.example
      http:
        paths:
          - {path: /api, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
          - {path: /v2/, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
          - {path: /impl, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
          - {path: /exact, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: regex
  namespace: demo
  annotations: {nginx.ingress.kubernetes.io/use-regex: "true"}
spec:
  ingressClassName: nginx
  rules:
    - host: regex.example
      http:
        paths:
          - {path: /api, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
          - {path: /v2/, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
          - {path: /impl, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
          - {path: /exact, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: demo}
spec:
  gatewayClassName: cilium
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: demo}
spec:
  parentRefs: [{name: gw}]
  hostnames: [gw.example]
  rules:
    - matches:
        - path: {type: PathPrefix, value: /api}
        - path: {type: PathPrefix, value: /v2/}
        - path: {type: Exact, value: /exact}
      backendRefs: [{name: web, port: 80}]
    - matches:
        - path: {type: PathPrefix, value: /slow}
      backendRefs: [{name: web, port: 80}]
"""

BACKEND = "demo/web"
# Ingress path table (ref: ingress-nginx.md, "Observed with nginx 1.22").
NGINX_TABLE = {
    "plain.example": {
        "/api": 200,
        "/api/": 200,
        "/api/x": 200,
        "/apix": 404,
        "/API": 404,
        "/v2": 301,
        "/v2/": 200,
        "/v2/x": 200,
        "/impl": 200,
        "/implx": 200,
        "/impl/x": 200,
        "/IMPL": 404,
        "/exact": 200,
        "/exact/": 404,
        "/exactx": 404,
        "/EXACT": 404,
    },
    "regex.example": {
        "/api": 200,
        "/api/": 200,
        "/api/x": 200,
        "/apix": 200,
        "/API": 200,
        "/v2": 404,
        "/v2/": 200,
        "/v2/x": 200,
        "/impl": 200,
        "/implx": 200,
        "/impl/x": 200,
        "/IMPL": 200,
        "/exact": 200,
        "/exact/": 200,
        "/exactx": 200,
        "/EXACT": 200,
    },
}
GATEWAY_TABLE = {
    "/api": 200,
    "/api/": 200,
    "/api/x": 200,
    "/apix": 404,
    "/API": 404,
    "/v2": 200,
    "/v2/": 200,
    "/v2/x": 200,
    "/v2example": 404,
    "/exact": 200,
    "/exact/": 404,
    "/Exact": 404,
}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo-manifests")
    (directory / "demo.yaml").write_text(MANIFESTS)
    return directory


@pytest.fixture(scope="module")
def demo_lab(start_lab: Callable[..., RunningLab], demo_dir: Path) -> RunningLab:
    return start_lab(demo_dir, profile="cilium-1.20")


@pytest.mark.parametrize(
    ("host", "path", "status"),
    [(host, path, status) for host, table in NGINX_TABLE.items() for path, status in table.items()],
    ids=lambda value: str(value),
)
def test_nginx_path_table(demo_lab: RunningLab, host: str, path: str, status: int) -> None:
    result = demo_lab.get("nginx", host, path, scheme="http")
    assert result.status == status, f"{host}{path}: expected {status}, got {result.status}"
    if status == 200:
        assert result.backend == BACKEND
    elif status == 301:
        assert result.header("location") == f"http://{host}{path}/"
    else:
        assert result.backend is None
        assert b"<title>404 Not Found</title>" in result.body  # the default backend's stock page


@pytest.mark.parametrize(("path", "status"), list(GATEWAY_TABLE.items()), ids=lambda value: str(value))
def test_gateway_path_prefix_on_segment_boundaries(demo_lab: RunningLab, path: str, status: int) -> None:
    result = demo_lab.get("gateway", "gw.example", path, scheme="http")
    assert result.status == status, f"{path}: expected {status}, got {result.status}"
    assert (result.backend == BACKEND) is (status == 200)


def _route_action(demo_dir: Path, state: Path, profile: str, prefix: str) -> dict[str, Any]:
    """The route action Envoy is given for prefix on gw.example, as the lab renders it for profile."""
    Lab(LabOptions(manifests=demo_dir, state_dir=state, profile=profile, detach=False)).prepare()
    config = yaml.safe_load((state / "envoy" / "envoy.yaml").read_text())
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "gw.example" in node.get("domains", []):
                found.extend(r["route"] for r in node["routes"] if r["match"].get("path_separated_prefix") == prefix)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    assert len(found) == 1, found
    return found[0]


def test_envoy_route_default_timeout_depends_on_the_profile(demo_dir: Path, tmp_path: Path) -> None:
    """cilium-1.15.0 leaves a route without timeouts to Envoy's 15 s route default (no timeout, no
    max_stream_duration); cilium-1.20 marks it max_stream_duration 0s, which switches it off. Real
    Envoy cutting at 15 s, and serving past it with the mark, is proven in one 18 s probe pair:
    tests/test_limits_real.py (no-llm-timeouts and its clean twin)."""
    old = _route_action(demo_dir, tmp_path / "old", "cilium-1.15.0", "/slow")
    new = _route_action(demo_dir, tmp_path / "new", "cilium-1.20", "/slow")
    assert "timeout" not in old and "max_stream_duration" not in old, old
    assert "timeout" not in new and new["max_stream_duration"] == {"max_stream_duration": "0s"}, new
