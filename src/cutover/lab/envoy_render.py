"""Gateway API objects -> an Envoy bootstrap, the way Cilium's translator builds its
CiliumEnvoyConfig. Version differences come from the GatewayProfile.

Facts from ../shared/ref/cilium-gateway.md. The lab runs upstream Envoy without Cilium's
own filters, so the client allowlist Cilium enforces in Envoy is rendered as an RBAC filter.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cutover.errors import InputError
from cutover.lab.model import BackendAddress, LabLayout, Note
from cutover.lab.policy import ClientRule, backend_admits, gateway_allowlist
from cutover.lab.profiles import GatewayProfile
from cutover.manifests import (
    BackendTLSPolicy,
    Gateway,
    HTTPRoute,
    Listener,
    ManifestSet,
    RouteMatch,
    RouteRule,
    Service,
)

__all__ = ["SYSTEM_CA_BUNDLE", "EnvoyConfig", "RouteStatus", "render_envoy"]

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


@dataclass
class RouteStatus:
    """The conditions Cilium would write on one HTTPRoute parent (no Programmed: routes have none)."""

    route: str
    parent: str
    accepted: bool
    accepted_reason: str
    resolved_refs: bool
    resolved_reason: str


@dataclass
class EnvoyConfig:
    bootstrap: dict[str, Any]
    notes: list[Note] = field(default_factory=list)
    route_status: list[RouteStatus] = field(default_factory=list)
    # (namespace, service, port) -> "tls" | "plaintext" | "removed": how the Gateway talks to it.
    upstream_modes: dict[tuple[str, str, int], str] = field(default_factory=dict)

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


class _Renderer:
    def __init__(self, manifests: ManifestSet, layout: LabLayout, profile: GatewayProfile) -> None:
        self.manifests = manifests
        self.layout = layout
        self.profile = profile
        self.notes: list[Note] = []
        self.status: list[RouteStatus] = []
        self.clusters: dict[str, dict[str, Any]] = {}
        self.upstream_modes: dict[tuple[str, str, int], str] = {}
        # The client allowlist is the same on every listener: the ingress identity is one.
        self.allowlist = gateway_allowlist(manifests)
        # Seeded faults only: cluster name -> the most connections and requests Envoy allows.
        self.connection_limits: dict[str, int] = {}

    def note(self, obj: str, message: str, verify: str = "") -> None:
        self.notes.append(Note("gateway", obj, message, verify))

    # -- gateways and listeners -------------------------------------------------
    def gateways(self) -> list[Gateway]:
        classes = {
            str(obj["metadata"]["name"]): str((obj.get("spec") or {}).get("controllerName", ""))
            for obj in self.manifests.objects_of_kind("GatewayClass")
        }
        chosen: list[Gateway] = []
        for gateway in self.manifests.gateways:
            controller = classes.get(gateway.gateway_class)
            if controller == CILIUM_CONTROLLER or (controller is None and gateway.gateway_class == "cilium"):
                chosen.append(gateway)
            else:
                self.note(gateway.source.ref, f"gatewayClassName {gateway.gateway_class!r} is not Cilium's; skipped")
        if len(chosen) > 1:
            self.note("Gateway", "several Cilium Gateways: the lab serves them all on one address")
        return chosen

    def run(self) -> EnvoyConfig:
        gateways = self.gateways()
        self._check_parent_refs()
        http_vhosts: dict[str, dict[str, Any]] = {}
        https_vhosts: dict[str, dict[str, Any]] = {}
        tls_chains: dict[tuple[str, str], list[str]] = {}
        for gateway in gateways:
            for listener in gateway.listeners:
                if listener.protocol == "HTTP":
                    target = http_vhosts
                elif listener.protocol == "HTTPS" and listener.tls_mode == "Terminate":
                    target = https_vhosts
                    ref = listener.certificate_refs[0]
                    tls_chains.setdefault((ref.namespace, ref.name), []).append(listener.hostname)
                else:
                    self.note(gateway.source.ref, f"listener {listener.name} ({listener.protocol}) is not modelled")
                    continue
                for route in self.manifests.http_routes:
                    self._attach(gateway, listener, route, target)
        for route in self.manifests.http_routes:
            if not any(s.route == f"{route.namespace}/{route.name}" for s in self.status):
                self.status.append(
                    RouteStatus(f"{route.namespace}/{route.name}", "-", False, "NoMatchingParent", False, "-")
                )
        listeners = [
            self._listener("gateway-http", self.layout.gateway_http_port, [self._chain("http", http_vhosts, None)])
        ]
        https_chains = [
            self._chain(f"https-{ns}-{name}", https_vhosts, (ns, name, hostnames))
            for (ns, name), hostnames in tls_chains.items()
        ]
        if https_chains:
            listeners.append(self._listener("gateway-https", self.layout.gateway_https_port, https_chains, tls=True))
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
        return EnvoyConfig(bootstrap, self.notes, self.status, self.upstream_modes)

    def _check_parent_refs(self) -> None:
        for route in self.manifests.http_routes:
            for index, parent in enumerate(route.parent_refs):
                if parent.kind != "Gateway":
                    continue
                gateway = self.manifests.gateway(parent.namespace, parent.name)
                if gateway is None:
                    raise InputError(
                        f"names Gateway {parent.namespace}/{parent.name}, which no manifest defines",
                        file=route.source.file,
                        obj=route.source.ref,
                        field=f"spec.parentRefs[{index}].name",
                        hint="add the Gateway to the manifests directory or fix the reference",
                    )
                if parent.section_name and parent.section_name not in {lst.name for lst in gateway.listeners}:
                    raise InputError(
                        f"names listener {parent.section_name!r}, which Gateway {gateway.name} does not have",
                        file=route.source.file,
                        obj=route.source.ref,
                        field=f"spec.parentRefs[{index}].sectionName",
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
            entries, resolved, reason = self._routes(route)
            self.status.append(RouteStatus(route_id, parent_id, True, "Accepted", resolved, reason))
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

    # -- routes -----------------------------------------------------------------
    def _routes(self, route: HTTPRoute) -> tuple[list[tuple[RouteMatch, int, dict[str, Any]]], bool, str]:
        entries: list[tuple[RouteMatch, int, dict[str, Any]]] = []
        resolved, reason = True, "ResolvedRefs"
        for rule in route.rules:
            action, rule_resolved, rule_reason = self._action(route, rule)
            if not rule_resolved:
                resolved, reason = False, rule_reason
            if action is None:
                continue
            for match in rule.matches:
                entry = {"match": _route_match(match), **action}
                entries.append((match, 0, entry))
        return entries, resolved, reason

    def _action(self, route: HTTPRoute, rule: RouteRule) -> tuple[dict[str, Any] | None, bool, str]:
        where = f"{route.source.ref} rule {rule.index}"
        action: dict[str, Any] = {}
        request_add: list[dict[str, Any]] = []
        request_remove: list[str] = []
        response_add: list[dict[str, Any]] = []
        response_remove: list[str] = []
        rewrite: dict[str, Any] = {}
        for item in rule.filters:
            kind = str(item.get("type"))
            if kind == "RequestRedirect":
                redirect = self._redirect(where, item.get("requestRedirect") or {})
                if redirect is None:
                    return None, True, "ResolvedRefs"
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
                    rewrite["prefix_rewrite"] = str(path.get("replacePrefixMatch", "/"))
            elif kind in ("RequestHeaderModifier", "ResponseHeaderModifier"):
                spec = (
                    item.get("requestHeaderModifier" if kind.startswith("Request") else "responseHeaderModifier") or {}
                )
                adds = request_add if kind.startswith("Request") else response_add
                removes = request_remove if kind.startswith("Request") else response_remove
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
                removes.extend(str(name) for name in spec.get("remove") or [])
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
            else:
                self.note(
                    where,
                    f"filter {kind} is not modelled by the lab; ignored",
                    verify=f"a staging run (--targets) through the Gateway's {kind} filter",
                )
        if request_add:
            action["request_headers_to_add"] = request_add
        if request_remove:
            action["request_headers_to_remove"] = request_remove
        if response_add:
            action["response_headers_to_add"] = response_add
        if response_remove:
            action["response_headers_to_remove"] = response_remove
        if "redirect" in action:
            return action, True, "ResolvedRefs"
        route_action: dict[str, Any] = dict(rewrite)
        resolved, reason = True, "ResolvedRefs"
        weighted: list[dict[str, Any]] = []
        for backend in rule.backend_refs:
            if backend.kind != "Service":
                resolved, reason = False, "InvalidKind"
                continue
            cluster, ok, why = self._cluster(route, backend.namespace, backend.name, int(backend.port or 0))
            if not ok:
                resolved, reason = False, why
            weighted.append({"name": cluster, "weight": max(backend.weight, 0)})
        if not weighted:
            # A rule without backends answers 500, as Gateway API asks.
            return {**action, "direct_response": {"status": 500}}, resolved, reason
        if len(weighted) == 1:
            route_action["cluster"] = weighted[0]["name"]
        else:
            route_action["weighted_clusters"] = {"clusters": weighted}
        limits = [t for t in (rule.timeout_request, rule.timeout_backend_request) if t is not None]
        if limits:
            route_action["timeout"] = _seconds(min(limits))
        elif self.profile.route_default_timeout is None:
            # Cilium marks the route with max_stream_duration 0s, which switches Envoy off
            # its 15 s route default: no upstream timeout, only the stream idle timeout.
            route_action["max_stream_duration"] = {"max_stream_duration": "0s"}
        action["route"] = route_action
        return action, resolved, reason

    def _redirect(self, where: str, spec: dict[str, Any]) -> dict[str, Any] | None:
        code = int(spec.get("statusCode", 302))
        if code not in self.profile.redirect_codes:
            self.note(
                where,
                f"RequestRedirect statusCode {code} is not accepted by Gateway API {self.profile.gateway_api_bundle} "
                f"({self.profile.name}); the rule is dropped",
            )
            return None
        redirect: dict[str, Any] = {"response_code": _REDIRECT_CODES[code]}
        if spec.get("scheme"):
            redirect["scheme_redirect"] = str(spec["scheme"])
        if spec.get("hostname"):
            redirect["host_redirect"] = str(spec["hostname"])
        if spec.get("port"):
            redirect["port_redirect"] = int(spec["port"])
        path = spec.get("path") or {}
        if path.get("type") == "ReplaceFullPath":
            redirect["path_redirect"] = str(path.get("replaceFullPath", "/"))
        elif path.get("type") == "ReplacePrefixMatch":
            redirect["prefix_rewrite"] = str(path.get("replacePrefixMatch", "/"))
        return redirect

    # -- clusters and backend TLS -----------------------------------------------
    def _policy_for(self, service: str, namespace: str, port: int) -> BackendTLSPolicy | None:
        svc = self.manifests.services.get((namespace, service))
        port_names = {p.name for p in svc.ports if p.port == port} if svc else set()
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
                    return policy
        return None

    def _cluster(self, route: HTTPRoute, namespace: str, service: str, port: int) -> tuple[str, bool, str]:
        name = f"{namespace}/{service}:{port}"
        if name in self.clusters:
            return name, self.upstream_modes.get((namespace, service, port)) != "removed", "ResolvedRefs"
        address = self.layout.backend(namespace, service, port)
        cluster: dict[str, Any] = {
            "name": name,
            "type": "STATIC",
            "connect_timeout": "5s",
            "lb_policy": "ROUND_ROBIN",
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
        if address is None:
            self.note(route.source.ref, f"backend {name} has no lab endpoint (BackendNotFound)")
            self.upstream_modes[key] = "removed"
            cluster["load_assignment"] = {"cluster_name": name, "endpoints": []}
            return name, False, "BackendNotFound"
        target_port = address.lab_port
        svc = self.manifests.services.get((namespace, service))
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
        return name, ok, reason

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
            entries = sorted(
                ((m, i, e) for i, (m, _, e) in enumerate(vhost["_entries"])), key=lambda t: _sort_key((t[0], t[1]))
            )
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

    def _listener(self, name: str, port: int, chains: list[dict[str, Any]], tls: bool = False) -> dict[str, Any]:
        listener: dict[str, Any] = {
            "name": name,
            "address": {"socket_address": {"address": self.layout.listen_address, "port_value": port}},
            "filter_chains": chains,
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
