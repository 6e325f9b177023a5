"""The lab from fixtures/metalkube: every service reachable through both sides, and the
behaviours the plan depends on (308 redirect, allowlist 403, backend TLS, forwarded headers)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CORRECTED, OFFICE, OUTSIDE, RunningLab

SERVICES = {
    "grafana.metalkube.internal": "monitoring/grafana",
    "mlflow.metalkube.internal": "mlflow/mlflow",
    "ml.metalkube.internal": "ml-serving/ml-serving",
    "api.metalkube.internal": "inference/llm-gateway",
    "qdrant.metalkube.internal": "inference/qdrant",
    "argocd.metalkube.internal": "argocd/argocd-server",
}
FIRST_PATH = {"mlflow.metalkube.internal": "/api", "ml.metalkube.internal": "/v2/models"}


@pytest.fixture(scope="module")
def corrected_lab(start_lab: Callable[..., RunningLab]) -> RunningLab:
    return start_lab(CORRECTED)


@pytest.mark.parametrize("host", list(SERVICES))
def test_each_service_reaches_its_backend_through_nginx(metalkube_lab: RunningLab, host: str) -> None:
    result = metalkube_lab.get("nginx", host, FIRST_PATH.get(host, "/"))
    assert result.status == 200
    assert result.backend == SERVICES[host]


@pytest.mark.parametrize("host", list(SERVICES))
def test_each_service_reaches_its_backend_through_the_gateway(corrected_lab: RunningLab, host: str) -> None:
    result = corrected_lab.get("gateway", host, FIRST_PATH.get(host, "/"))
    assert result.status == 200
    assert result.backend == SERVICES[host]


def test_plan_gateway_reaches_every_plain_backend(metalkube_lab: RunningLab) -> None:
    for host, backend in SERVICES.items():
        if host.startswith("argocd"):
            continue  # the plan's BackendTLSPolicy is ignored under cilium-1.17: plaintext to HTTPS
        assert metalkube_lab.get("gateway", host, FIRST_PATH.get(host, "/")).backend == backend


def test_nginx_redirects_plain_http_with_308(metalkube_lab: RunningLab) -> None:
    result = metalkube_lab.get("nginx", "grafana.metalkube.internal", "/d/abc?orgId=1", scheme="http")
    assert result.status == 308
    assert result.header("location") == "https://grafana.metalkube.internal/d/abc?orgId=1"


def test_nginx_acme_exemption_is_by_location(metalkube_lab: RunningLab) -> None:
    """no-tls-redirect-locations is matched against the location's path (template.go
    isLocationInLocationList), not the request's: grafana has no ACME solver location, so the
    challenge path is redirected like any other. tests/test_nginx_e2e_table.py has the exempt case."""
    result = metalkube_lab.get("nginx", "grafana.metalkube.internal", "/.well-known/acme-challenge/x", scheme="http")
    assert result.status == 308
    assert result.header("location") == "https://grafana.metalkube.internal/.well-known/acme-challenge/x"


def test_plan_gateway_serves_plain_http(metalkube_lab: RunningLab) -> None:
    """The plan writes no redirect route: plain HTTP is served as plain HTTP."""
    result = metalkube_lab.get("gateway", "grafana.metalkube.internal", "/", scheme="http")
    assert result.status == 200


def test_corrected_gateway_redirects_with_308(corrected_lab: RunningLab) -> None:
    result = corrected_lab.get("gateway", "grafana.metalkube.internal", "/d/abc?orgId=1", scheme="http")
    assert result.status == 308
    # Cilium sets port_redirect 443 for `scheme: https`; Envoy writes the port out.
    assert result.header("location") == "https://grafana.metalkube.internal:443/d/abc?orgId=1"


def test_nginx_allowlist_denies_with_403(metalkube_lab: RunningLab) -> None:
    assert metalkube_lab.get("nginx", "qdrant.metalkube.internal", "/", source=OUTSIDE).status == 403
    assert metalkube_lab.get("nginx", "qdrant.metalkube.internal", "/", source=OFFICE).status == 200


def test_plan_policy_lets_every_client_through_the_gateway(metalkube_lab: RunningLab) -> None:
    """fromEntities: cluster admits the ingress identity: the allowlist is lost."""
    assert metalkube_lab.get("gateway", "qdrant.metalkube.internal", "/", source=OUTSIDE).status == 200


def test_corrected_gateway_enforces_the_allowlist_on_the_client(corrected_lab: RunningLab) -> None:
    assert corrected_lab.get("gateway", "qdrant.metalkube.internal", "/", source=OUTSIDE).status == 403
    assert corrected_lab.get("gateway", "qdrant.metalkube.internal", "/", source=OFFICE).status == 200
    assert corrected_lab.get("gateway", "grafana.metalkube.internal", "/", source=OUTSIDE).status == 200


def test_forwarded_headers_on_each_side(metalkube_lab: RunningLab) -> None:
    spoofed = {"X-Forwarded-For": "203.0.113.9"}
    nginx = metalkube_lab.get("nginx", "grafana.metalkube.internal", "/", headers=spoofed).json
    gateway = metalkube_lab.get("gateway", "grafana.metalkube.internal", "/", headers=spoofed).json
    assert nginx and gateway
    # nginx replaces XFF with the peer and sends X-Real-IP; the old value is kept aside.
    assert nginx["headers"]["x-forwarded-for"] == OFFICE
    assert nginx["headers"]["x-real-ip"] == OFFICE
    assert nginx["headers"]["x-original-forwarded-for"] == "203.0.113.9"
    assert nginx["headers"]["x-forwarded-proto"] == "https"
    assert nginx["headers"]["x-forwarded-port"] == "443"
    assert nginx["headers"]["x-request-id"]
    # Envoy appends the client to whatever XFF came in, sets no X-Real-IP.
    assert gateway["headers"]["x-forwarded-for"] == f"203.0.113.9,{OFFICE}"
    assert "x-real-ip" not in gateway["headers"]
    assert gateway["headers"]["x-envoy-external-address"] == OFFICE
    # The backend's TCP peer is the proxy, never the client.
    assert nginx["peer"]["address"] == "127.0.100.1"
    assert gateway["peer"]["address"] == "127.0.200.1"


def test_nginx_adds_hsts_and_hides_server(metalkube_lab: RunningLab) -> None:
    result = metalkube_lab.get("nginx", "grafana.metalkube.internal", "/")
    assert result.header("strict-transport-security") == "max-age=31536000; includeSubDomains"
    assert result.header("server") is None
    assert metalkube_lab.get("gateway", "grafana.metalkube.internal", "/").header("server") == "envoy"


def test_nginx_reaches_https_backend_without_sni(metalkube_lab: RunningLab) -> None:
    data = metalkube_lab.get("nginx", "argocd.metalkube.internal", "/").json
    assert data and data["tls"] and data["tls"]["sni"] is None


def test_plan_backend_tls_policy_is_ignored_under_the_default_profile(metalkube_lab: RunningLab) -> None:
    result = metalkube_lab.get("gateway", "argocd.metalkube.internal", "/")
    assert result.status == 503  # plaintext to an HTTPS backend


def test_corrected_gateway_uses_tls_with_the_policy_sni(corrected_lab: RunningLab) -> None:
    data = corrected_lab.get("gateway", "argocd.metalkube.internal", "/").json
    assert data and data["tls"] == {"version": data["tls"]["version"], "sni": "argocd-server.argocd.svc"}


def test_missing_ca_config_map_removes_the_backend(start_lab: Callable[..., RunningLab], tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    policy = manifests / "gateway" / "argocd-backendtls.yaml"
    policy.write_text(policy.read_text().split("\n---\n")[0] + "\n")
    lab = start_lab(manifests)
    assert lab.get("gateway", "argocd.metalkube.internal", "/").status == 503
    assert any("argocd-server-ca not found" in note for note in lab.targets.notes)


def test_wrong_ca_is_refused_by_the_gateway(start_lab: Callable[..., RunningLab]) -> None:
    lab = start_lab(CORRECTED, faults=("wrong-backend-ca",))
    result = lab.get("gateway", "argocd.metalkube.internal", "/")
    assert result.status == 503
    # Refused during the handshake: Envoy rejected the certificate, the backend saw no request.
    backend_log = lab.lab.state_dir / "logs" / "backend-argocd-argocd-server.log"
    # The backend writes its log line after the handshake fails, which may be a moment after
    # Envoy has already answered the client: wait for it, a bounded while.
    deadline = time.monotonic() + 10
    while "TLS handshake failed" not in backend_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "TLS handshake failed" in backend_log.read_text()


def test_targets_follow_the_plan_complexity_rule(metalkube_lab: RunningLab) -> None:
    by_name = {s.name: s for s in metalkube_lab.targets.services}
    assert {n: s.complexity for n, s in by_name.items()} == {
        "grafana": "LOW",
        "mlflow": "LOW",
        "ml-serving": "LOW",
        "llm-gateway": "MEDIUM",
        "qdrant": "MEDIUM",
        "argocd": "HIGH",
    }
    assert {n: s.wave for n, s in by_name.items()} == {
        "grafana": 1,
        "mlflow": 1,
        "ml-serving": 1,
        "llm-gateway": 2,
        "qdrant": 2,
        "argocd": 3,
    }
    assert by_name["qdrant"].source_ip == {"allowed": ["office"], "denied": ["outside"]}
    assert "sse" in by_name["llm-gateway"].checks
    assert by_name["argocd"].backend_tls["mode"] == "A"


def test_a_secret_with_real_pem_is_served_as_it_is(start_lab: Callable[..., RunningLab], tmp_path: Path) -> None:
    import base64

    import trustme

    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    own_ca = trustme.CA(organization_name="the team's own CA")
    cert = own_ca.issue_cert("grafana.metalkube.internal")
    chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
    (manifests / "grafana-tls.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: grafana-tls, namespace: monitoring}\n"
        "type: kubernetes.io/tls\ndata:\n"
        f"  tls.crt: {base64.b64encode(chain).decode()}\n"
        f"  tls.key: {base64.b64encode(cert.private_key_pem.bytes()).decode()}\n"
    )
    own_ca.cert_pem.write_to_path(str(tmp_path / "own-ca.pem"))
    lab = start_lab(manifests)
    result = lab.get("nginx", "grafana.metalkube.internal", "/", ca_bundle=str(tmp_path / "own-ca.pem"))
    assert result.status == 200 and result.backend == "monitoring/grafana"
    # Every other host still gets a certificate from the lab's CA.
    assert lab.get("nginx", "qdrant.metalkube.internal", "/").status == 200
