"""What each ingress-nginx annotation means for the move, and how complex an Ingress is.

The plan's rule: backend TLS (or auth / snippets) is HIGH, anything needing runtime
validation or a policy (timeouts, buffering, allowlists, rewrites) is MEDIUM, plain
paths and ssl-redirect are LOW: each annotation's level is a column of the annotation
table (`cutover.facts.annotations`). Wave = 1 / 2 / 3 for LOW / MEDIUM / HIGH, unless the
Ingress carries `cutover.dev/wave`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cutover.facts import annotations as facts
from cutover.facts.kube import CUTOVER_PREFIX, NGINX_PREFIX
from cutover.manifests import Ingress

__all__ = [
    "WAVE_ANNOTATION",
    "capture_groups",
    "checks_for",
    "complexity",
    "group_waves",
    "host_groups",
    "is_restated_default",
    "proposed_wave",
    "read_timeout",
    "wave_warnings",
]

WAVE_ANNOTATION = CUTOVER_PREFIX + "wave"

# Values that restate the controller's own default, per annotation (the table's `defaults`).

# The annotations whose value the rules below read.
_BACKEND_PROTOCOL = facts.fact("backend-protocol")
_READ_TIMEOUT = facts.fact("proxy-read-timeout")
_SSL_REDIRECT = facts.fact("ssl-redirect")
_FORCE_SSL_REDIRECT = facts.fact("force-ssl-redirect")
_PROXY_BUFFERING = facts.fact("proxy-buffering")
_ALLOWLISTS = (facts.fact("whitelist-source-range"), facts.fact("allowlist-source-range"))
_CAPTURE = re.compile(r"\$\d|\$\{\d+\}")


def is_restated_default(short: str, value: str) -> bool:
    row = facts.lookup(short)
    return row is not None and row.restates_default(value)


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


def _level(name: str) -> str:
    row = facts.lookup(name)
    return row.level if row is not None else "LOW"


def complexity(ingress: Ingress) -> str:
    names = _short_names(ingress)
    # backend-protocol is HIGH for its value (HTTPS, GRPC, ...), not for being there.
    protocol = names.get(_BACKEND_PROTOCOL.name, "HTTP").upper()
    if any(_level(n) == "HIGH" for n in names if n != _BACKEND_PROTOCOL.name) or protocol not in ("HTTP", ""):
        return "HIGH"
    if any(_level(n) == "MEDIUM" for n in names):
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
    return group_waves(others).get(id(ingress), _own_wave(ingress))


def group_waves(ingresses: Iterable[Ingress]) -> dict[int, int]:
    """Every Ingress's proposed wave, by id: for callers that ask for every Ingress of a set
    (proposed_wave per Ingress would group the whole set each time)."""
    waves: dict[int, int] = {}
    for group in host_groups(ingresses):
        wave = max(_own_wave(member) for member in group)
        waves.update({id(member): wave for member in group})
    return waves


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
    raw = ingress.annotation(_READ_TIMEOUT.name, "60")
    return int(raw) if raw.strip().isdigit() else 60


def checks_for(ingress: Ingress) -> list[str]:
    """The parity check kinds this Ingress's annotations call for: each rule below adds the check
    the annotation table names for the annotation it reads."""
    names = _short_names(ingress)
    kinds = ["paths", "headers", "timeouts"]

    def add(row: facts.AnnotationFact) -> None:
        if row.check and row.check not in kinds:
            kinds.append(row.check)

    host_has_tls = bool(ingress.tls_hosts())
    if names.get(_FORCE_SSL_REDIRECT.name, "").lower() == "true" or (
        host_has_tls and names.get(_SSL_REDIRECT.name, "true").lower() != "false"
    ):
        add(_SSL_REDIRECT)
    if _PROXY_BUFFERING.name in names:
        add(_PROXY_BUFFERING)
    for allowlist in _ALLOWLISTS:
        if allowlist.name in names:
            add(allowlist)
    # GRPC / GRPCS become a GRPCRoute (h2c / TLS appProtocol on the Service), not a BackendTLSPolicy.
    if names.get(_BACKEND_PROTOCOL.name, "").upper() == "HTTPS":
        add(_BACKEND_PROTOCOL)
    return kinds
