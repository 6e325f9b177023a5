"""Seeded faults: small edits to the Gateway-side manifests that a parity check must catch.

Each fault names the check kind it should break. They only ever touch Gateway API and
Cilium objects: the nginx side is the reference.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trustme

from cutover.errors import InputError
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
        Fault("short-llm-timeout", "sse", "a 3 s request timeout on the llm-gateway route", _short_llm_timeout),
        Fault("prefix-as-exact", "paths", "every PathPrefix (but /) written as Exact", _prefix_as_exact),
        Fault("no-redirect-route", "redirects", "no HTTP->HTTPS redirect route", _no_redirect_route),
        Fault("allow-every-client", "source_ip", "no client allowlist on the Gateway side", _allow_every_client),
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
