"""What each ingress-nginx annotation means for the move, and how complex an Ingress is.

The plan's rule: backend TLS (or auth / snippets) is HIGH, anything needing runtime
validation or a policy (timeouts, buffering, allowlists, rewrites) is MEDIUM, plain
paths and ssl-redirect are LOW. Wave = 1 / 2 / 3 for LOW / MEDIUM / HIGH, unless the
Ingress carries `cutover.dev/wave`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cutover.manifests import NGINX_PREFIX, Ingress

__all__ = [
    "RESTATED_DEFAULTS",
    "WAVE_ANNOTATION",
    "capture_groups",
    "checks_for",
    "complexity",
    "host_groups",
    "is_restated_default",
    "proposed_wave",
    "read_timeout",
    "wave_warnings",
]

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


# Values that restate the controller's own default (internal/ingress/controller/config/config.go
# and the annotation parsers' fallbacks): the annotation changes nothing, so it raises no complexity
# and fails nothing.
RESTATED_DEFAULTS: dict[str, set[str]] = {
    "use-regex": {"false"},
    "load-balance": {"round_robin"},
    "enable-access-log": {"true"},
    "enable-rewrite-log": {"false"},
    "enable-cors": {"false"},
    "canary": {"false"},
    "ssl-redirect": {"true"},
    "force-ssl-redirect": {"false"},
    "preserve-trailing-slash": {"false"},
    "backend-protocol": {"http"},
    "proxy-http-version": {"1.1"},
    "proxy-request-buffering": {"on"},
    "proxy-connect-timeout": {"5"},
    "proxy-send-timeout": {"60"},
    "proxy-body-size": {"1m"},
    "proxy-next-upstream-tries": {"3"},
    "service-upstream": {"false"},
    "ssl-passthrough": {"false"},
    "enable-opentelemetry": {"false"},
    "http2-push-preload": {"false"},
}
_CAPTURE = re.compile(r"\$\d|\$\{\d+\}")


def is_restated_default(short: str, value: str) -> bool:
    return value.strip().lower() in RESTATED_DEFAULTS.get(short, set())


def capture_groups(value: str) -> bool:
    """A rewrite-target that uses capture groups ($1): HTTPRoute URLRewrite has none."""
    return bool(_CAPTURE.search(value))


def _short_names(ingress: Ingress) -> dict[str, str]:
    """The ingress-nginx annotations that change something (restated defaults left out)."""
    return {
        short: value
        for key, value in ingress.annotations.items()
        if key.startswith(NGINX_PREFIX)
        for short in [key.removeprefix(NGINX_PREFIX)]
        if not is_restated_default(short, value)
    }


def complexity(ingress: Ingress) -> str:
    names = _short_names(ingress)
    protocol = names.get("backend-protocol", "HTTP").upper()
    if any(n in _HIGH for n in names if n != "backend-protocol") or protocol not in ("HTTP", ""):
        return "HIGH"
    if any(n in _MEDIUM for n in names):
        return "MEDIUM"
    return "LOW"


def _own_wave(ingress: Ingress) -> int:
    explicit = ingress.annotations.get(WAVE_ANNOTATION, "").strip()
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    return {"LOW": 1, "MEDIUM": 2, "HIGH": 3}[complexity(ingress)]


def host_groups(ingresses: Iterable[Ingress]) -> list[list[Ingress]]:
    """Ingresses joined by the hosts they share (transitively): each group moves as one."""
    items = list(ingresses)
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, ingress in enumerate(items):
        for host in ingress.hosts:
            if not host:
                continue
            if host in owner:
                parent[root(index)] = root(owner[host])
            else:
                owner[host] = index
    groups: dict[int, list[Ingress]] = {}
    for index, ingress in enumerate(items):
        groups.setdefault(root(index), []).append(ingress)
    return list(groups.values())


def proposed_wave(ingress: Ingress, others: Iterable[Ingress] | None = None) -> int:
    """The Ingress's wave; with the other Ingresses given, the highest wave of every Ingress
    sharing a host with it: a host is never split across waves (one listener serves it)."""
    if others is None:
        return _own_wave(ingress)
    for group in host_groups(others):
        if any(member is ingress for member in group):
            return max(_own_wave(member) for member in group)
    return _own_wave(ingress)


def wave_warnings(ingresses: Iterable[Ingress]) -> list[str]:
    """One line per Ingress moved to a later wave because it shares a host."""
    warnings = []
    for group in host_groups(ingresses):
        wave = max(_own_wave(member) for member in group)
        for member in group:
            if _own_wave(member) < wave:
                shared = sorted({h for h in member.hosts if h})
                others = ", ".join(f"{o.namespace}/{o.name}" for o in group if o is not member)
                warnings.append(
                    f"Ingress {member.namespace}/{member.name}: wave {_own_wave(member)} -> {wave}, "
                    f"it shares {', '.join(shared)} with {others}"
                )
    return warnings


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
    # GRPC / GRPCS become a GRPCRoute (h2c / TLS appProtocol on the Service), not a BackendTLSPolicy.
    if names.get("backend-protocol", "").upper() == "HTTPS":
        kinds.append("backend_tls")
    return kinds
