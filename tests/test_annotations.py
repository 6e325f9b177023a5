"""Annotation handling that the lab and the inventory share: waves, checks, unmodelled notes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutover import annotations as ann
from cutover.cluster.catalog import CATALOG, classify
from cutover.lab.model import LabLayout
from cutover.lab.nginx_render import render_nginx
from cutover.manifests import load_manifests

INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: web
  annotations:
    nginx.ingress.kubernetes.io/limit-rps: "10"
    nginx.ingress.kubernetes.io/proxy-buffering: "off"
    cutover.dev/wave: "4"
spec:
  ingressClassName: nginx
  tls: [{hosts: [shop.example], secretName: shop-tls}]
  rules:
    - host: shop.example
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}]
"""


def test_wave_annotation_overrides_the_complexity_rule(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(INGRESS)
    ingress = load_manifests(tmp_path).ingresses[0]
    assert ann.complexity(ingress) == "MEDIUM"
    assert ann.proposed_wave(ingress) == 4
    assert ann.checks_for(ingress) == ["paths", "headers", "timeouts", "redirects", "sse"]


def test_unmodelled_annotations_are_listed(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(INGRESS)
    layout = LabLayout(tmp_path, "127.0.0.1", 1, 2, 3, 4, 5, "127.0.100.1", "127.0.200.1")
    config = render_nginx(load_manifests(tmp_path), layout)
    notes = [str(n) for n in config.notes]
    assert (
        "[nginx] Ingress web/shop: annotation nginx.ingress.kubernetes.io/limit-rps is not modelled by the lab" in notes
    )
    assert not any("proxy-buffering" in n for n in notes)
    assert "proxy_buffering off;" in config.text


# Every annotation docs/user-guide/nginx-configuration/annotations.md of kubernetes/ingress-nginx
# names (controller v1.15 line, read from the repository).
DOCUMENTED_ANNOTATIONS = (
    "affinity",
    "affinity-canary-behavior",
    "affinity-mode",
    "app-root",
    "auth-always-set-cookie",
    "auth-cache-duration",
    "auth-cache-key",
    "auth-keepalive",
    "auth-keepalive-requests",
    "auth-keepalive-share-vars",
    "auth-keepalive-timeout",
    "auth-method",
    "auth-proxy-set-headers",
    "auth-realm",
    "auth-request-redirect",
    "auth-response-headers",
    "auth-secret",
    "auth-secret-type",
    "auth-signin",
    "auth-signin-redirect-param",
    "auth-snippet",
    "auth-tls-error-page",
    "auth-tls-match-cn",
    "auth-tls-pass-certificate-to-upstream",
    "auth-tls-secret",
    "auth-tls-verify-client",
    "auth-tls-verify-depth",
    "auth-type",
    "auth-url",
    "backend-protocol",
    "canary",
    "canary-by-cookie",
    "canary-by-header",
    "canary-by-header-pattern",
    "canary-by-header-value",
    "canary-weight",
    "canary-weight-total",
    "client-body-buffer-size",
    "configuration-snippet",
    "connection-proxy-header",
    "cors-allow-credentials",
    "cors-allow-headers",
    "cors-allow-methods",
    "cors-allow-origin",
    "cors-expose-headers",
    "cors-max-age",
    "custom-headers",
    "custom-http-errors",
    "default-backend",
    "denylist-source-range",
    "enable-access-log",
    "enable-cors",
    "enable-global-auth",
    "enable-modsecurity",
    "enable-opentelemetry",
    "enable-owasp-core-rules",
    "enable-rewrite-log",
    "force-ssl-redirect",
    "from-to-www-redirect",
    "http2-push-preload",
    "limit-burst-multiplier",
    "limit-connections",
    "limit-rate",
    "limit-rate-after",
    "limit-rpm",
    "limit-rps",
    "limit-whitelist",
    "load-balance",
    "mirror-host",
    "mirror-request-body",
    "mirror-target",
    "modsecurity-snippet",
    "modsecurity-transaction-id",
    "opentelemetry-trust-incoming-span",
    "permanent-redirect",
    "permanent-redirect-code",
    "preserve-trailing-slash",
    "proxy-body-size",
    "proxy-buffer-size",
    "proxy-buffering",
    "proxy-buffers-number",
    "proxy-busy-buffers-size",
    "proxy-connect-timeout",
    "proxy-cookie-domain",
    "proxy-cookie-path",
    "proxy-http-version",
    "proxy-max-temp-file-size",
    "proxy-next-upstream",
    "proxy-next-upstream-timeout",
    "proxy-next-upstream-tries",
    "proxy-read-timeout",
    "proxy-redirect-from",
    "proxy-redirect-to",
    "proxy-request-buffering",
    "proxy-send-timeout",
    "proxy-ssl-ciphers",
    "proxy-ssl-name",
    "proxy-ssl-protocols",
    "proxy-ssl-secret",
    "proxy-ssl-server-name",
    "proxy-ssl-verify",
    "proxy-ssl-verify-depth",
    "rewrite-target",
    "satisfy",
    "server-alias",
    "server-snippet",
    "service-upstream",
    "session-cookie-change-on-failure",
    "session-cookie-conditional-samesite-none",
    "session-cookie-domain",
    "session-cookie-expires",
    "session-cookie-max-age",
    "session-cookie-name",
    "session-cookie-path",
    "session-cookie-samesite",
    "session-cookie-secure",
    "ssl-ciphers",
    "ssl-passthrough",
    "ssl-prefer-server-ciphers",
    "ssl-redirect",
    "stream-snippet",
    "temporal-redirect",
    "temporal-redirect-code",
    "upstream-hash-by",
    "upstream-hash-by-subset",
    "upstream-hash-by-subset-size",
    "upstream-vhost",
    "use-regex",
    "whitelist-source-range",
    "x-forwarded-prefix",
)


def test_catalog_covers_every_documented_annotation() -> None:
    assert len(DOCUMENTED_ANNOTATIONS) == 130
    missing = [name for name in DOCUMENTED_ANNOTATIONS if name not in CATALOG]
    assert missing == []
    for name in DOCUMENTED_ANNOTATIONS:
        assert classify(f"nginx.ingress.kubernetes.io/{name}").category != "unknown", name
    assert classify("nginx.ingress.kubernetes.io/proxy-read-timeut").category == "unknown"


def _one(tmp_path: Path, name: str, host: str, annotations: dict[str, str]) -> str:
    notes = "".join(f"\n    nginx.ingress.kubernetes.io/{k}: {v!r}" for k, v in annotations.items())
    block = "\n  annotations:" + notes if notes else ""
    return f"""---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: web{block}
spec:
  ingressClassName: nginx
  rules:
    - host: {host}
      http:
        paths: [{{path: /{name}, pathType: Prefix, backend: {{service: {{name: {name}, port: {{number: 80}}}}}}}}]
"""


@pytest.mark.parametrize(
    ("annotations", "level"),
    [
        ({"use-regex": "false"}, "LOW"),
        ({"load-balance": "round_robin", "enable-access-log": "true"}, "LOW"),
        ({"use-regex": "true"}, "MEDIUM"),
        ({"load-balance": "ewma"}, "LOW"),
        ({"backend-protocol": "GRPC"}, "HIGH"),
    ],
    ids=lambda value: str(value),
)
def test_annotation_values_matter(tmp_path: Path, annotations: dict[str, str], level: str) -> None:
    (tmp_path / "i.yaml").write_text(_one(tmp_path, "app", "app.example", annotations))
    ingress = load_manifests(tmp_path).ingresses[0]
    assert ann.complexity(ingress) == level


def test_restated_defaults_fail_nothing() -> None:
    for key, value in (("use-regex", "false"), ("load-balance", "round_robin"), ("enable-access-log", "true")):
        info = classify(f"nginx.ingress.kubernetes.io/{key}", value)
        assert info.category == "default", (key, info)
    # The same annotations with a value that changes something are still what they were.
    assert classify("nginx.ingress.kubernetes.io/load-balance", "ewma").category == "unsupported"
    assert classify("nginx.ingress.kubernetes.io/enable-access-log", "false").category == "unsupported"


def test_grpc_backends_map_to_grpcroute_not_backend_tls(tmp_path: Path) -> None:
    for protocol in ("GRPC", "GRPCS"):
        (tmp_path / "i.yaml").write_text(_one(tmp_path, "app", "app.example", {"backend-protocol": protocol}))
        ingress = load_manifests(tmp_path).ingresses[0]
        assert "backend_tls" not in ann.checks_for(ingress)
        info = classify("nginx.ingress.kubernetes.io/backend-protocol", protocol)
        assert "GRPCRoute" in info.detail and "BackendTLSPolicy" not in info.detail
    (tmp_path / "i.yaml").write_text(_one(tmp_path, "app", "app.example", {"backend-protocol": "HTTPS"}))
    assert "backend_tls" in ann.checks_for(load_manifests(tmp_path).ingresses[0])


def test_capture_group_rewrites_are_flagged() -> None:
    flagged = classify("nginx.ingress.kubernetes.io/rewrite-target", "/new/$1")
    assert flagged.category == "unsupported" and "capture groups" in flagged.detail
    assert classify("nginx.ingress.kubernetes.io/rewrite-target", "/new").category == "mapped"


def test_a_host_is_never_split_across_waves(tmp_path: Path) -> None:
    documents = (
        _one(tmp_path, "plain", "shop.example", {})
        + _one(tmp_path, "timeouts", "shop.example", {"proxy-read-timeout": "120"})
        + _one(tmp_path, "bridge", "api.example", {})
        + _one(tmp_path, "tls", "api.example", {"backend-protocol": "HTTPS"})
        + _one(tmp_path, "alone", "alone.example", {})
    )
    (tmp_path / "i.yaml").write_text(documents)
    ingresses = load_manifests(tmp_path).ingresses
    waves = {i.name: ann.proposed_wave(i, ingresses) for i in ingresses}
    assert waves == {"plain": 2, "timeouts": 2, "bridge": 3, "tls": 3, "alone": 1}
    assert ann.proposed_wave(ingresses[0]) == 1  # on its own
    warnings = ann.wave_warnings(ingresses)
    assert "Ingress web/plain: wave 1 -> 2, it shares shop.example with web/timeouts" in warnings
    assert len(warnings) == 2
