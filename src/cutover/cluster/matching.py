"""Which HTTPRoute rule stands for an Ingress rule: attached routes, host lookup and the path
equivalence the coverage check judges by."""

from __future__ import annotations

import re

from cutover.cluster.state import ClusterState
from cutover.manifests import HTTPRoute, IngressPath

__all__ = ["attached_routes", "equivalent", "listener_protocol", "routes_for_host", "rule_limit"]


def attached_routes(state: ClusterState) -> list[HTTPRoute]:
    gateways = {(g.namespace, g.name) for g in state.manifests.gateways}
    return [r for r in state.manifests.http_routes if any((p.namespace, p.name) in gateways for p in r.parent_refs)]


def routes_for_host(state: ClusterState, host: str) -> list[HTTPRoute]:
    return [r for r in attached_routes(state) if not r.hostnames or host in r.hostnames]


def listener_protocol(state: ClusterState, namespace: str, name: str, section: str) -> str | None:
    gateway = state.manifests.gateway(namespace, name)
    for listener in gateway.listeners if gateway else []:
        if listener.name == section:
            return listener.protocol
    return None


def _regex_matches(pattern: str, path: str) -> bool:
    try:
        # Gateway API RegularExpression on Envoy (Cilium): the whole path must match (RE2; Python's
        # re stands in for the subset that appears in paths).
        return re.fullmatch(pattern, path) is not None
    except re.error:
        return False


def _equivalent_regex(item: IngressPath, value: str, nginx_regex: bool) -> str | None:
    """A RegularExpression match against an Ingress path: None when equivalent, "no" when it does
    not cover the path, else what differs."""
    if nginx_regex:
        # nginx: `location ~* "^<path>"`, case-insensitive and open at the end.
        body = value.removeprefix("(?i)").removeprefix("^")
        if body in (item.path + ".*", item.path + "(.*)", f"({item.path}).*"):
            if value.startswith("(?i)"):
                return None
            return f"regex {item.path}: nginx matched case-insensitively; RegularExpression {value} is case-sensitive"
        if value == item.path:
            return (
                f"regex {item.path}: nginx matched it as a prefix; RegularExpression {value} must match the whole path"
            )
        return "no"
    probes = [item.path]
    if item.path_type != "Exact":
        probes.append(item.path.rstrip("/") + "/x")
    if not all(_regex_matches(value, p) for p in probes):
        return "no"
    return (
        f"{item.path_type} {item.path} is matched by RegularExpression {value}: verify the edges with the paths check"
    )


def equivalent(item: IngressPath, route_type: str, value: str, nginx_regex: bool = False) -> str | None:
    """None when the HTTPRoute match is equivalent, else what differs ("no": it does not match)."""
    if route_type == "RegularExpression":
        return _equivalent_regex(item, value, nginx_regex)
    if nginx_regex and route_type in ("PathPrefix", "Exact"):
        plain = re.fullmatch(r"[\w\-./~%]*", item.path) is not None
        if not plain:
            return "no"
    bare = item.path.rstrip("/") or "/"
    if item.path_type == "Exact":
        return None if route_type == "Exact" and value == item.path else "no"
    if route_type != "PathPrefix" or (value.rstrip("/") or "/") != bare:
        return "no"
    if item.path_type == "ImplementationSpecific":
        return f"ImplementationSpecific {item.path} also matched {bare}x on nginx; PathPrefix will not"
    if item.path.endswith("/") and item.path != "/":
        return f"Prefix {item.path} answered {bare} with a 301 on nginx; PathPrefix serves it"
    return None


def rule_limit(state: ClusterState, item: IngressPath) -> tuple[float | None, str] | None:
    """The total-duration limit (None: none) of the HTTPRoute rule that serves this Ingress rule,
    and where it is; None when no rule serves it (the rules case reports that)."""
    for route in routes_for_host(state, item.host):
        for rule in route.rules:
            if "RequestRedirect" in {f.get("type") for f in rule.filters}:
                continue
            if any(equivalent(item, m.path_type, m.path_value) != "no" for m in rule.matches):
                limits = [t for t in (rule.timeout_request, rule.timeout_backend_request) if t is not None]
                limit = min(limits) if limits else None
                return (limit if limit else None), f"HTTPRoute {route.namespace}/{route.name} rule {rule.index}"
    return None
