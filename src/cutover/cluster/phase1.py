"""Phase 1, Gateway readiness: the Gateway API CRDs pinned, Cilium and cert-manager versions
that fit, GatewayClass and Gateways ready, and option B only with node-to-node encryption."""

from __future__ import annotations

from typing import Any

from cutover import annotations as ann
from cutover.checks.base import Case, Difference
from cutover.cluster.common import (
    ClusterSettings,
    cilium_version,
    conditions,
    finding,
    make_case,
    na_case,
    status_case,
    subject,
)
from cutover.cluster.state import ClusterState, image_version, version_tuple
from cutover.facts.cilium import facts_for_version, first_release
from cutover.facts.kube import GATEWAY_GROUP
from cutover.targets import ServiceTarget

__all__ = ["REQUIRED_CRDS", "phase1_cases"]

REQUIRED_CRDS = ("gateways", "gatewayclasses", "httproutes", "grpcroutes", "referencegrants")
_BUNDLE_ANNOTATION = f"{GATEWAY_GROUP}/bundle-version"


def _crds(state: ClusterState) -> dict[str, dict[str, Any]]:
    return {str((c.get("metadata") or {}).get("name")): c for c in state.items("crds")}


def _bundle_of(crd: dict[str, Any]) -> Any:
    return ((crd.get("metadata") or {}).get("annotations") or {}).get(_BUNDLE_ANNOTATION)


def _crd_bundle_case(crds: dict[str, dict[str, Any]], settings: ClusterSettings, cluster: ServiceTarget) -> Case:
    findings = []
    versions = {}
    for name in REQUIRED_CRDS:
        crd = crds.get(f"{name}.{GATEWAY_GROUP}")
        field_name = f"CustomResourceDefinition {name}.{GATEWAY_GROUP}"
        if crd is None:
            findings.append(finding(field_name, "installed", "missing", note=f"pin {settings.bundle_version}"))
            continue
        bundle = _bundle_of(crd)
        versions[name] = bundle
        if bundle != settings.bundle_version:
            findings.append(
                finding(
                    f"{field_name} metadata.annotations[{_BUNDLE_ANNOTATION}]",
                    settings.bundle_version,
                    bundle,
                    note="the CRD bundle is not the pinned one",
                )
            )
    return make_case("phase1", cluster, "gateway api crds", findings, {"bundle_versions": versions})


def _backend_tls_crd_case(
    state: ClusterState, crds: dict[str, dict[str, Any]], settings: ClusterSettings, cluster: ServiceTarget
) -> Case:
    btls = crds.get(f"backendtlspolicies.{GATEWAY_GROUP}")
    findings = []
    if btls is None:
        for ingress in state.manifests.ingresses:
            if "backend_tls" in ann.checks_for(ingress) and ingress.name not in settings.option_b:
                findings.append(
                    finding(
                        f"CustomResourceDefinition backendtlspolicies.{GATEWAY_GROUP}",
                        "installed",
                        "missing",
                        note=f"Ingress {ingress.namespace}/{ingress.name} reaches its backend over HTTPS: "
                        "install the CRD or declare option B",
                    )
                )
    return make_case("phase1", cluster, "backendtlspolicy crd", findings, {"installed": btls is not None})


def _cilium_version_case(
    state: ClusterState, crds: dict[str, dict[str, Any]], settings: ClusterSettings, cluster: ServiceTarget
) -> Case:
    """What the running Cilium means for the migration, from the release table (facts/cilium.py)."""
    version, origin = cilium_version(state, settings)
    if version is None:
        return na_case("phase1", cluster, f"cilium version unknown ({origin}); pass --cilium-version")
    release = facts_for_version(version)
    findings = []
    if not release.supports_backend_tls_policy and state.manifests.backend_tls_policies:
        since = first_release(lambda r: r.supports_backend_tls_policy)
        policy = state.manifests.backend_tls_policies[0]
        findings.append(
            finding(policy.source.ref, f"Cilium >= {since.minor}", version, note="this Cilium ignores BackendTLSPolicy")
        )
    bundles = {
        str(_bundle_of(c))
        for c in crds.values()
        if str((c.get("metadata") or {}).get("name", "")).endswith(GATEWAY_GROUP)
    }
    broken = sorted(b for b in bundles if release.crashes_with(b))
    if broken:
        findings.append(
            finding(
                "Gateway API CRD bundle",
                f"not {' or '.join(release.incompatible_bundles)} with Cilium {release.minor}",
                ", ".join(sorted(bundles)),
                note=f"Cilium {release.minor} crashes with the {', '.join(release.incompatible_bundles)} bundle "
                "(TLSRoute v1alpha2 not served)",
            )
        )
    evidence = {
        "version": version,
        "from": origin,
        "facts_of": release.version,
        "implications": release.implications(),
    }
    return make_case("phase1", cluster, "cilium version", findings, evidence)


def _cert_manager_cases(state: ClusterState, settings: ClusterSettings, cluster: ServiceTarget) -> list[Case]:
    containers = [
        c
        for pod in state.items("pods")
        if (pod.get("metadata") or {}).get("namespace") == "cert-manager"
        for c in (pod.get("spec") or {}).get("containers") or []
        if "cert-manager-controller" in str(c.get("image", ""))
    ]
    if not state.live and not containers:
        return [na_case("phase1", cluster, "offline manifests carry no cert-manager pods")]
    version = image_version(str(containers[0].get("image"))) if containers else None
    findings = []
    if version is None:
        findings.append(
            finding(
                "Pod cert-manager/* image",
                f">= {settings.min_cert_manager}",
                "not found",
                note="cert-manager is needed for the Gateway's certificates",
            )
        )
    elif version_tuple(version) < version_tuple(settings.min_cert_manager):
        findings.append(
            finding(
                "Pod cert-manager/* image",
                f">= {settings.min_cert_manager}",
                version,
                note="cert-manager supports Gateway API from 1.12",
            )
        )
    return [make_case("phase1", cluster, "cert-manager version", findings, {"version": version})]


def _gateway_cases(state: ClusterState, cluster: ServiceTarget) -> list[Case]:
    cases = []
    for gateway in state.manifests.gateways:
        probe = f"gateway {gateway.namespace}/{gateway.name}"
        obj = f"Gateway {gateway.namespace}/{gateway.name}"
        status = gateway.raw.get("status")
        if not status and not state.live:
            cases.append(na_case("phase1", cluster, f"{obj}: offline manifests carry no status"))
            continue
        findings = conditions(obj, gateway.raw, ("Accepted", "Programmed"))
        addresses = (status or {}).get("addresses") or []
        if not addresses:
            findings.append(
                finding(
                    f"{obj} status.addresses",
                    "an address",
                    "pending",
                    note="no address: configure Cilium LB-IPAM (an IP pool), L2 announcements "
                    "or BGP for the Gateway's LoadBalancer service",
                )
            )
        cases.append(make_case("phase1", cluster, probe, findings, {"addresses": addresses}))
    return cases


def _truthy(value: object) -> bool:
    return str(value).strip().lower() == "true"


def _argocd_insecure(state: ClusterState) -> list[tuple[str, str]]:
    """(namespace, what says so) for every ArgoCD server set to serve plain HTTP: `server.insecure`
    in argocd-cmd-params-cm, or the argocd-server container's `--insecure` flag."""
    found: list[tuple[str, str]] = []
    for config_map in state.items("configmaps"):
        metadata = config_map.get("metadata") or {}
        if metadata.get("name") == "argocd-cmd-params-cm" and _truthy(
            (config_map.get("data") or {}).get("server.insecure")
        ):
            namespace = str(metadata.get("namespace") or "")
            found.append((namespace, f"ConfigMap {namespace}/argocd-cmd-params-cm data[server.insecure]: true"))
    for pod in state.items("pods"):
        metadata = pod.get("metadata") or {}
        for container in (pod.get("spec") or {}).get("containers") or []:
            words = [str(w) for w in [*(container.get("command") or []), *(container.get("args") or [])]]
            if "argocd-server" in " ".join([*words, str(container.get("name", ""))]) and any(
                w == "--insecure" or (w.startswith("--insecure=") and _truthy(w.split("=", 1)[1])) for w in words
            ):
                namespace = str(metadata.get("namespace") or "")
                found.append(
                    (namespace, f"Pod {namespace}/{metadata.get('name')} container {container.get('name')}: --insecure")
                )
    return found


def _option_b_guard(state: ClusterState, cluster: ServiceTarget) -> list[Case]:
    """Option B (ArgoCD insecure behind the Gateway) leaves the Gateway -> argocd-server hop in
    plaintext on the wire: it is acceptable only with Cilium's node-to-node encryption
    (enable-wireguard or enable-ipsec in cilium-config)."""
    routed = {
        backend.namespace or route.namespace
        for route in state.manifests.http_routes
        for rule in route.rules
        for backend in rule.backend_refs
    }
    behind = [(namespace, why) for namespace, why in _argocd_insecure(state) if namespace in routed]
    if not behind:
        return []
    cilium_config = next(
        (c for c in state.items("configmaps") if (c.get("metadata") or {}).get("name") == "cilium-config"), None
    )
    data = (cilium_config or {}).get("data") or {}
    encrypted = [key for key in ("enable-wireguard", "enable-ipsec") if _truthy(data.get(key))]
    findings: list[Difference] = []
    if not encrypted:
        where = (
            f"ConfigMap {(cilium_config.get('metadata') or {}).get('namespace')}/cilium-config"
            if cilium_config is not None
            else "ConfigMap kube-system/cilium-config"
        )
        found = (
            ", ".join(f"{key}: {data.get(key, '(unset)')}" for key in ("enable-wireguard", "enable-ipsec"))
            if cilium_config is not None
            else f"no cilium-config in {state.description}"
        )
        findings.append(
            finding(
                f"{where} data[enable-wireguard|enable-ipsec]",
                "true (node-to-node encryption)",
                found,
                note=f"ArgoCD serves plain HTTP behind the Gateway (option B: {'; '.join(w for _, w in behind)}): "
                "the hop from the Gateway to argocd-server crosses the node network unencrypted unless Cilium "
                "encrypts it (WireGuard or IPsec)",
            )
        )
    evidence = {"insecure": [w for _, w in behind], "encryption": encrypted}
    return [make_case("phase1", cluster, "argocd option b encryption", findings, evidence)]


def phase1_cases(state: ClusterState, settings: ClusterSettings) -> list[Case]:
    cases: list[Case] = []
    cluster = subject("cluster", None)
    crds = _crds(state)
    if not state.served("crds") or (not crds and not state.live):
        cases.append(na_case("phase1", cluster, "the source carries no CustomResourceDefinitions (offline manifests)"))
    else:
        cases.append(_crd_bundle_case(crds, settings, cluster))
        cases.append(_backend_tls_crd_case(state, crds, settings, cluster))
    cases.append(_cilium_version_case(state, crds, settings, cluster))
    cases.extend(_cert_manager_cases(state, settings, cluster))
    for gateway_class in state.items("gatewayclasses"):
        name = str(gateway_class["metadata"]["name"])
        cases.append(
            status_case(
                "phase1",
                cluster,
                f"gatewayclass {name}",
                f"GatewayClass {name}",
                gateway_class,
                ("Accepted",),
                state.live,
            )
        )
    cases.extend(_option_b_guard(state, cluster))
    cases.extend(_gateway_cases(state, cluster))
    return cases
