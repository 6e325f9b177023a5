"""Cilium network policies as the two proxies meet them.

Facts (../shared/ref/cilium-gateway.md): a policy whose endpointSelector selects the
reserved `ingress` identity is enforced inside Envoy on the client's original identity,
so its CIDRs see the real client. A policy on the backend's pods only sees the
`ingress` identity for Gateway traffic (never the client), and the ingress-nginx
controller pod for nginx traffic. `fromEntities: cluster` covers both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cutover.manifests import ManifestSet, NetworkPolicy, Service

__all__ = [
    "LAB_CLUSTER_CIDR",
    "NGINX_CONTROLLER_LABELS",
    "ClientRule",
    "IngressAllowlist",
    "backend_admits",
    "gateway_allowlist",
    "selects_ingress_identity",
]

# In the lab, "inside the cluster" is the loopback address the node itself uses.
LAB_CLUSTER_CIDR = "127.0.0.1/32"
WORLD_ENTITIES = {"world", "all"}
CLUSTER_ENTITIES = {"cluster", "host", "remote-node", "kube-apiserver", "init", "health"}
NGINX_CONTROLLER_LABELS = {
    "io.kubernetes.pod.namespace": "ingress-nginx",
    "app.kubernetes.io/name": "ingress-nginx",
    "app.kubernetes.io/component": "controller",
}


@dataclass(frozen=True)
class ClientRule:
    """One allow rule at the Gateway: client CIDRs (None = any) and optional L7 HTTP rules."""

    cidrs: tuple[str, ...] | None
    http: tuple[dict[str, str], ...] = ()
    origin: str = ""


@dataclass
class IngressAllowlist:
    """Every rule of every policy on the ingress identity; empty policies = no allowlist."""

    policies: list[str] = field(default_factory=list)
    rules: list[ClientRule] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.policies)


def selects_ingress_identity(policy: NetworkPolicy) -> bool:
    selector = policy.endpoint_selector or {}
    labels = selector.get("matchLabels") or {}
    if any(str(key) in ("reserved:ingress", "reserved.ingress") for key in labels):
        return True
    for expression in selector.get("matchExpressions") or []:
        if str(expression.get("key")) in ("reserved:ingress", "reserved.ingress") and expression.get("operator") in (
            "Exists",
            "In",
        ):
            return True
    # A cluster-wide policy with an empty selector selects every endpoint, the ingress one included.
    return policy.kind == "CiliumClusterwideNetworkPolicy" and not labels and not selector.get("matchExpressions")


def _selects_service(policy: NetworkPolicy, service: Service) -> bool:
    if policy.kind == "CiliumNetworkPolicy" and policy.namespace != service.namespace:
        return False
    if selects_ingress_identity(policy):
        return False
    selector = policy.endpoint_selector or {}
    labels = {str(k): str(v) for k, v in (selector.get("matchLabels") or {}).items()}
    namespace_label = labels.pop("k8s:io.kubernetes.pod.namespace", None) or labels.pop(
        "io.kubernetes.pod.namespace", None
    )
    if namespace_label and namespace_label != service.namespace:
        return False
    labels = {key.removeprefix("k8s:"): value for key, value in labels.items()}
    return all(service.selector.get(key) == value for key, value in labels.items())


def _cidrs(rule: dict[str, Any]) -> list[str]:
    found = [str(c) for c in rule.get("fromCIDR") or []]
    found += [str(item.get("cidr")) for item in rule.get("fromCIDRSet") or [] if item.get("cidr")]
    return found


def _http_rules(rule: dict[str, Any]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for port_rule in rule.get("toPorts") or []:
        for http in (port_rule.get("rules") or {}).get("http") or []:
            found.append({key: str(value) for key, value in http.items() if key in ("host", "path", "method")})
    return found


def gateway_allowlist(manifests: ManifestSet) -> IngressAllowlist:
    """Rules Envoy enforces on the client address, from policies on the ingress identity."""
    result = IngressAllowlist()
    for policy in manifests.network_policies:
        if not selects_ingress_identity(policy):
            continue
        result.policies.append(f"{policy.kind} {policy.namespace + '/' if policy.namespace else ''}{policy.name}")
        for rule in policy.ingress:
            http = tuple(_http_rules(rule))
            entities = {str(e) for e in rule.get("fromEntities") or []}
            cidrs = _cidrs(rule)
            has_l3 = bool(entities or cidrs or rule.get("fromEndpoints"))
            if not has_l3 or entities & WORLD_ENTITIES:
                result.rules.append(ClientRule(None, http, policy.name))
                continue
            if entities & CLUSTER_ENTITIES:
                cidrs.append(LAB_CLUSTER_CIDR)
            if cidrs:
                result.rules.append(ClientRule(tuple(cidrs), http, policy.name))
    return result


def _rule_admits(rule: dict[str, Any], peer: str, policy_namespace: str) -> bool:
    entities = {str(e) for e in rule.get("fromEntities") or []}
    has_l3 = bool(entities or _cidrs(rule) or rule.get("fromEndpoints") is not None)
    if not has_l3:
        return True
    if entities & {"all", "cluster"}:
        return True
    if peer == "gateway":
        if "ingress" in entities:
            return True
        for selector in rule.get("fromEndpoints") or []:
            labels = selector.get("matchLabels") or {}
            if any(str(k).endswith("reserved:ingress") for k in labels):
                return True
        return False
    for selector in rule.get("fromEndpoints") or []:
        labels = {str(k).removeprefix("k8s:"): str(v) for k, v in (selector.get("matchLabels") or {}).items()}
        labels.setdefault("io.kubernetes.pod.namespace", policy_namespace)
        if all(NGINX_CONTROLLER_LABELS.get(k) == v for k, v in labels.items()):
            return True
    return False


def backend_admits(manifests: ManifestSet, service: Service, peer: str) -> tuple[bool, str]:
    """Whether the policies on a backend's pods let the proxy (`nginx` or `gateway`) in."""
    selecting = [p for p in manifests.network_policies if _selects_service(p, service)]
    if not selecting:
        return True, "no policy selects the backend"
    for policy in selecting:
        for rule in policy.ingress:
            if _rule_admits(rule, peer, policy.namespace):
                return True, f"{policy.kind} {policy.namespace}/{policy.name} admits the {peer} identity"
    names = ", ".join(f"{p.namespace}/{p.name}" for p in selecting)
    return False, f"no rule of {names} admits the {peer} identity: its connections are dropped"
