"""Which rules the paths check probes for one migrated Ingress: both sides' rules.

Every host and path of the Ingress (a second host is probed with its own Host and SNI), and
every HTTPRoute match attached to a Gateway listener for the Ingress's hosts or Services
(path, method, headers, query), so a rule that exists only on the Gateway is probed too.
The lab (`Lab.targets`) and `cutover inventory --draft-targets` write the result as the
service's `paths` in the targets file (see cutover.targets.PathRule).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from cutover.manifests import HTTPRoute, Ingress, Listener, ManifestSet, RouteMatch, RouteRule

__all__ = ["PathIndex", "path_rules", "regex_hosts"]

_LISTENER_SCHEME = {"HTTP": "http", "HTTPS": "https"}


def regex_hosts(manifests: ManifestSet) -> set[str]:
    """Hosts whose every location nginx renders as `~* "^path"`: use-regex or rewrite-target on
    ANY Ingress of the host spreads to all of them (ref: ingress-nginx.md, template.go buildLocation)."""
    result: set[str] = set()
    for ingress in manifests.ingresses:
        if ingress.annotation("use-regex").strip().lower() == "true" or ingress.annotation("rewrite-target"):
            result.update(h for h in ingress.hosts if h)
    return result


def _host_matches(pattern: str, host: str) -> bool:
    return pattern == host or (pattern.startswith("*.") and fnmatch.fnmatchcase(host, pattern))


def _listeners(manifests: ManifestSet, route: HTTPRoute) -> list[Listener]:
    """The HTTP/HTTPS listeners the route attaches to (sectionName, port, allowedRoutes Same)."""
    found: list[Listener] = []
    for parent in route.parent_refs:
        if parent.kind != "Gateway":
            continue
        gateway = manifests.gateway(parent.namespace, parent.name)
        if gateway is None:
            continue
        for listener in gateway.listeners:
            if parent.section_name and parent.section_name != listener.name:
                continue
            if parent.port is not None and parent.port != listener.port:
                continue
            if listener.routes_from == "Same" and route.namespace != gateway.namespace:
                continue
            if listener.protocol in _LISTENER_SCHEME and listener not in found:
                found.append(listener)
    return found


def _schemes_for(listeners: list[Listener], host: str) -> set[str]:
    return {
        _LISTENER_SCHEME[listener.protocol]
        for listener in listeners
        if not listener.hostname or _host_matches(listener.hostname, host)
    }


def _backend(rule: RouteRule) -> str | None:
    services = [ref for ref in rule.backend_refs if ref.kind == "Service"]
    if not services:
        return None
    heaviest = max(services, key=lambda ref: ref.weight)
    return f"{heaviest.namespace}/{heaviest.name}"


def _match_entry(match: RouteMatch) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": match.path_value, "type": match.path_type}
    if match.method:
        entry["method"] = match.method
    if match.headers:
        entry["headers"] = [{"name": h.name, "value": h.value, "type": h.type} for h in match.headers]
    if match.query_params:
        entry["query"] = [{"name": q.name, "value": q.value, "type": q.type} for q in match.query_params]
    return entry


@dataclass(frozen=True)
class PathIndex:
    """What path_rules needs of the whole manifests set: built once by a caller that asks for
    every Ingress in turn (per Ingress it was quadratic: 250,000 listener lookups at 500 services)."""

    regex_hosts: set[str]
    ingress_hosts: set[str]
    # (host, path without its trailing slash) -> the Ingresses with that rule.
    rule_owners: dict[tuple[str, str], list[Ingress]]
    listeners: dict[int, list[Listener]]

    @classmethod
    def of(cls, manifests: ManifestSet) -> PathIndex:
        owners: dict[tuple[str, str], list[Ingress]] = {}
        for ingress in manifests.ingresses:
            for item in ingress.paths:
                owners.setdefault((item.host, item.path.rstrip("/")), []).append(ingress)
        return cls(
            regex_hosts=regex_hosts(manifests),
            ingress_hosts={h for other in manifests.ingresses for h in other.hosts if h},
            rule_owners=owners,
            listeners={id(route): _listeners(manifests, route) for route in manifests.http_routes},
        )


def path_rules(manifests: ManifestSet, ingress: Ingress, index: PathIndex | None = None) -> list[dict[str, Any]]:
    """The targets-file `paths` of the service made from this Ingress: its own rules first
    (the first is the service's first path), then the HTTPRoute matches for its hosts and Services.

    `host` and `scheme` are written only where they differ from the service's (the first host)."""
    if not ingress.hosts:
        return []
    # The service's host is the Ingress's first (as Lab.targets and draft_targets write it).
    service_host = ingress.hosts[0]
    hosts = [h for h in ingress.hosts if h]
    tls_hosts = ingress.tls_hosts()

    def scheme_of(host: str) -> str:
        return "https" if host in tls_hosts else "http"

    service_scheme = scheme_of(service_host)
    index = index or PathIndex.of(manifests)
    on_regex = index.regex_hosts
    object_name = f"{ingress.namespace}/{ingress.name}"

    def place(entry: dict[str, Any], host: str, scheme: str) -> dict[str, Any]:
        if host != service_host:
            entry["host"] = host
        if scheme != service_scheme:
            entry["scheme"] = scheme
        return entry

    rules: list[dict[str, Any]] = []
    for item in ingress.paths:
        if not item.host:
            continue
        entry: dict[str, Any] = {
            "path": item.path,
            "type": item.path_type,
            "backend": f"{ingress.namespace}/{item.backend.service}",
        }
        if item.host in on_regex:
            entry["regex"] = True
        entry.update({"source": "ingress", "object": object_name})
        rules.append(place(entry, item.host, scheme_of(item.host)))

    own_backends = {(ingress.namespace, item.backend.service) for item in ingress.paths}
    ingress_hosts = index.ingress_hosts

    def another_ingress_has(host: str, path: str) -> bool:
        # Another Ingress's rule on a shared host is that service's to probe, with its baseline.
        return any(other is not ingress for other in index.rule_owners.get((host, path.rstrip("/")), ()))

    for route in manifests.http_routes:
        listeners = index.listeners[id(route)]
        if not listeners:
            continue
        serves_ours = any(
            (ref.namespace, ref.name) in own_backends for rule in route.rules for ref in rule.backend_refs
        )
        targets: list[str] = []
        if route.hostnames:
            for host in hosts:
                if any(_host_matches(pattern, host) for pattern in route.hostnames):
                    targets.append(host)
            if serves_ours:
                # A hostname only the Gateway serves: nginx has no server for it.
                targets += [h for h in route.hostnames if "*" not in h and h not in ingress_hosts]
        elif serves_ours:
            targets = list(hosts)
        for host in targets:
            schemes = _schemes_for(listeners, host)
            if host in hosts:
                # Probed the way clients reach the old side; a route not on that listener is not probed here.
                scheme = scheme_of(host)
                if scheme not in schemes:
                    continue
            elif schemes:
                scheme = "https" if "https" in schemes else "http"
            else:
                continue
            for rule in route.rules:
                for match in rule.matches:
                    plain = not (match.method or match.headers or match.query_params)
                    if plain and another_ingress_has(host, match.path_value):
                        continue
                    entry = _match_entry(match)
                    backend = _backend(rule)
                    if backend is not None:
                        entry["backend"] = backend
                    entry.update({"source": "httproute", "object": f"{route.namespace}/{route.name}"})
                    rules.append(place(entry, host, scheme))
    return rules
