"""Gateway API objects -> an Envoy bootstrap, the way Cilium's translator builds its
CiliumEnvoyConfig. Version differences come from the GatewayProfile.

Facts from ../shared/ref/cilium-gateway.md and cilium/cilium's operator/pkg/gateway-api/routechecks
(route status), operator/pkg/model/ingestion/gateway.go (which backends a rule keeps) and
operator/pkg/model/translation/envoy_virtual_host.go (merging, rewrites, redirects). The lab runs
upstream Envoy without Cilium's own filters, so the client allowlist Cilium enforces in Envoy is
rendered as an RBAC filter.

Slashes: Cilium's NewHTTPConnectionManager (translation/envoy_http_connection_manager.go) sets
neither merge_slashes nor normalize_path, so Envoy's defaults hold: `//x` reaches the backend
as `//x`. The lab renders the same (no such field below).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cutover.errors import InputError
from cutover.facts.kube import GATEWAY_GROUP
from cutover.lab.model import BackendAddress, LabLayout, Note
from cutover.lab.policy import ClientRule, backend_admits, gateway_allowlist
from cutover.lab.profiles import GatewayProfile
from cutover.manifests import (
    BackendRef,
    BackendTLSPolicy,
    Gateway,
    HTTPRoute,
    Listener,
    ManifestSet,
    RouteMatch,
    RouteRule,
    Service,
)

__all__ = [
    "SYSTEM_CA_BUNDLE",
    "EnvoyConfig",
    "GatewayListener",
    "PolicyStatus",
    "RouteStatus",
    "cilium_gateways",
    "compute_status",
    "gateway_listeners",
    "render_envoy",
    "route_status_objects",
]

SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
INTERNAL_CIDRS = [("10.0.0.0", 8), ("172.16.0.0", 12), ("192.168.0.0", 16), ("127.0.0.1", 32), ("::1", 128)]
CILIUM_CONTROLLER = "io.cilium/gateway-controller"
# The lab's seeded buffering fault: a Lua filter that reads the whole response body
# before passing any of it on. Off on every route but the ones that ask for it.
_BUFFER_WHOLE_RESPONSE = {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute",
    "source_code": {"inline_string": "function envoy_on_response(handle)\n  handle:body()\nend\n"},
}
_REDIRECT_CODES = {
    301: "MOVED_PERMANENTLY",
    302: "FOUND",
    303: "SEE_OTHER",
    307: "TEMPORARY_REDIRECT",
    308: "PERMANENT_REDIRECT",
}
# Keys of a route entry that are the lab's bookkeeping, never rendered.
_PRIVATE = ("_backends", "_route_base")


@dataclass
class RouteStatus:
    """The conditions Cilium would write on one HTTPRoute parent (no Programmed: routes have none)."""

    route: str
    parent: str
    accepted: bool
    accepted_reason: str
    resolved_refs: bool
    resolved_reason: str
    message: str = ""


@dataclass
class PolicyStatus:
    """The conditions Cilium would write on a BackendTLSPolicy (None: no controller writes any)."""

    policy: str
    target: str
    accepted: bool | None
    accepted_reason: str
    resolved_refs: bool | None
    resolved_reason: str
    message: str = ""


@dataclass(frozen=True)
class GatewayListener:
    """One Envoy listener of the lab: a Gateway's listeners that share a port."""

    namespace: str
    gateway: str
    port: int
    protocol: str  # HTTP or HTTPS
    listeners: tuple[str, ...]
    default: bool

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.namespace, self.gateway, self.port)


@dataclass
class EnvoyConfig:
    bootstrap: dict[str, Any]
    notes: list[Note] = field(default_factory=list)
    route_status: list[RouteStatus] = field(default_factory=list)
    # (namespace, service, port) -> "tls" | "plaintext" | "removed": how the Gateway talks to it.
    upstream_modes: dict[tuple[str, str, int], str] = field(default_factory=dict)
    policy_status: list[PolicyStatus] = field(default_factory=list)
    listeners: list[GatewayListener] = field(default_factory=list)

    def to_yaml(self) -> str:
        # libyaml's emitter when PyYAML has it: hundreds of Services make this the slowest part of `lab up`.
        return yaml.dump(self.bootstrap, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _hostname_matches(listener_hostname: str, hostname: str) -> bool:
    if not listener_hostname:
        return True
    if listener_hostname.startswith("*."):
        return fnmatch.fnmatch(hostname, listener_hostname) or hostname == listener_hostname
    return listener_hostname == hostname or (hostname.startswith("*.") and fnmatch.fnmatch(listener_hostname, hostname))


def cilium_gateways(manifests: ManifestSet) -> tuple[list[Gateway], list[Gateway]]:
    """The Gateways Cilium serves (its GatewayClass, or class `cilium` without one) and the others."""
    classes = {
        str(obj["metadata"]["name"]): str((obj.get("spec") or {}).get("controllerName", ""))
        for obj in manifests.objects_of_kind("GatewayClass")
    }
    chosen: list[Gateway] = []
    skipped: list[Gateway] = []
    for gateway in manifests.gateways:
        controller = classes.get(gateway.gateway_class)
        if controller == CILIUM_CONTROLLER or (controller is None and gateway.gateway_class == "cilium"):
            chosen.append(gateway)
        else:
            skipped.append(gateway)
    return chosen, skipped


def gateway_listeners(manifests: ManifestSet) -> list[GatewayListener]:
    """One entry per (Cilium Gateway, port) with an HTTP or terminating HTTPS listener.

    The first Gateway is the default one: its first HTTP port and first HTTPS port are the
    targets' gateway endpoint; every other port and Gateway gets a lab port of its own."""
    result: list[GatewayListener] = []
    gateways, _ = cilium_gateways(manifests)
    for gateway in gateways:
        first = not result
        by_port: dict[int, tuple[str, list[str]]] = {}
        for listener in gateway.listeners:
            if listener.protocol == "HTTP" or (listener.protocol == "HTTPS" and listener.tls_mode == "Terminate"):
                protocol, names = by_port.setdefault(listener.port, (listener.protocol, []))
                if protocol == listener.protocol:
                    names.append(listener.name)
        seen_protocols: set[str] = set()
        for port, (protocol, names) in by_port.items():
            default = first and protocol not in seen_protocols
            seen_protocols.add(protocol)
            result.append(GatewayListener(gateway.namespace, gateway.name, port, protocol, tuple(names), default))
    return result


def _route_match(match: RouteMatch) -> dict[str, Any]:
    result: dict[str, Any]
    if match.path_type == "Exact":
        result = {"path": match.path_value}
    elif match.path_type == "RegularExpression":
        result = {"safe_regex": {"regex": match.path_value}}
    elif match.path_value in ("", "/"):
        result = {"prefix": "/"}
    else:
        # PathPrefix matches on segment boundaries: /api matches /api and /api/x, never /apix.
        result = {"path_separated_prefix": match.path_value.rstrip("/")}
    headers: list[dict[str, Any]] = []
    for header in match.headers:
        matcher = (
            {"safe_regex": {"regex": header.value}} if header.type == "RegularExpression" else {"exact": header.value}
        )
        headers.append({"name": header.name.lower(), "string_match": matcher})
    if match.method:
        headers.append({"name": ":method", "string_match": {"exact": match.method}})
    if headers:
        result["headers"] = headers
    if match.query_params:
        result["query_parameters"] = [
            {
                "name": q.name,
                "string_match": {"safe_regex": {"regex": q.value}}
                if q.type == "RegularExpression"
                else {"exact": q.value},
            }
            for q in match.query_params
        ]
    return result


def _sort_key(entry: tuple[RouteMatch, int]) -> tuple[int, int, int, int, int, int]:
    # Cilium's order: Exact, then regex, then prefix, each longer first; then method,
    # more header matches, more query matches; ties keep input order.
    match, position = entry
    rank = {"Exact": 0, "RegularExpression": 1}.get(match.path_type, 2)
    return (
        rank,
        -len(match.path_value),
        0 if match.method else 1,
        -len(match.headers),
        -len(match.query_params),
        position,
    )


def _header_options(spec: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    adds: list[dict[str, Any]] = []
    for header in spec.get("set") or []:
        adds.append(
            {
                "header": {"key": str(header["name"]), "value": str(header["value"])},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        )
    for header in spec.get("add") or []:
        adds.append(
            {
                "header": {"key": str(header["name"]), "value": str(header["value"])},
                "append_action": "APPEND_IF_EXISTS_OR_ADD",
            }
        )
    return adds, [str(name) for name in spec.get("remove") or []]


def _prefix_rewrite(match: RouteMatch, replacement: str) -> dict[str, Any]:
    """ReplacePrefixMatch as Cilium renders it (translation/envoy_virtual_host.go, pathPrefixMutation):
    an empty or `/` replacement becomes a regex that keeps one slash, so /prefix/x becomes /x and
    /prefix becomes /, never //x; any other replacement is Envoy's prefix_rewrite."""
    if replacement in ("", "/"):
        prefix = match.path_value if match.path_type == "PathPrefix" else ""
        escaped = "".join(c if c.isalnum() or c in "/-_~" else "\\" + c for c in prefix)
        return {"regex_rewrite": {"pattern": {"regex": f"^{escaped}(/?)(.*)"}, "substitution": "/\\2"}}
    return {"prefix_rewrite": replacement}


def _merge_entries(
    entries: list[tuple[RouteMatch, int, dict[str, Any]]],
) -> list[tuple[RouteMatch, int, dict[str, Any]]]:
    """Identical matches become one Envoy route whose backends are those of every rule that
    has the match, load-balanced by weight; filters and redirects come from the first rule.
    (translation/envoy_virtual_host.go, envoyHTTPRoutes: routes grouped by GetMatchKey.)"""
    groups: dict[str, list[tuple[RouteMatch, int, dict[str, Any]]]] = {}
    for item in entries:
        groups.setdefault(json.dumps(item[2]["match"], sort_keys=True), []).append(item)
    merged: list[tuple[RouteMatch, int, dict[str, Any]]] = []
    for members in groups.values():
        match, position, first = members[0]
        backends = [b for _, _, entry in members for b in entry.get("_backends", [])]
        entry = {k: v for k, v in first.items() if k not in _PRIVATE}
        if "redirect" in first or not backends:
            merged.append((match, position, entry))
            continue
        entry.pop("direct_response", None)
        route_action = dict(first.get("_route_base") or members[-1][2].get("_route_base") or {})
        if len(backends) > 1 and len(members) > 1:
            # The same Service reached through two routes is one cluster with their summed weight.
            summed: dict[str, dict[str, Any]] = {}
            for backend in backends:
                if backend["name"] in summed and "_filters" not in backend:
                    summed[backend["name"]]["weight"] += backend["weight"]
                else:
                    summed.setdefault(backend["name"], dict(backend))
            backends = list(summed.values())
        if len(backends) > 1 and sum(b["weight"] for b in backends) == 0:
            # Every weight 0: no backend may get traffic (Envoy refuses a zero total weight).
            entry["direct_response"] = {"status": 500}
            merged.append((match, position, entry))
            continue
        if len(backends) == 1:
            # One backend is the route's cluster whatever its weight, 0 included (getRouteAction).
            route_action["cluster"] = backends[0]["name"]
            # A single backend's own filters become the route's (Cilium does the same).
            for key, value in (backends[0].get("_filters") or {}).items():
                entry[key] = [*entry.get(key, []), *value]
        else:
            weighted = []
            for backend in backends:
                cluster: dict[str, Any] = {"name": backend["name"], "weight": backend["weight"]}
                cluster.update(backend.get("_filters") or {})
                weighted.append(cluster)
            route_action["weighted_clusters"] = {"clusters": weighted}
        entry["route"] = route_action
        merged.append((match, position, entry))
    return merged


class _Renderer:
    def __init__(self, manifests: ManifestSet, layout: LabLayout, profile: GatewayProfile) -> None:
        self.manifests = manifests
        self.layout = layout
        self.profile = profile
        self.notes: list[Note] = []
        self.status: list[RouteStatus] = []
        self.policy_status: list[PolicyStatus] = []
        self.clusters: dict[str, dict[str, Any]] = {}
        self.upstream_modes: dict[tuple[str, str, int], str] = {}
        # cluster name -> (usable, ResolvedRefs reason) as first built.
        self.cluster_results: dict[str, tuple[bool, str]] = {}
        self._cluster_reasons: list[str] = []
        # The client allowlist is the same on every listener: the ingress identity is one.
        self.allowlist = gateway_allowlist(manifests)
        # Seeded faults only: cluster name -> the most connections and requests Envoy allows.
        self.connection_limits: dict[str, int] = {}
        # A folder without any Service: the lab infers each referenced one (the targets say so).
        self.services_inferred = not manifests.services

    def note(self, obj: str, message: str, verify: str = "") -> None:
        self.notes.append(Note("gateway", obj, message, verify))

    # -- gateways and listeners -------------------------------------------------
    def gateways(self) -> list[Gateway]:
        chosen, skipped = cilium_gateways(self.manifests)
        for gateway in skipped:
            self.note(gateway.source.ref, f"gatewayClassName {gateway.gateway_class!r} is not Cilium's; skipped")
        return chosen

    def _route_everything(self) -> dict[tuple[str, str, int], dict[str, Any]]:
        """Attach every route to every listener; per (Gateway, port): protocol, vhosts, TLS chains."""
        for rejected in self.manifests.rejected:
            self.note(rejected.source.ref, f"the API server would reject it ({rejected.error}); not served")
        gateways = self.gateways()
        self._check_parent_refs()
        groups: dict[tuple[str, str, int], dict[str, Any]] = {}
        for gateway in gateways:
            for listener in gateway.listeners:
                modelled = listener.protocol == "HTTP" or (
                    listener.protocol == "HTTPS" and listener.tls_mode == "Terminate"
                )
                if not modelled:
                    self.note(gateway.source.ref, f"listener {listener.name} ({listener.protocol}) is not modelled")
                    continue
                group = groups.setdefault(
                    (gateway.namespace, gateway.name, listener.port),
                    {"protocol": listener.protocol, "vhosts": {}, "tls": {}},
                )
                if group["protocol"] != listener.protocol:
                    self.note(
                        gateway.source.ref,
                        f"listener {listener.name} shares port {listener.port} with a {group['protocol']} listener; "
                        "skipped (Listener condition ProtocolConflict)",
                    )
                    continue
                if listener.protocol == "HTTPS":
                    ref = listener.certificate_refs[0]
                    group["tls"].setdefault((ref.namespace, ref.name), []).append(listener.hostname)
                for route in self.manifests.http_routes:
                    self._attach(gateway, listener, route, group["vhosts"])
        for route in self.manifests.http_routes:
            if not any(s.route == f"{route.namespace}/{route.name}" for s in self.status):
                self.status.append(
                    RouteStatus(
                        f"{route.namespace}/{route.name}",
                        "-",
                        False,
                        "NoMatchingParent",
                        False,
                        "-",
                        "no Cilium Gateway listener accepts this route",
                    )
                )
        self._policy_statuses()
        return groups

    def statuses(self) -> tuple[list[RouteStatus], list[PolicyStatus]]:
        self._route_everything()
        return self.status, self.policy_status

    def run(self) -> EnvoyConfig:
        groups = self._route_everything()
        self._share_route_configs(groups)
        plan = {entry.key: entry for entry in gateway_listeners(self.manifests)}
        listeners = []
        for key, group in groups.items():
            namespace, gateway, port = key
            address, lab_port = self._lab_address(key, group["protocol"], plan.get(key))
            name = f"{namespace}-{gateway}-{port}"
            if group["protocol"] == "HTTP":
                chains = [self._chain(f"http-{name}", group["vhosts"], None)]
            else:
                chains = [
                    self._chain(f"https-{name}-{ns}-{secret}", group["vhosts"], (ns, secret, hostnames))
                    for (ns, secret), hostnames in group["tls"].items()
                ]
            listeners.append(self._listener(name, lab_port, chains, tls=group["protocol"] == "HTTPS", address=address))
        if not groups:
            # No Cilium listener at all: Envoy still answers on the endpoint (404 for everything).
            listeners.append(
                self._listener("gateway-http", self.layout.gateway_http_port, [self._chain("http", {}, None)])
            )
        bootstrap = {
            "node": {"id": "cutover-lab", "cluster": "cutover-lab"},
            "admin": {
                "address": {
                    "socket_address": {
                        "address": self.layout.listen_address,
                        "port_value": self.layout.gateway_admin_port,
                    }
                }
            },
            "static_resources": {"listeners": listeners, "clusters": list(self.clusters.values())},
        }
        for name, limit in self.connection_limits.items():
            if name in self.clusters:
                self.clusters[name]["circuit_breakers"] = {
                    "thresholds": [{"max_connections": limit, "max_pending_requests": 1, "max_requests": limit}]
                }
        return EnvoyConfig(
            bootstrap, self.notes, self.status, self.upstream_modes, self.policy_status, list(plan.values())
        )

    def _share_route_configs(self, groups: dict[tuple[str, str, int], dict[str, Any]]) -> None:
        """Cilium puts every HTTP listener of a Gateway in one route configuration, whatever its port:
        a route bound to port 8080 answers on port 80 too (cilium/cilium#41806; per-port HTTP
        listeners are still to come, cilium/cilium#47551, so Cilium fails HTTPRouteListenerPortMatching).
        HTTPS listeners share one too, except on releases with cilium/cilium#44889 when a hostname
        is served on several HTTPS ports."""
        by_gateway: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for (namespace, gateway, _), group in groups.items():
            by_gateway.setdefault((namespace, gateway, group["protocol"]), []).append(group)
        for (_, _, protocol), members in by_gateway.items():
            if len(members) < 2:
                continue
            if protocol == "HTTPS" and self.profile.https_port_isolation:
                hostnames = [h for group in members for hosts in group["tls"].values() for h in set(hosts)]
                if len(hostnames) != len(set(hostnames)):
                    continue  # a hostname on two ports: separate listeners and route configurations
            shared: dict[str, dict[str, Any]] = {}
            for group in members:
                for hostname, vhost in group["vhosts"].items():
                    target = shared.setdefault(hostname, {**vhost, "_entries": []})
                    target["_entries"] = [*target["_entries"], *vhost["_entries"]]
            for group in members:
                group["vhosts"] = shared

    def _lab_address(
        self, key: tuple[str, str, int], protocol: str, planned: GatewayListener | None
    ) -> tuple[str, int]:
        if key in self.layout.gateway_listeners:
            return self.layout.gateway_listeners[key]
        port = self.layout.gateway_http_port if protocol == "HTTP" else self.layout.gateway_https_port
        if planned is not None and not planned.default:
            raise InputError(
                f"listener port {key[2]} of Gateway {key[0]}/{key[1]} has no lab port", field="gateway_listeners"
            )
        return self.layout.listen_address, port

    def _check_parent_refs(self) -> None:
        """Parents that name no Gateway or no listener: the route is refused for that parent
        (routechecks/gateway_checks.go), and the rest of the folder still runs."""
        for route in self.manifests.http_routes:
            route_id = f"{route.namespace}/{route.name}"
            for parent in route.parent_refs:
                if parent.kind != "Gateway":
                    self.note(route.source.ref, f"parentRef kind {parent.kind} is not modelled; ignored")
                    continue
                parent_id = f"{parent.namespace}/{parent.name}"
                gateway = self.manifests.gateway(parent.namespace, parent.name)
                if gateway is None:
                    self.status.append(
                        RouteStatus(
                            route_id,
                            parent_id,
                            False,
                            "InvalidHTTPRoute",
                            False,
                            "-",
                            f"Gateway {parent_id} not found",
                        )
                    )
                    self.note(route.source.ref, f"names Gateway {parent_id}, which no manifest defines: not attached")
                    continue
                if parent.section_name and parent.section_name not in {lst.name for lst in gateway.listeners}:
                    self.status.append(
                        RouteStatus(
                            route_id,
                            f"{parent_id}/{parent.section_name}",
                            False,
                            "NoMatchingParent",
                            False,
                            "-",
                            f"No matching listener with sectionName {parent.section_name}",
                        )
                    )
                    self.note(route.source.ref, f"names listener {parent.section_name!r}, which {parent_id} lacks")
                elif parent.port is not None and parent.port not in {lst.port for lst in gateway.listeners}:
                    self.status.append(
                        RouteStatus(
                            route_id,
                            f"{parent_id}:{parent.port}",
                            False,
                            "NoMatchingParent",
                            False,
                            "-",
                            f"No matching listener with port {parent.port}",
                        )
                    )

    def _attach(
        self, gateway: Gateway, listener: Listener, route: HTTPRoute, vhosts: dict[str, dict[str, Any]]
    ) -> None:
        for parent in route.parent_refs:
            if parent.kind != "Gateway" or (parent.namespace, parent.name) != (gateway.namespace, gateway.name):
                continue
            if parent.section_name and parent.section_name != listener.name:
                continue
            if parent.port is not None and parent.port != listener.port:
                continue
            route_id = f"{route.namespace}/{route.name}"
            parent_id = f"{gateway.namespace}/{gateway.name}/{listener.name}"
            if listener.routes_from == "Same" and route.namespace != gateway.namespace:
                self.status.append(RouteStatus(route_id, parent_id, False, "NotAllowedByListeners", False, "-"))
                continue
            if listener.routes_from == "Selector":
                self.note(gateway.source.ref, f"listener {listener.name}: allowedRoutes Selector is treated as All")
            hostnames = route.hostnames or ([listener.hostname] if listener.hostname else ["*"])
            hostnames = [h for h in hostnames if h == "*" or _hostname_matches(listener.hostname, h)]
            if not hostnames:
                self.status.append(RouteStatus(route_id, parent_id, False, "NoMatchingListenerHostname", False, "-"))
                continue
            entries, resolved, reason, message = self._routes(route, listener, gateway.listeners[0].port)
            self.status.append(RouteStatus(route_id, parent_id, True, "Accepted", resolved, reason, message))
            for hostname in hostnames:
                vhost = vhosts.setdefault(
                    hostname,
                    {
                        "name": hostname,
                        "domains": ["*"] if hostname == "*" else [hostname, f"{hostname}:*"],
                        "routes": [],
                        "_entries": [],
                    },
                )
                vhost["_entries"].extend(entries)

    # -- references -------------------------------------------------------------
    def _ref_problem(self, route: HTTPRoute, ref: BackendRef) -> tuple[int, str, str] | None:
        """Why Cilium drops this backendRef, ranked as its route checks run them
        (routechecks/route_checks.go): cross-namespace first, then kind and port, then existence."""
        if ref.namespace != route.namespace and not any(
            grant.namespace == ref.namespace
            and grant.permits(GATEWAY_GROUP, "HTTPRoute", route.namespace, ref.group, ref.kind, ref.name)
            for grant in self.manifests.reference_grants
        ):
            return 0, "RefNotPermitted", f"Cross namespace references are not allowed ({ref.namespace}/{ref.name})"
        if ref.kind != "Service" or ref.group not in ("", "core"):
            return 1, "InvalidKind", f"Unsupported backend kind {ref.kind}"
        if ref.port is None:
            return 1, "InvalidKind", "Must have port for backend object reference"
        if not self.services_inferred and (ref.namespace, ref.name) not in self.manifests.services:
            return 2, "BackendNotFound", f'services "{ref.name}" not found in namespace {ref.namespace}'
        return None

    def _routes(
        self, route: HTTPRoute, listener: Listener, first_port: int
    ) -> tuple[list[tuple[RouteMatch, int, dict[str, Any]]], bool, str, str]:
        entries: list[tuple[RouteMatch, int, dict[str, Any]]] = []
        problems: list[tuple[int, str, str]] = []
        # Reasons a kept backend's cluster is unusable (a BackendTLSPolicy without its CA).
        self._cluster_reasons = []
        for rule in route.rules:
            for ref in rule.backend_refs:
                problem = self._ref_problem(route, ref)
                if problem is not None:
                    problems.append(problem)
            action = self._action(route, rule, listener, first_port)
            if action is None:
                continue
            for match in rule.matches:
                entry = {"match": _route_match(match), **action}
                if "_replace_prefix" in entry.get("_route_base", {}):
                    base = dict(entry["_route_base"])
                    base.update(_prefix_rewrite(match, base.pop("_replace_prefix")))
                    entry["_route_base"] = base
                scheme = action["redirect"].get("scheme_redirect") if "redirect" in action else None
                if scheme and self.profile.redirect_scheme_guard:
                    # cilium/cilium#45567: only redirect when X-Forwarded-Proto is not already the target scheme.
                    guard = {
                        "name": "x-forwarded-proto",
                        "string_match": {"exact": scheme},
                        "invert_match": True,
                    }
                    entry["match"] = {**entry["match"], "headers": [*entry["match"].get("headers", []), guard]}
                entries.append((match, 0, entry))
        if not problems:
            if self._cluster_reasons:
                return entries, False, self._cluster_reasons[0], ""
            return entries, True, "ResolvedRefs", ""
        _, reason, message = min(problems, key=lambda p: p[0])
        return entries, False, reason, message

    def _filter_headers(
        self, where: str, filters: list[dict[str, Any]] | tuple[dict[str, Any], ...]
    ) -> dict[str, list[Any]]:
        """RequestHeaderModifier / ResponseHeaderModifier filters as Envoy route fields."""
        result: dict[str, list[Any]] = {}
        for item in filters:
            kind = str(item.get("type"))
            if kind not in ("RequestHeaderModifier", "ResponseHeaderModifier"):
                self.note(
                    where,
                    f"backendRef filter {kind} is not modelled by the lab; ignored",
                    verify=f"a staging run (--targets) through the Gateway's {kind} filter",
                )
                continue
            side = "request" if kind.startswith("Request") else "response"
            adds, removes = _header_options(item.get(f"{side}HeaderModifier") or {})
            if adds:
                result.setdefault(f"{side}_headers_to_add", []).extend(adds)
            if removes:
                result.setdefault(f"{side}_headers_to_remove", []).extend(removes)
        return result

    def _action(self, route: HTTPRoute, rule: RouteRule, listener: Listener, first_port: int) -> dict[str, Any] | None:
        where = f"{route.source.ref} rule {rule.index}"
        action: dict[str, Any] = {}
        rewrite: dict[str, Any] = {}
        route_idle: str | None = None
        early_answer = False
        header_filters: list[dict[str, Any]] = []
        for item in rule.filters:
            kind = str(item.get("type"))
            if kind == "RequestRedirect":
                redirect = self._redirect(where, item.get("requestRedirect") or {}, listener, first_port)
                if redirect is None:
                    return None
                action["redirect"] = redirect
            elif kind == "URLRewrite":
                spec = item.get("urlRewrite") or {}
                if spec.get("hostname"):
                    rewrite["host_rewrite_literal"] = str(spec["hostname"])
                path = spec.get("path") or {}
                if path.get("type") == "ReplaceFullPath":
                    rewrite["regex_rewrite"] = {
                        "pattern": {"regex": "^/.*$"},
                        "substitution": str(path.get("replaceFullPath", "/")),
                    }
                elif path.get("type") == "ReplacePrefixMatch":
                    # Rendered per match in _routes: the regex needs each match's own prefix.
                    rewrite["_replace_prefix"] = str(path.get("replacePrefixMatch") or "")
            elif kind in ("RequestHeaderModifier", "ResponseHeaderModifier"):
                header_filters.append(item)
            elif kind == "ExtensionRef" and (item.get("extensionRef") or {}).get("kind") == "ResponseBuffer":
                action.setdefault("typed_per_filter_config", {})["envoy.filters.http.lua"] = _BUFFER_WHOLE_RESPONSE
            elif kind == "ExtensionRef" and (item.get("extensionRef") or {}).get("kind") == "Delay":
                delay = str((item.get("extensionRef") or {}).get("name", "250ms")).replace("ms", "")
                action.setdefault("typed_per_filter_config", {})["envoy.filters.http.fault"] = {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                    "delay": {"fixed_delay": f"{int(delay) / 1000:g}s", "percentage": {"numerator": 100}},
                }
            elif kind == "ExtensionRef" and (item.get("extensionRef") or {}).get("kind") == "AbortShortRequests":
                # "<status>-<percent>": that share of requests that are not event streams get the status.
                status, _, percent = str((item.get("extensionRef") or {}).get("name", "503-10")).partition("-")
                action.setdefault("typed_per_filter_config", {})["envoy.filters.http.fault"] = {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                    "abort": {"http_status": int(status), "percentage": {"numerator": int(percent or 100)}},
                    "headers": [
                        {"name": "accept", "string_match": {"exact": "text/event-stream"}, "invert_match": True}
                    ],
                }
            elif kind == "ExtensionRef" and (item.get("extensionRef") or {}).get("kind") == "ConnectionLimit":
                limited = int(str((item.get("extensionRef") or {}).get("name", "8")))
                for backend in rule.backend_refs:
                    self.connection_limits[f"{backend.namespace}/{backend.name}:{backend.port}"] = limited
            elif kind == "ExtensionRef" and (item.get("extensionRef") or {}).get("kind") == "IdleTimeout":
                # Stands for a lower stream idle timeout on the Gateway (Cilium's operator flag
                # proxy-stream-idle-timeout-seconds), applied to this route only.
                route_idle = str((item.get("extensionRef") or {}).get("name", "300s"))
            elif kind == "ExtensionRef" and (item.get("extensionRef") or {}).get("kind") == "EarlyAnswer":
                # Stands for a cache or a stub in front of the backend: it answers at once, in the
                # backend's name, whatever the request asked.
                early_answer = True
            else:
                self.note(
                    where,
                    f"filter {kind} is not modelled by the lab; ignored",
                    verify=f"a staging run (--targets) through the Gateway's {kind} filter",
                )
        action.update(self._filter_headers(where, header_filters))
        if "redirect" in action:
            return action
        route_action: dict[str, Any] = dict(rewrite)
        backends: list[dict[str, Any]] = []
        for backend in rule.backend_refs:
            if self._ref_problem(route, backend) is not None:
                # ingestion/gateway.go keeps only permitted, existing Service backends.
                continue
            cluster, ok, why = self._cluster(route, backend.namespace, backend.name, int(backend.port or 0))
            if not ok:
                self._cluster_reasons.append(why)
            entry: dict[str, Any] = {"name": cluster, "weight": max(backend.weight, 0)}
            own = self._filter_headers(f"{where} backendRef {backend.name}", backend.filters)
            if own:
                entry["_filters"] = own
            backends.append(entry)
        limits = [t for t in (rule.timeout_request, rule.timeout_backend_request) if t is not None]
        if limits:
            route_action["timeout"] = _seconds(min(limits))
        elif self.profile.route_default_timeout is None:
            # Cilium marks the route with max_stream_duration 0s, which switches Envoy off
            # its 15 s route default: no upstream timeout, only the stream idle timeout.
            route_action["max_stream_duration"] = {"max_stream_duration": "0s"}
        if route_idle is not None:
            route_action["idle_timeout"] = route_idle
        action["_route_base"] = route_action
        action["_backends"] = backends
        if early_answer and rule.backend_refs:
            # The answer comes at once, in the first backend's name; no backend is reached.
            first = rule.backend_refs[0]
            body = json.dumps({"service": f"{first.namespace}/{first.name}", "early_answer": True})
            action["direct_response"] = {"status": 200, "body": {"inline_string": body}}
            action["_backends"] = []
        elif not backends:
            # A rule without usable backends answers 500, as Gateway API asks (ingestion: DirectResponse 500).
            action["direct_response"] = {"status": 500}
        return action

    def _redirect(self, where: str, spec: dict[str, Any], listener: Listener, first_port: int) -> dict[str, Any] | None:
        code = int(spec.get("statusCode", 302))
        if code not in self.profile.redirect_codes:
            self.note(
                where,
                f"RequestRedirect statusCode {code} is not accepted by Gateway API {self.profile.gateway_api_bundle} "
                f"({self.profile.name}); the rule is dropped",
            )
            return None
        redirect: dict[str, Any] = {"response_code": _REDIRECT_CODES[code]}
        scheme = str(spec.get("scheme") or "")
        if scheme:
            redirect["scheme_redirect"] = scheme
        if spec.get("hostname"):
            redirect["host_redirect"] = str(spec["hostname"])
        # getRouteRedirect (translation/envoy_virtual_host.go): the port given, else the scheme's
        # well-known port, else the listener's port. Envoy writes that port into Location even when
        # it is the scheme's default (https://host:443/), which the spec says SHOULD NOT happen.
        if spec.get("port"):
            redirect["port_redirect"] = int(spec["port"])
        elif self.profile.redirect_port_from_first_listener:
            redirect["port_redirect"] = first_port
            if scheme:
                self.note(
                    where,
                    f"a portless scheme redirect on {self.profile.name}: the lab writes the first listener's port "
                    f"({first_port}, cilium/cilium#29099); the real port is not confirmed for this release",
                    verify="the Location header of this redirect on a staging Gateway (--targets)",
                )
        elif scheme in ("https", "http"):
            redirect["port_redirect"] = 443 if scheme == "https" else 80
        else:
            redirect["port_redirect"] = listener.port
        path = spec.get("path") or {}
        if path.get("type") == "ReplaceFullPath":
            redirect["path_redirect"] = str(path.get("replaceFullPath", "/"))
        elif path.get("type") == "ReplacePrefixMatch":
            redirect["prefix_rewrite"] = str(path.get("replacePrefixMatch", "/"))
        return redirect

    # -- clusters and backend TLS -----------------------------------------------
    def _policies_for(self, service: str, namespace: str, port: int) -> list[BackendTLSPolicy]:
        """Every BackendTLSPolicy on this Service port, oldest first (the oldest wins a conflict;
        ties go to the alphabetically first name, as Gateway API's conflict rules say)."""
        svc = self.manifests.services.get((namespace, service))
        port_names = {p.name for p in svc.ports if p.port == port} if svc else set()
        found = []
        for policy in self.manifests.backend_tls_policies:
            if policy.namespace != namespace:
                continue
            for target in policy.targets:
                if (
                    target.kind == "Service"
                    and target.name == service
                    and target.group in ("", "core")
                    and (not target.section_name or target.section_name in port_names)
                ):
                    found.append(policy)
                    break
        return sorted(found, key=lambda p: (p.created or "9999", p.namespace, p.name))

    def _policy_for(self, service: str, namespace: str, port: int) -> BackendTLSPolicy | None:
        policies = self._policies_for(service, namespace, port)
        return policies[0] if policies else None

    def _policy_statuses(self) -> None:
        """Accepted / ResolvedRefs per BackendTLSPolicy, as the lab renders it."""
        targets: dict[tuple[str, str], list[BackendTLSPolicy]] = {}
        for policy in self.manifests.backend_tls_policies:
            for target in policy.targets:
                if target.kind == "Service" and target.group in ("", "core"):
                    targets.setdefault((policy.namespace, target.name), []).append(policy)
        for (namespace, service), policies in targets.items():
            ordered = sorted(policies, key=lambda p: (p.created or "9999", p.namespace, p.name))
            for index, policy in enumerate(ordered):
                policy_id = f"{policy.namespace}/{policy.name}"
                target_ref = f"Service {namespace}/{service}"
                if not self.profile.supports_backend_tls_policy or (
                    policy.api_version not in self.profile.backend_tls_policy_versions
                ):
                    self.policy_status.append(
                        PolicyStatus(
                            policy_id,
                            target_ref,
                            None,
                            "-",
                            None,
                            "-",
                            f"{self.profile.name} does not reconcile BackendTLSPolicy {policy.api_version}: "
                            "no status, plaintext to the backend",
                        )
                    )
                elif index > 0:
                    self.policy_status.append(
                        PolicyStatus(
                            policy_id,
                            target_ref,
                            False,
                            "Conflicted",
                            True,
                            "ResolvedRefs",
                            f"{ordered[0].namespace}/{ordered[0].name} is older and targets the same Service",
                        )
                    )
                elif policy.ca_config_maps and (policy.namespace, policy.ca_config_maps[0]) not in (
                    self.manifests.config_maps
                ):
                    self.policy_status.append(
                        PolicyStatus(
                            policy_id,
                            target_ref,
                            False,
                            "NoValidCACertificate",
                            False,
                            "InvalidCACertificateRef",
                            f"ConfigMap {policy.ca_config_maps[0]} not found",
                        )
                    )
                elif not policy.ca_config_maps and policy.well_known_ca != "System":
                    self.policy_status.append(
                        PolicyStatus(policy_id, target_ref, False, "NoValidCACertificate", False, "InvalidKind")
                    )
                else:
                    self.policy_status.append(
                        PolicyStatus(policy_id, target_ref, True, "Accepted", True, "ResolvedRefs")
                    )

    def _cluster(self, route: HTTPRoute, namespace: str, service: str, port: int) -> tuple[str, bool, str]:
        name = f"{namespace}/{service}:{port}"
        if name in self.clusters:
            return name, *self.cluster_results[name]
        ok, reason = self._build_cluster(route, name, namespace, service, port)
        self.cluster_results[name] = (ok, reason)
        return name, ok, reason

    def _build_cluster(self, route: HTTPRoute, name: str, namespace: str, service: str, port: int) -> tuple[bool, str]:
        address = self.layout.backend(namespace, service, port)
        cluster: dict[str, Any] = {
            "name": name,
            "type": "STATIC",
            "connect_timeout": "5s",
            "lb_policy": "ROUND_ROBIN",
            # translation/envoy_cluster_mutator.go, withOutlierDetection(true): Envoy's defaults
            # (5 consecutive 5xx eject a host for 30 s) with local-origin errors counted apart.
            "outlier_detection": {"split_external_local_origin_errors": True},
            "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "common_http_protocol_options": {"idle_timeout": _seconds(self.profile.cluster_idle_timeout)},
                    "explicit_http_config": {"http_protocol_options": {}},
                }
            },
            "upstream_bind_config": {
                "source_address": {"address": self.layout.gateway_source_address, "port_value": 0}
            },
        }
        self.clusters[name] = cluster
        key = (namespace, service, port)
        svc = self.manifests.services.get((namespace, service))
        if svc is not None and not any(p.port == port for p in svc.ports):
            # Cilium does not check the port (routechecks only ask that one is set): the cluster
            # simply has no endpoint, and Envoy answers 503 while ResolvedRefs stays True.
            self.note(route.source.ref, f"Service {namespace}/{service} has no port {port}: no endpoints (503)")
            self.upstream_modes[key] = "removed"
            cluster["load_assignment"] = {"cluster_name": name, "endpoints": []}
            return True, "ResolvedRefs"
        if address is None:
            self.note(route.source.ref, f"backend {name} has no lab endpoint (BackendNotFound)")
            self.upstream_modes[key] = "removed"
            cluster["load_assignment"] = {"cluster_name": name, "endpoints": []}
            return False, "BackendNotFound"
        target_port = address.lab_port
        if svc is not None:
            admitted, why = backend_admits(self.manifests, svc, "gateway")
            if not admitted:
                self.note(f"Service {namespace}/{service}", why)
                target_port = self.layout.blackhole_port
        cluster["load_assignment"] = {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": address.address, "port_value": target_port}}
                            }
                        }
                    ]
                }
            ],
        }
        mode, ok, reason = self._upstream_tls(cluster, address, svc)
        self.upstream_modes[key] = mode
        if mode == "removed":
            cluster["load_assignment"]["endpoints"] = []
        return ok, reason

    def _upstream_tls(
        self, cluster: dict[str, Any], address: BackendAddress, svc: Service | None
    ) -> tuple[str, bool, str]:
        policy = self._policy_for(address.service, address.namespace, address.port)
        if policy is None:
            return "plaintext", True, "ResolvedRefs"
        if not self.profile.supports_backend_tls_policy:
            self.note(policy.source.ref, f"{self.profile.name} has no BackendTLSPolicy: the Gateway talks plaintext")
            return "plaintext", True, "ResolvedRefs"
        if policy.api_version not in self.profile.backend_tls_policy_versions:
            self.note(
                policy.source.ref,
                f"apiVersion {policy.api_version} is not served with {self.profile.name} "
                f"(expects {', '.join(self.profile.backend_tls_policy_versions)}): ignored, plaintext",
            )
            return "plaintext", True, "ResolvedRefs"
        validation: dict[str, Any]
        if policy.ca_config_maps:
            ca_name = policy.ca_config_maps[0]
            ca_file = self.layout.ca_files.get((policy.namespace, ca_name))
            if ca_file is None:
                self.note(policy.source.ref, f"CA ConfigMap {ca_name} not found: ResolvedRefs False, backend removed")
                return "removed", False, "InvalidCACertificateRef"
            validation = {"trusted_ca": {"filename": str(ca_file)}}
        elif policy.well_known_ca == "System":
            if self.profile.well_known_ca_plaintext_bug:
                self.note(policy.source.ref, "wellKnownCACertificates System talks plaintext (cilium#48307)")
                return "plaintext", True, "ResolvedRefs"
            validation = {"trusted_ca": {"filename": str(SYSTEM_CA_BUNDLE)}}
        else:
            self.note(policy.source.ref, "no CA to validate with: ResolvedRefs False, backend removed")
            return "removed", False, "NoCACertificate"
        validation["match_typed_subject_alt_names"] = [{"san_type": "DNS", "matcher": {"exact": policy.hostname}}]
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": policy.hostname,
                "common_tls_context": {"validation_context": validation},
            },
        }
        return "tls", True, "ResolvedRefs"

    # -- listeners ----------------------------------------------------------------
    def _rbac(self, rules: list[ClientRule]) -> dict[str, Any]:
        policies: dict[str, Any] = {}
        for index, rule in enumerate(rules):
            principals: list[dict[str, Any]]
            if rule.cidrs is None:
                principals = [{"any": True}]
            else:
                principals = []
                for cidr in rule.cidrs:
                    ip, _, length = cidr.partition("/")
                    principals.append(
                        {
                            "direct_remote_ip": {
                                "address_prefix": ip,
                                "prefix_len": int(length or (128 if ":" in ip else 32)),
                            }
                        }
                    )
            permissions: list[dict[str, Any]] = []
            for http in rule.http:
                conditions: list[dict[str, Any]] = []
                for key, header in (("host", ":authority"), ("path", ":path"), ("method", ":method")):
                    if key in http:
                        conditions.append(
                            {"header": {"name": header, "string_match": {"safe_regex": {"regex": http[key]}}}}
                        )
                permissions.append({"and_rules": {"rules": conditions}} if conditions else {"any": True})
            policies[f"{rule.origin or 'policy'}-{index}"] = {
                "permissions": permissions or [{"any": True}],
                "principals": principals,
            }
        return {
            "name": "envoy.filters.http.rbac",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                "rules": {"action": "ALLOW", "policies": policies},
            },
        }

    def _chain(
        self, name: str, vhosts: dict[str, dict[str, Any]], tls: tuple[str, str, list[str]] | None
    ) -> dict[str, Any]:
        rendered = []
        for vhost in vhosts.values():
            merged = _merge_entries([(m, i, e) for i, (m, _, e) in enumerate(vhost["_entries"])])
            entries = sorted(merged, key=lambda t: _sort_key((t[0], t[1])))
            rendered.append(
                {k: v for k, v in vhost.items() if k != "_entries"} | {"routes": [e for _, _, e in entries]}
            )
        http_filters: list[dict[str, Any]] = []
        if self.allowlist.active:
            http_filters.append(self._rbac(self.allowlist.rules))
        http_filters.append(
            {
                "name": "envoy.filters.http.fault",
                "disabled": True,
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"},
            }
        )
        http_filters.append(
            {
                "name": "envoy.filters.http.lua",
                "disabled": True,
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"},
            }
        )
        http_filters.append(
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }
        )
        hcm = {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "use_remote_address": True,
            "skip_xff_append": False,
            "xff_num_trusted_hops": 0,
            "internal_address_config": {
                "cidr_ranges": [{"address_prefix": ip, "prefix_len": length} for ip, length in INTERNAL_CIDRS]
            },
            "stream_idle_timeout": _seconds(self.profile.stream_idle_timeout),
            "common_http_protocol_options": {"max_stream_duration": "0s"},
            "upgrade_configs": [{"upgrade_type": "websocket"}],
            "route_config": {"name": f"{name}-routes", "virtual_hosts": rendered},
            "http_filters": http_filters,
        }
        chain: dict[str, Any] = {
            "name": name,
            "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}],
        }
        if tls is not None:
            namespace, secret, hostnames = tls
            files = self.layout.certificates.get((namespace, secret))
            if files is None:
                raise InputError(
                    "has no certificate in the lab", obj=f"Secret {namespace}/{secret}", field="certificateRefs"
                )
            names = sorted({h for h in hostnames if h})
            if names and "" not in hostnames:
                chain["filter_chain_match"] = {"server_names": names}
            chain["transport_socket"] = {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    "common_tls_context": {
                        "tls_certificates": [
                            {
                                "certificate_chain": {"filename": str(files.cert)},
                                "private_key": {"filename": str(files.key)},
                            }
                        ]
                    },
                },
            }
        return chain

    def _listener(
        self, name: str, port: int, chains: list[dict[str, Any]], tls: bool = False, address: str | None = None
    ) -> dict[str, Any]:
        listener: dict[str, Any] = {
            "name": name,
            "address": {"socket_address": {"address": address or self.layout.listen_address, "port_value": port}},
            "filter_chains": chains,
            # Envoy binds with SO_REUSEPORT by default: two labs that chose the same free port at
            # once would share it. Without, the second bind fails and that lab chooses again.
            "enable_reuse_port": False,
        }
        if tls:
            listener["listener_filters"] = [
                {
                    "name": "envoy.filters.listener.tls_inspector",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
                    },
                }
            ]
        return listener


def render_envoy(manifests: ManifestSet, layout: LabLayout, profile: GatewayProfile) -> EnvoyConfig:
    return _Renderer(manifests, layout, profile).run()


def _status_layout() -> LabLayout:
    """A layout for computing status only: every Service port resolves, nothing is rendered."""
    return LabLayout(Path("/nonexistent"), "127.0.0.1", 0, 0, 0, 0, 0, "127.0.0.1", "127.0.0.1")


def compute_status(manifests: ManifestSet, profile: GatewayProfile) -> tuple[list[RouteStatus], list[PolicyStatus]]:
    """Route and BackendTLSPolicy status as the lab computes it, without starting anything."""
    layout = _status_layout()
    for (namespace, name), service in manifests.services.items():
        for port in service.ports:
            layout.backends[(namespace, name, port.port)] = BackendAddress(namespace, name, port.port, "", 0, False)
    for route in manifests.http_routes:
        for rule in route.rules:
            for ref in rule.backend_refs:
                if ref.port is not None and (ref.namespace, ref.name, ref.port) not in layout.backends:
                    layout.backends[(ref.namespace, ref.name, ref.port)] = BackendAddress(
                        ref.namespace, ref.name, ref.port, "", 0, False
                    )
    for key in manifests.config_maps:
        layout.ca_files[key] = Path("/dev/null")
    return _Renderer(manifests, layout, profile).statuses()


def _condition(kind: str, ok: bool, reason: str, message: str) -> dict[str, str]:
    return {"type": kind, "status": "True" if ok else "False", "reason": reason, "message": message}


def route_status_objects(statuses: list[RouteStatus]) -> dict[str, list[dict[str, Any]]]:
    """route id -> `status.parents` entries shaped as the Gateway API writes them."""
    result: dict[str, list[dict[str, Any]]] = {}
    for status in statuses:
        conditions = [_condition("Accepted", status.accepted, status.accepted_reason, status.message)]
        if status.accepted:
            conditions.append(_condition("ResolvedRefs", status.resolved_refs, status.resolved_reason, status.message))
        result.setdefault(status.route, []).append(
            {"parentRef": {"name": status.parent}, "controllerName": CILIUM_CONTROLLER, "conditions": conditions}
        )
    return result
