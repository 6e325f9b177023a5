"""What becomes of each ingress-nginx annotation on the Gateway, read from the annotation table
(`cutover.facts.annotations`).

`mapped`: a Gateway API field carries it (named). `runtime`: no field, or behaviour that
must be proven by traffic: the parity check named. `unsupported`: no equivalent on Cilium's
Gateway API, with the reason. Anything with the prefix that is not in the table is
`unknown`: not an ingress-nginx annotation at all, a typo nginx silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from cutover.annotations import capture_groups
from cutover.facts import annotations as facts
from cutover.facts.kube import NGINX_PREFIX

__all__ = ["CATALOG", "AnnotationInfo", "classify"]


@dataclass(frozen=True)
class AnnotationInfo:
    key: str
    category: str  # mapped | runtime | unsupported | unknown | other | default
    detail: str
    check: str = ""


def _info(row: facts.AnnotationFact) -> AnnotationInfo:
    return AnnotationInfo(row.key, row.category, row.gateway, row.check)


CATALOG: dict[str, AnnotationInfo] = {row.name: _info(row) for row in facts.ANNOTATIONS}

_REWRITE_TARGET = facts.fact("rewrite-target")
_BACKEND_PROTOCOL = facts.fact("backend-protocol")


def classify(key: str, value: str | None = None) -> AnnotationInfo:
    """What the annotation becomes; with its value, a restated controller default is `default`
    (it changes nothing), and a capture-group rewrite is `unsupported`."""
    if not key.startswith(NGINX_PREFIX):
        return AnnotationInfo(key, "other", "not an ingress-nginx annotation (left as it is)")
    row = facts.lookup(key.removeprefix(NGINX_PREFIX))
    if row is None:
        return AnnotationInfo(key, "unknown", "not an ingress-nginx annotation: a typo nginx silently ignored")
    if value is not None and row.restates_default(value):
        return AnnotationInfo(key, "default", f"restates the controller's default ({value}): nothing to carry over")
    if value is not None and row is _REWRITE_TARGET and capture_groups(value):
        return AnnotationInfo(
            key,
            "unsupported",
            "a capture-group rewrite: HTTPRoute URLRewrite (ReplaceFullPath / ReplacePrefixMatch) has no capture "
            "groups; rewrite the route by hand and prove it with the paths check",
            "paths",
        )
    if value is not None and row is _BACKEND_PROTOCOL and value.strip().upper() in ("GRPC", "GRPCS"):
        return AnnotationInfo(
            key,
            "mapped",
            "a GRPCRoute (not an HTTPRoute); GRPC: the Service port's appProtocol kubernetes.io/h2c",
        )
    return CATALOG[row.name]
