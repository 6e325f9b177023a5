"""What each ingress-nginx annotation means for the move, and how complex an Ingress is.

The plan's rule: backend TLS (or auth / snippets) is HIGH, anything needing runtime
validation or a policy (timeouts, buffering, allowlists, rewrites) is MEDIUM, plain
paths and ssl-redirect are LOW. Wave = 1 / 2 / 3 for LOW / MEDIUM / HIGH, unless the
Ingress carries `cutover.dev/wave`.
"""

from __future__ import annotations

from cutover.manifests import NGINX_PREFIX, Ingress

__all__ = ["WAVE_ANNOTATION", "checks_for", "complexity", "proposed_wave", "read_timeout"]

WAVE_ANNOTATION = "cutover.dev/wave"

_HIGH = {
    "backend-protocol",
    "auth-url",
    "auth-signin",
    "auth-tls-secret",
    "auth-type",
    "configuration-snippet",
    "server-snippet",
    "stream-snippet",
    "canary",
    "ssl-passthrough",
}
_MEDIUM = {
    "proxy-read-timeout",
    "proxy-send-timeout",
    "proxy-connect-timeout",
    "proxy-buffering",
    "whitelist-source-range",
    "allowlist-source-range",
    "denylist-source-range",
    "rewrite-target",
    "use-regex",
    "limit-rps",
    "limit-connections",
    "enable-cors",
    "proxy-body-size",
    "upstream-vhost",
    "app-root",
}


def _short_names(ingress: Ingress) -> dict[str, str]:
    return {k.removeprefix(NGINX_PREFIX): v for k, v in ingress.annotations.items() if k.startswith(NGINX_PREFIX)}


def complexity(ingress: Ingress) -> str:
    names = _short_names(ingress)
    protocol = names.get("backend-protocol", "HTTP").upper()
    if any(n in _HIGH for n in names if n != "backend-protocol") or protocol not in ("HTTP", ""):
        return "HIGH"
    if any(n in _MEDIUM for n in names):
        return "MEDIUM"
    return "LOW"


def proposed_wave(ingress: Ingress) -> int:
    explicit = ingress.annotations.get(WAVE_ANNOTATION, "").strip()
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    return {"LOW": 1, "MEDIUM": 2, "HIGH": 3}[complexity(ingress)]


def read_timeout(ingress: Ingress) -> int:
    raw = ingress.annotation("proxy-read-timeout", "60")
    return int(raw) if raw.strip().isdigit() else 60


def checks_for(ingress: Ingress) -> list[str]:
    """The parity check kinds this Ingress's annotations call for."""
    names = _short_names(ingress)
    kinds = ["paths", "headers", "timeouts"]
    host_has_tls = bool(ingress.tls_hosts())
    if names.get("force-ssl-redirect", "").lower() == "true" or (
        host_has_tls and names.get("ssl-redirect", "true").lower() != "false"
    ):
        kinds.append("redirects")
    if names.get("proxy-buffering", "").lower() == "off" or "proxy-buffering" in names:
        kinds.append("sse")
    if "whitelist-source-range" in names or "allowlist-source-range" in names:
        kinds.append("source_ip")
    if names.get("backend-protocol", "").upper() in ("HTTPS", "GRPCS"):
        kinds.append("backend_tls")
    return kinds
