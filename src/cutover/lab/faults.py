"""Seeded faults: small edits to the Gateway-side manifests that a parity check must catch.

Each fault names the check kind it should break. They only ever touch Gateway API and
Cilium objects: the nginx side is the reference.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trustme

from cutover.errors import InputError
from cutover.facts.annotations import fact
from cutover.facts.kube import CILIUM_GROUP
from cutover.manifests import Document

__all__ = ["FAULTS", "Fault", "apply_faults"]

Objects = list[Document]


@dataclass(frozen=True)
class Fault:
    name: str
    check: str
    description: str
    apply: Callable[[Objects], Objects]
    profile: str | None = None


def _routes(objects: Objects, name: str | None = None) -> list[dict[str, Any]]:
    return [
        obj
        for _, obj in objects
        if obj.get("kind") == "HTTPRoute" and (name is None or obj.get("metadata", {}).get("name") == name)
    ]


def _route_rules(objects: Objects, name: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for route in _routes(objects, name):
        rules.extend(route.get("spec", {}).get("rules") or [])
    if not rules:
        raise InputError(f"the fault needs an HTTPRoute named {name!r}, and the manifests have none", field="--fault")
    return rules


def _no_llm_timeouts(objects: Objects) -> Objects:
    for rule in _route_rules(objects, "llm-gateway"):
        rule.pop("timeouts", None)
    return objects


def _short_llm_timeout(objects: Objects) -> Objects:
    for rule in _route_rules(objects, "llm-gateway"):
        rule["timeouts"] = {"request": "3s"}
    return objects


def _llm_read_timeout(objects: Objects) -> float:
    """The llm-gateway Ingress's proxy-read-timeout (the controller default 60 s without it)."""
    for _, obj in objects:
        if obj.get("kind") == "Ingress" and obj.get("metadata", {}).get("name") == "llm-gateway":
            annotations = obj.get("metadata", {}).get("annotations") or {}
            raw = str(annotations.get(fact("proxy-read-timeout").key, "60"))
            return float(raw) if raw.strip().isdigit() else 60.0
    raise InputError("the fault needs an Ingress named 'llm-gateway'", field="--fault")


def _request_timeout(seconds_under_read_timeout: float) -> Callable[[Objects], Objects]:
    def apply(objects: Objects) -> Objects:
        limit = _llm_read_timeout(objects) - seconds_under_read_timeout
        for rule in _route_rules(objects, "llm-gateway"):
            rule["timeouts"] = {"request": f"{limit:g}s"}
        return objects

    return apply


def _idle_under_read_timeout(objects: Objects) -> Objects:
    # Just under the silent probe (read timeout - 2 s): the Gateway's idle limit is the shorter one.
    limit = _llm_read_timeout(objects) - 3
    for rule in _route_rules(objects, "llm-gateway"):
        rule.setdefault("filters", []).append(
            {
                "type": "ExtensionRef",
                "extensionRef": {"group": "cutover.dev", "kind": "IdleTimeout", "name": f"{limit:g}s"},
            }
        )
    return objects


def _sse_buffering(objects: Objects) -> Objects:
    # An extension filter the lab renders as a filter that holds the whole response body,
    # as a compression or body-inspection filter on the Gateway would.
    for rule in _route_rules(objects, "llm-gateway"):
        rule.setdefault("filters", []).append(
            {"type": "ExtensionRef", "extensionRef": {"group": "cutover.dev", "kind": "ResponseBuffer", "name": "all"}}
        )
    return objects


def _extension(kind: str, name: str) -> Callable[[Objects], Objects]:
    def apply(objects: Objects) -> Objects:
        for rule in _route_rules(objects, "llm-gateway"):
            rule.setdefault("filters", []).append(
                {"type": "ExtensionRef", "extensionRef": {"group": "cutover.dev", "kind": kind, "name": name}}
            )
        return objects

    return apply


def _split_llm_to_qdrant(objects: Objects) -> Objects:
    # A 10% weighted split to another Service that also answers 200: three probes rarely see it.
    for rule in _route_rules(objects, "llm-gateway"):
        refs = rule.get("backendRefs") or []
        for ref in refs:
            ref["weight"] = 9
        refs.append({"name": "qdrant", "port": 6333, "weight": 1})
    return objects


def _prefix_as_exact(objects: Objects) -> Objects:
    for route in _routes(objects):
        for rule in route.get("spec", {}).get("rules") or []:
            for match in rule.get("matches") or []:
                path = match.get("path") or {}
                if path.get("type", "PathPrefix") == "PathPrefix" and path.get("value", "/") != "/":
                    path["type"] = "Exact"
    return objects


def _no_redirect_route(objects: Objects) -> Objects:
    kept: Objects = []
    for file, obj in objects:
        if obj.get("kind") == "HTTPRoute":
            rules = obj.get("spec", {}).get("rules") or []
            if rules and all(
                any(f.get("type") == "RequestRedirect" for f in rule.get("filters") or []) for rule in rules
            ):
                continue
            for parent in obj.get("spec", {}).get("parentRefs") or []:
                parent.pop("sectionName", None)
        kept.append((file, obj))
    return kept


def _allow_every_client(objects: Objects) -> Objects:
    kept: Objects = [
        (f, o) for f, o in objects if o.get("kind") not in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")
    ]
    return kept


def _ingress_identity_policies(objects: Objects) -> list[dict[str, Any]]:
    found = []
    for _, obj in objects:
        if obj.get("kind") not in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"):
            continue
        selector = obj.get("spec", {}).get("endpointSelector") or {}
        keys = [str(k) for k in selector.get("matchLabels") or {}]
        keys += [str(e.get("key")) for e in selector.get("matchExpressions") or []]
        if any(k in ("reserved:ingress", "reserved.ingress") for k in keys):
            found.append(obj)
    return found


def _block_outside(route_name: str) -> Callable[[Objects], Objects]:
    """Outside clients blocked at the Gateway for one route's hosts, which nginx leaves open: the
    rule that lets the world in keeps every other host it admitted, and the office rule stays."""

    def apply(objects: Objects) -> Objects:
        blocked = {
            str(h) for route in _routes(objects, route_name) for h in route.get("spec", {}).get("hostnames") or []
        }
        if not blocked:
            raise InputError(f"the fault needs an HTTPRoute named {route_name!r} with hostnames", field="--fault")
        hosts = sorted({str(h) for route in _routes(objects) for h in route.get("spec", {}).get("hostnames") or []})
        policies = _ingress_identity_policies(objects)
        if not policies:
            office = {"fromCIDRSet": [{"cidr": "10.0.0.0/8"}, {"cidr": "127.0.10.0/24"}]}
            policy: dict[str, Any] = {
                "apiVersion": f"{CILIUM_GROUP}/v2",
                "kind": "CiliumClusterwideNetworkPolicy",
                "metadata": {"name": "fault-block-outside"},
                "spec": {
                    "endpointSelector": {"matchExpressions": [{"key": "reserved:ingress", "operator": "Exists"}]},
                    "ingress": [{"fromEntities": ["world", "cluster"]}, office],
                },
            }
            objects.append(("<fault gateway-blocks-outside>", policy))
            policies = [policy]
        for policy in policies:
            for rule in policy.get("spec", {}).get("ingress") or []:
                if not {"world", "all"} & {str(e) for e in rule.get("fromEntities") or []}:
                    continue
                port_rules = rule.get("toPorts") or []
                patterns = [
                    str(http["host"])
                    for port_rule in port_rules
                    for http in (port_rule.get("rules") or {}).get("http") or []
                    if http.get("host")
                ]
                open_hosts = [
                    h for h in hosts if h not in blocked and (not patterns or any(re.fullmatch(p, h) for p in patterns))
                ]
                rule["toPorts"] = [{"rules": {"http": [{"host": re.escape(h) + "(:[0-9]+)?"} for h in open_hosts]}}]
        return objects

    return apply


def _drop_backend_tls_policy(objects: Objects) -> Objects:
    return [(f, o) for f, o in objects if o.get("kind") != "BackendTLSPolicy"]


def _wrong_ca(objects: Objects) -> Objects:
    rogue = trustme.CA(organization_name="not the backend's CA").cert_pem.bytes().decode()
    names = set()
    for _, obj in objects:
        if obj.get("kind") == "BackendTLSPolicy":
            for ref in (obj.get("spec", {}).get("validation") or {}).get("caCertificateRefs") or []:
                names.add(ref.get("name"))
    if not names:
        raise InputError("the fault needs a BackendTLSPolicy with caCertificateRefs", field="--fault")
    for _, obj in objects:
        if obj.get("kind") == "ConfigMap" and obj.get("metadata", {}).get("name") in names:
            obj["data"] = {"ca.crt": rogue}
    return objects


def _remove_response_header(objects: Objects, header: str) -> Objects:
    for route in _routes(objects):
        for rule in route.get("spec", {}).get("rules") or []:
            for item in rule.get("filters") or []:
                spec = item.get("responseHeaderModifier") or {}
                for key in ("set", "add"):
                    spec[key] = [h for h in spec.get(key) or [] if str(h.get("name", "")).lower() != header]
    return objects


def _lose_hsts(objects: Objects) -> Objects:
    return _remove_response_header(objects, "strict-transport-security")


def _lose_forwarded_proto(objects: Objects) -> Objects:
    for route in _routes(objects):
        for rule in route.get("spec", {}).get("rules") or []:
            if any(f.get("type") == "RequestRedirect" for f in rule.get("filters") or []):
                continue
            rule.setdefault("filters", []).append(
                {"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": ["X-Forwarded-Proto"]}}
            )
    return objects


def _split_grafana(objects: Objects) -> Objects:
    # A canary left in a weighted split: 10% of grafana's requests go to another Service that
    # also answers 200, so only the backend that answered can tell the two sides apart.
    canary = "grafana-canary"
    for rule in _route_rules(objects, "grafana"):
        refs = rule.get("backendRefs") or []
        if len(refs) != 1:
            raise InputError("the fault needs grafana's route rules to have one backendRef each", field="--fault")
        refs[0]["weight"] = 90
        refs.append({"name": canary, "port": refs[0].get("port"), "weight": 10})
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": canary, "namespace": "monitoring"},
        "spec": {"selector": {"app": canary}, "ports": [{"name": "http", "port": 3000}]},
    }
    return [*objects, ("<fault gateway-split-10>", service)]


def _redirect_code(code: int) -> Callable[[Objects], Objects]:
    def apply(objects: Objects) -> Objects:
        found = False
        for route in _routes(objects):
            for rule in route.get("spec", {}).get("rules") or []:
                for item in rule.get("filters") or []:
                    if item.get("type") == "RequestRedirect":
                        item.setdefault("requestRedirect", {})["statusCode"] = code
                        found = True
        if not found:
            raise InputError("the fault needs an HTTPRoute with a RequestRedirect filter", field="--fault")
        return objects

    return apply


def _redirect_to_port(port: int) -> Callable[[Objects], Objects]:
    def apply(objects: Objects) -> Objects:
        for route in _routes(objects):
            for rule in route.get("spec", {}).get("rules") or []:
                for item in rule.get("filters") or []:
                    if item.get("type") == "RequestRedirect":
                        item.setdefault("requestRedirect", {})["port"] = port
        return objects

    return apply


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault(
            "no-llm-timeouts",
            "timeouts",
            "the llm-gateway route without timeouts, under cilium-1.15.0",
            _no_llm_timeouts,
            profile="cilium-1.15.0",
        ),
        Fault("sse-buffering", "sse", "a filter that buffers the llm-gateway responses", _sse_buffering),
        Fault("gateway-latency", "load", "250 ms added on the llm-gateway route", _extension("Delay", "250ms")),
        Fault(
            "gateway-connection-limit",
            "load",
            "at most 8 connections from the Gateway to llm-gateway",
            _extension("ConnectionLimit", "8"),
        ),
        Fault(
            "gateway-short-request-errors",
            "load",
            "10% of short (non-stream) requests on the llm-gateway route answered 503",
            _extension("AbortShortRequests", "503-10"),
        ),
        Fault(
            "gateway-fails-short-requests",
            "load",
            "every short (non-stream) request on the llm-gateway route answered 503",
            _extension("AbortShortRequests", "503-100"),
        ),
        Fault(
            "gateway-split-llm",
            "load",
            "10% of the llm-gateway route's traffic weighted to qdrant, which also answers 200",
            _split_llm_to_qdrant,
        ),
        Fault("short-llm-timeout", "sse", "a 3 s request timeout on the llm-gateway route", _short_llm_timeout),
        Fault(
            "request-timeout-as-read-timeout",
            "sse",
            "the llm-gateway route's timeouts.request set to the Ingress's proxy-read-timeout (a total, not an idle limit)",
            _request_timeout(0),
        ),
        Fault(
            "request-timeout-under-read-timeout",
            "timeouts",
            "the llm-gateway route's timeouts.request 3 s under the Ingress's proxy-read-timeout",
            _request_timeout(3),
        ),
        Fault(
            "idle-under-read-timeout",
            "timeouts",
            "a Gateway idle limit on the llm-gateway route 3 s under the Ingress's proxy-read-timeout",
            _idle_under_read_timeout,
        ),
        Fault(
            "early-answer",
            "timeouts",
            "the llm-gateway route answered at once in the backend's name (a cache or a stub)",
            _extension("EarlyAnswer", "now"),
        ),
        Fault("prefix-as-exact", "paths", "every PathPrefix (but /) written as Exact", _prefix_as_exact),
        Fault("no-redirect-route", "redirects", "no HTTP->HTTPS redirect route", _no_redirect_route),
        Fault(
            "gateway-split-10",
            "paths",
            "grafana's route split 90/10 with grafana-canary, another Service that also answers 200",
            _split_grafana,
        ),
        Fault(
            "gateway-redirect-302",
            "redirects",
            "the HTTP->HTTPS redirect answers 302 where nginx sends 308 (a POST becomes a GET)",
            _redirect_code(302),
        ),
        Fault("allow-every-client", "source_ip", "no client allowlist on the Gateway side", _allow_every_client),
        Fault(
            "gateway-blocks-outside",
            "source_ip",
            "outside clients blocked at the Gateway for mlflow, which nginx leaves open",
            _block_outside("mlflow"),
        ),
        Fault("no-backend-tls-policy", "backend_tls", "the BackendTLSPolicy removed", _drop_backend_tls_policy),
        Fault(
            "backend-tls-unsupported",
            "backend_tls",
            "BackendTLSPolicy under a profile without support",
            lambda objects: objects,
            profile="cilium-1.17",
        ),
        Fault("wrong-backend-ca", "backend_tls", "the BackendTLSPolicy's CA did not sign the backend", _wrong_ca),
        Fault(
            "redirect-port-8443",
            "redirects",
            "the HTTP->HTTPS redirect sends clients to port 8443 instead of 443",
            _redirect_to_port(8443),
        ),
        Fault("lose-hsts", "headers", "no Strict-Transport-Security added on HTTPS responses", _lose_hsts),
        Fault(
            "lose-forwarded-proto",
            "headers",
            "X-Forwarded-Proto removed on the way to the backend",
            _lose_forwarded_proto,
        ),
    )
}


def apply_faults(objects: Objects, names: list[str]) -> tuple[Objects, str | None]:
    """The manifests with each named fault applied, and the profile a fault insists on."""
    result = copy.deepcopy(objects)
    profile: str | None = None
    for name in names:
        fault = FAULTS.get(name)
        if fault is None:
            raise InputError(f"unknown fault {name!r}", field="--fault", hint=f"choose from: {', '.join(FAULTS)}")
        result = fault.apply(result)
        profile = fault.profile or profile
    return result, profile
