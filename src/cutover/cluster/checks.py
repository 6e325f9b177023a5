"""Cluster checks, read-only: inventory (phase 0), Gateway readiness (phase 1), Ingress ->
HTTPRoute coverage (per wave) and decommission (phase 3).

Each check is a Case like the parity checks (so it lands in the same report); its
findings are computed from the ClusterState when the cases are built, and turned into an
Outcome when the test runs. A finding names the object and the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cutover import annotations as ann
from cutover.checks.base import Case, CheckInfo, Difference, Outcome, ProbeContext, not_applicable
from cutover.cluster.catalog import classify
from cutover.cluster.state import ClusterState, condition, image_version, version_tuple
from cutover.lab.envoy_render import PolicyStatus, compute_status, route_status_objects
from cutover.lab.nginx_render import class_verdict
from cutover.lab.policy import gateway_allowlist, selects_ingress_identity
from cutover.lab.profiles import DEFAULT_PROFILE, PROFILES, GatewayProfile
from cutover.manifests import HTTPRoute, Ingress, IngressPath
from cutover.targets import ServiceTarget

__all__ = ["INFOS", "ClusterSettings", "cluster_cases", "inventory"]

REQUIRED_CRDS = ("gateways", "gatewayclasses", "httproutes", "grpcroutes", "referencegrants")
GATEWAY_GROUP = "gateway.networking.k8s.io"
ENVOY_ROUTE_DEFAULT = 15

INFOS = {
    "phase0": CheckInfo(
        "phase0",
        "Inventory",
        "Every Ingress accounted for, every annotation classified.",
        marker="cluster inventory checks",
        group="cluster",
        finding="inventory findings",
    ),
    "phase1": CheckInfo(
        "phase1",
        "Gateway readiness",
        "CRDs pinned, versions fit, GatewayClass and Gateway ready.",
        marker="Gateway API readiness checks",
        group="cluster",
        finding="Gateway not ready",
    ),
    "coverage": CheckInfo(
        "coverage",
        "Route coverage",
        "Every Ingress rule has an equivalent HTTPRoute rule.",
        marker="Ingress to HTTPRoute coverage checks",
        group="cluster",
        finding="Ingress rules without an equivalent route",
    ),
    "phase3": CheckInfo(
        "phase3",
        "Decommission",
        "ingress-nginx is gone.",
        marker="decommission checks (runs only when -m names it)",
        opt_in=True,
        group="cluster",
        finding="ingress-nginx not gone",
    ),
}


@dataclass
class ClusterSettings:
    bundle_version: str = "v1.2.1"
    cilium_version: str | None = None  # overrides what the agent image says (offline: the lab profile's)
    option_b: set[str] = field(default_factory=set)  # services whose target declares backend TLS option B
    # Hosts the targets check; None when no targets are known. An Ingress host missing here
    # is traffic no parity check will ever look at.
    target_hosts: set[str] | None = None
    min_cert_manager: str = "1.12"


def _finding(field: str, expected: object, found: object, note: str = "") -> Difference:
    return Difference(field, expected, found, note=note, sides=("expected", "found"))


def _subject(name: str, wave: int | None, namespace: str = "") -> ServiceTarget:
    return ServiceTarget(name=name, host="", wave=wave or 0, namespace=namespace)


def _case(
    kind: str, subject: ServiceTarget, probe: str, findings: list[Difference], evidence: dict[str, Any] | None = None
) -> Case:
    def run(case: Case, context: ProbeContext) -> Outcome:
        return Outcome(differences=list(findings), evidence=dict(evidence or {}))

    return Case(INFOS[kind], subject, probe, {}, run)


def _na(kind: str, subject: ServiceTarget, reason: str) -> Case:
    return not_applicable(INFOS[kind], subject, reason)


# -- phase 0 -----------------------------------------------------------------------
def inventory(state: ClusterState) -> list[dict[str, Any]]:
    """One row per Ingress, as `kubectl get ingress -A -o json | jq` would have given, classified."""
    rows = []
    everyone = state.manifests.ingresses
    for ingress in everyone:
        rows.append(
            {
                "namespace": ingress.namespace,
                "name": ingress.name,
                "class": ingress.ingress_class or None,
                "hosts": ingress.hosts,
                "paths": [
                    {
                        "host": p.host,
                        "path": p.path,
                        "type": p.path_type,
                        "backend": f"{p.backend.service}:{p.backend.port_number or p.backend.port_name}",
                    }
                    for p in ingress.paths
                ],
                "tls": [{"hosts": list(t.hosts), "secretName": t.secret_name} for t in ingress.tls],
                "annotations": [
                    {
                        "key": key,
                        "value": value,
                        **{k: v for k, v in classify(key, value).__dict__.items() if k != "key"},
                    }
                    for key, value in sorted(ingress.annotations.items())
                ],
                # Which controller serves it: an Ingress ingress-nginx does not serve is not part of the move.
                "not_served_by_ingress_nginx": class_verdict(ingress, state.manifests),
                "complexity": ann.complexity(ingress),
                # A host is never split across waves: the highest wave of the Ingresses sharing it.
                "proposed_wave": ann.proposed_wave(ingress, everyone),
                "checks": ann.checks_for(ingress),
            }
        )
    return rows


def _phase0(state: ClusterState, settings: ClusterSettings) -> list[Case]:
    cases = []
    rows = {(r["namespace"], r["name"]): r for r in inventory(state)}
    for ingress in state.manifests.ingresses:
        row = rows[(ingress.namespace, ingress.name)]
        findings = []
        for item in row["annotations"]:
            where = f"Ingress {ingress.namespace}/{ingress.name} metadata.annotations[{item['key']}]"
            if item["category"] == "unknown":
                findings.append(_finding(where, item["value"], "ignored", note=item["detail"]))
            elif item["category"] == "unsupported":
                findings.append(_finding(where, item["value"], "no equivalent", note=item["detail"]))
        subject = _subject(ingress.name, row["proposed_wave"], ingress.namespace)
        cases.append(_case("phase0", subject, "inventory", findings, {"inventory": row}))
    counts = {level: sum(1 for r in rows.values() if r["complexity"] == level) for level in ("HIGH", "MEDIUM", "LOW")}
    summary = {
        "ingresses": len(rows),
        "complexity": counts,
        "wave_warnings": ann.wave_warnings(state.manifests.ingresses),
    }
    unchecked = []
    if settings.target_hosts is not None:
        for ingress in state.manifests.ingresses:
            for host in ingress.hosts:
                if host and host not in settings.target_hosts:
                    unchecked.append(
                        _finding(
                            f"Ingress {ingress.namespace}/{ingress.name} spec.rules[].host {host}",
                            "a service in the targets",
                            "none",
                            note="no parity check covers this host: add it to the targets",
                        )
                    )
    cases.append(_case("phase0", _subject("cluster", None), f"{len(rows)} Ingresses", unchecked, summary))
    return cases


# -- phase 1 -----------------------------------------------------------------------
def _cilium_version(state: ClusterState, settings: ClusterSettings) -> tuple[str | None, str]:
    if settings.cilium_version:
        return settings.cilium_version, "given"
    for pod in state.pods_labelled("k8s-app", "cilium"):
        for container in (pod.get("spec") or {}).get("containers") or []:
            version = image_version(str(container.get("image", "")))
            if version:
                return version, f"agent image {container.get('image')}"
    return None, "no cilium agent pod found"


def _phase1(state: ClusterState, settings: ClusterSettings) -> list[Case]:
    cases: list[Case] = []
    cluster = _subject("cluster", None)
    crds = {str((c.get("metadata") or {}).get("name")): c for c in state.items("crds")}
    if not state.served("crds") or (not crds and not state.live):
        cases.append(_na("phase1", cluster, "the source carries no CustomResourceDefinitions (offline manifests)"))
    else:
        findings = []
        versions = {}
        for name in REQUIRED_CRDS:
            crd = crds.get(f"{name}.{GATEWAY_GROUP}")
            field_name = f"CustomResourceDefinition {name}.{GATEWAY_GROUP}"
            if crd is None:
                findings.append(_finding(field_name, "installed", "missing", note=f"pin {settings.bundle_version}"))
                continue
            bundle = ((crd.get("metadata") or {}).get("annotations") or {}).get(f"{GATEWAY_GROUP}/bundle-version")
            versions[name] = bundle
            if bundle != settings.bundle_version:
                findings.append(
                    _finding(
                        f"{field_name} metadata.annotations[{GATEWAY_GROUP}/bundle-version]",
                        settings.bundle_version,
                        bundle,
                        note="the CRD bundle is not the pinned one",
                    )
                )
        cases.append(_case("phase1", cluster, "gateway api crds", findings, {"bundle_versions": versions}))
        btls = crds.get(f"backendtlspolicies.{GATEWAY_GROUP}")
        findings = []
        if btls is None:
            for ingress in state.manifests.ingresses:
                if "backend_tls" in ann.checks_for(ingress) and ingress.name not in settings.option_b:
                    findings.append(
                        _finding(
                            f"CustomResourceDefinition backendtlspolicies.{GATEWAY_GROUP}",
                            "installed",
                            "missing",
                            note=f"Ingress {ingress.namespace}/{ingress.name} reaches its backend over HTTPS: "
                            "install the CRD or declare option B",
                        )
                    )
        evidence = {"installed": btls is not None}
        cases.append(_case("phase1", cluster, "backendtlspolicy crd", findings, evidence))
    version, origin = _cilium_version(state, settings)
    if version is None:
        cases.append(_na("phase1", cluster, f"cilium version unknown ({origin}); pass --cilium-version"))
    else:
        findings = []
        implications = []
        parsed = version_tuple(version)
        if parsed < (1, 20):
            implications.append("BackendTLSPolicy needs Cilium >= 1.20: the Gateway talks plaintext to TLS backends")
            if state.manifests.backend_tls_policies:
                policy = state.manifests.backend_tls_policies[0]
                findings.append(
                    _finding(
                        f"{policy.source.ref}", "Cilium >= 1.20", version, note="this Cilium ignores BackendTLSPolicy"
                    )
                )
        if parsed[:3] == (1, 15, 0):
            implications.append("Cilium 1.15.0 applies Envoy's 15 s default to routes without timeouts")
        bundles = {
            str(((c.get("metadata") or {}).get("annotations") or {}).get(f"{GATEWAY_GROUP}/bundle-version"))
            for c in crds.values()
            if str(c.get("metadata", {}).get("name", "")).endswith(GATEWAY_GROUP)
        }
        if parsed[:2] == (1, 19) and any(b.startswith("v1.5") for b in bundles):
            findings.append(
                _finding(
                    "Gateway API CRD bundle",
                    "not v1.5 with Cilium 1.19",
                    ", ".join(sorted(bundles)),
                    note="Cilium 1.19 crashes with the v1.5 bundle (TLSRoute v1alpha2 not served)",
                )
            )
        cases.append(
            _case(
                "phase1",
                cluster,
                "cilium version",
                findings,
                {"version": version, "from": origin, "implications": implications},
            )
        )
    cert_manager = [
        c
        for pod in state.items("pods")
        if (pod.get("metadata") or {}).get("namespace") == "cert-manager"
        for c in (pod.get("spec") or {}).get("containers") or []
        if "cert-manager-controller" in str(c.get("image", ""))
    ]
    if not state.live and not cert_manager:
        cases.append(_na("phase1", cluster, "offline manifests carry no cert-manager pods"))
    else:
        version = image_version(str(cert_manager[0].get("image"))) if cert_manager else None
        findings = []
        if version is None:
            findings.append(
                _finding(
                    "Pod cert-manager/* image",
                    f">= {settings.min_cert_manager}",
                    "not found",
                    note="cert-manager is needed for the Gateway's certificates",
                )
            )
        elif version_tuple(version) < version_tuple(settings.min_cert_manager):
            findings.append(
                _finding(
                    "Pod cert-manager/* image",
                    f">= {settings.min_cert_manager}",
                    version,
                    note="cert-manager supports Gateway API from 1.12",
                )
            )
        cases.append(_case("phase1", cluster, "cert-manager version", findings, {"version": version}))
    for gateway_class in state.items("gatewayclasses"):
        name = str(gateway_class["metadata"]["name"])
        cases.append(
            _status_case(
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
    for gateway in state.manifests.gateways:
        probe = f"gateway {gateway.namespace}/{gateway.name}"
        obj = f"Gateway {gateway.namespace}/{gateway.name}"
        status = gateway.raw.get("status")
        if not status and not state.live:
            cases.append(_na("phase1", cluster, f"{obj}: offline manifests carry no status"))
            continue
        findings = _conditions(obj, gateway.raw, ("Accepted", "Programmed"))
        addresses = (status or {}).get("addresses") or []
        if not addresses:
            findings.append(
                _finding(
                    f"{obj} status.addresses",
                    "an address",
                    "pending",
                    note="no address: configure Cilium LB-IPAM (an IP pool), L2 announcements "
                    "or BGP for the Gateway's LoadBalancer service",
                )
            )
        cases.append(_case("phase1", cluster, probe, findings, {"addresses": addresses}))
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
            _finding(
                f"{where} data[enable-wireguard|enable-ipsec]",
                "true (node-to-node encryption)",
                found,
                note=f"ArgoCD serves plain HTTP behind the Gateway (option B: {'; '.join(w for _, w in behind)}): "
                "the hop from the Gateway to argocd-server crosses the node network unencrypted unless Cilium "
                "encrypts it (WireGuard or IPsec)",
            )
        )
    evidence = {"insecure": [w for _, w in behind], "encryption": encrypted}
    return [_case("phase1", cluster, "argocd option b encryption", findings, evidence)]


def _conditions(
    obj: str, raw: dict[str, Any], wanted: tuple[str, ...], path: str = "status.conditions"
) -> list[Difference]:
    findings = []
    for kind in wanted:
        found = condition(raw, kind)
        if found is None or found.get("status") != "True":
            actual = (
                "absent"
                if found is None
                else f"{found.get('status')} ({found.get('reason')}: {found.get('message', '')})"
            )
            findings.append(_finding(f"{obj} {path}[{kind}]", "True", actual))
    return findings


def _status_case(
    kind: str, subject: ServiceTarget, probe: str, obj: str, raw: dict[str, Any], wanted: tuple[str, ...], live: bool
) -> Case:
    if not raw.get("status") and not live:
        return _na(kind, subject, f"{obj}: offline manifests carry no status")
    return _case(kind, subject, probe, _conditions(obj, raw, wanted))


# -- coverage ----------------------------------------------------------------------
def _attached_routes(state: ClusterState) -> list[HTTPRoute]:
    gateways = {(g.namespace, g.name) for g in state.manifests.gateways}
    return [r for r in state.manifests.http_routes if any((p.namespace, p.name) in gateways for p in r.parent_refs)]


def _routes_for_host(state: ClusterState, host: str) -> list[HTTPRoute]:
    return [r for r in _attached_routes(state) if not r.hostnames or host in r.hostnames]


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


def _equivalent(item: IngressPath, route_type: str, value: str, nginx_regex: bool = False) -> str | None:
    """None when the HTTPRoute match is equivalent, else what differs."""
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


def _rule_limit(state: ClusterState, item: IngressPath) -> tuple[float | None, str] | None:
    """The total-duration limit (None: none) of the HTTPRoute rule that serves this Ingress rule,
    and where it is; None when no rule serves it (the rules case reports that)."""
    for route in _routes_for_host(state, item.host):
        for rule in route.rules:
            if "RequestRedirect" in {f.get("type") for f in rule.filters}:
                continue
            if any(_equivalent(item, m.path_type, m.path_value) != "no" for m in rule.matches):
                limits = [t for t in (rule.timeout_request, rule.timeout_backend_request) if t is not None]
                limit = min(limits) if limits else None
                return (limit if limit else None), f"HTTPRoute {route.namespace}/{route.name} rule {rule.index}"
    return None


def _timeouts_coverage(
    state: ClusterState, ingress: Ingress, settings: ClusterSettings, subject: ServiceTarget, obj: str
) -> Case:
    """Each rule's Gateway timeout against nginx's read timeout, rule by rule.

    nginx's proxy-read-timeout is an idle limit; timeouts.request / backendRequest are a total
    duration (Envoy's route timeout). On a streaming Ingress (proxy-buffering off) a total limit
    at or under the read timeout cuts streams nginx served to the end."""
    read_timeout = ann.read_timeout(ingress)
    streaming = "sse" in ann.checks_for(ingress)
    version, _ = _cilium_version(state, settings)
    parsed = version_tuple(version)
    route_default = not parsed or parsed[:3] == (1, 15, 0)
    findings: list[Difference] = []
    rules: list[dict[str, Any]] = []
    field = f"{obj} metadata.annotations[proxy-read-timeout]"
    for item in ingress.paths:
        found = _rule_limit(state, item)
        if found is None:
            continue
        limit, where = found
        rules.append({"rule": f"{item.host}{item.path}", "route_rule": where, "route_timeout": limit})
        what = f"HTTPRoute timeout {limit:g} s ({where})" if limit is not None else f"no HTTPRoute timeout ({where})"
        if limit is not None and limit < read_timeout:
            findings.append(
                _finding(
                    f"{field} for {item.host}{item.path}",
                    f"{read_timeout} s",
                    what,
                    note="the route gives up sooner than nginx did"
                    + ("; and it is a total duration, nginx's is an idle limit" if streaming else ""),
                )
            )
        elif limit is not None and streaming:
            finding = _finding(
                f"{field} for {item.host}{item.path}",
                f"{read_timeout} s (idle)",
                f"{what}, a total",
                note=f"timeouts.request is a total duration: a stream still running at {limit:g} s is cut, while "
                f"nginx's proxy-read-timeout {read_timeout} s is an idle limit; remove timeouts.request and "
                "backendRequest or set them above the longest stream",
            )
            if limit > read_timeout:
                # Above the read timeout it may be longer than every stream: the sse probes decide.
                finding.severity = "warn"
            findings.append(finding)
        elif limit is None and route_default and read_timeout > ENVOY_ROUTE_DEFAULT:
            findings.append(
                _finding(
                    f"{field} for {item.host}{item.path}",
                    f"{read_timeout} s",
                    what,
                    note=f"Cilium {version or '(unknown version)'}: Envoy's 15 s route default "
                    "may apply; set timeouts.request",
                )
            )
    evidence = {"nginx_read_timeout": read_timeout, "streaming": streaming, "rules": rules, "cilium": version}
    return _case("coverage", subject, "timeouts", findings, evidence)


def _coverage_for(state: ClusterState, ingress: Ingress, settings: ClusterSettings) -> list[Case]:
    cases = []
    wave = ann.proposed_wave(ingress, state.manifests.ingresses)
    subject = _subject(ingress.name, wave, ingress.namespace)
    obj = f"Ingress {ingress.namespace}/{ingress.name}"
    regex = ingress.annotation("use-regex").lower() == "true" or bool(ingress.annotation("rewrite-target"))
    findings, notes = [], []
    for item in ingress.paths:
        matches = [
            (route, m.path_type, m.path_value)
            for route in _routes_for_host(state, item.host)
            for rule in route.rules
            if "RequestRedirect" not in {f.get("type") for f in rule.filters}
            for m in rule.matches
        ]
        verdicts = [(_equivalent(item, t, v, regex), route) for route, t, v in matches]
        exact = [route for verdict, route in verdicts if verdict is None]
        close = [(verdict, route) for verdict, route in verdicts if verdict not in (None, "no")]
        where = f"{obj} {item.field_path}"
        if regex:
            notes.append(f"{item.host}{item.path}: use-regex made nginx match case-insensitively and unanchored")
        if exact:
            continue
        if close:
            notes.append(f"{item.host}{item.path}: {close[0][0]} ({close[0][1].source.ref})")
            continue
        findings.append(
            _finding(
                where,
                f"{item.host} {item.path_type} {item.path}",
                "no equivalent HTTPRoute rule",
                note="no HTTPRoute attached to the Gateway matches this host and path",
            )
        )
    cases.append(_case("coverage", subject, "rules", findings, {"notes": notes}))

    cases.append(_timeouts_coverage(state, ingress, settings, subject, obj))

    if "redirects" in ann.checks_for(ingress):
        for host in ingress.hosts:
            redirect_routes = [
                (route, parent)
                for route in _routes_for_host(state, host)
                for rule in route.rules
                for f in rule.filters
                if f.get("type") == "RequestRedirect" and (f.get("requestRedirect") or {}).get("scheme") == "https"
                for parent in route.parent_refs
            ]
            http_only = [
                (route, parent)
                for route, parent in redirect_routes
                if parent.section_name
                and _listener_protocol(state, parent.namespace, parent.name, parent.section_name) == "HTTP"
            ]
            loops = [
                (route, parent)
                for route, parent in redirect_routes
                if not parent.section_name
                or _listener_protocol(state, parent.namespace, parent.name, parent.section_name) == "HTTPS"
            ]
            findings = []
            if not http_only:
                findings.append(
                    _finding(
                        f"{obj} metadata.annotations[ssl-redirect]",
                        "a redirect HTTPRoute on the HTTP listener",
                        "none",
                        note=f"plain HTTP to {host} will be served, not redirected",
                    )
                )
            for route, _ in loops:
                findings.append(
                    _finding(
                        f"{route.source.ref} spec.parentRefs[].sectionName",
                        "the HTTP listener only",
                        "also the HTTPS listener",
                        note="a redirect on HTTPS loops",
                    )
                )
            cases.append(_case("coverage", subject, f"redirect {host}", findings))

    if "backend_tls" in ann.checks_for(ingress):
        services = {p.backend.service for p in ingress.paths}
        policies = [
            p
            for p in state.manifests.backend_tls_policies
            if p.namespace == ingress.namespace and any(t.name in services for t in p.targets)
        ]
        version, _ = _cilium_version(state, settings)
        findings = []
        if ingress.name in settings.option_b:
            pass
        elif not policies:
            findings.append(
                _finding(
                    f"{obj} metadata.annotations[backend-protocol]",
                    "a BackendTLSPolicy or option B",
                    "neither",
                    note="the Gateway would talk plaintext to an HTTPS backend",
                )
            )
        else:
            policy = policies[0]
            if version_tuple(version) and version_tuple(version) < (1, 20):
                findings.append(
                    _finding(
                        policy.source.ref,
                        "Cilium >= 1.20",
                        version,
                        note="this Cilium ignores BackendTLSPolicy; declare option B or upgrade",
                    )
                )
            if policy.api_version != f"{GATEWAY_GROUP}/v1":
                findings.append(
                    _finding(
                        f"{policy.source.ref} apiVersion",
                        f"{GATEWAY_GROUP}/v1",
                        policy.api_version,
                        note="Cilium 1.20 reads BackendTLSPolicy v1",
                    )
                )
            if policy.well_known_ca == "System" and not policy.ca_config_maps:
                findings.append(
                    _finding(
                        f"{policy.source.ref} spec.validation.wellKnownCACertificates",
                        "caCertificateRefs",
                        "System",
                        note="an in-cluster certificate is not signed by a public CA; "
                        "also plaintext on Cilium 1.20.1 (cilium#48307)",
                    )
                )
        cases.append(
            _case(
                "coverage",
                subject,
                "backend tls",
                findings,
                {"policies": [p.source.ref for p in policies], "option_b": ingress.name in settings.option_b},
            )
        )

    if "source_ip" in ann.checks_for(ingress):
        allowlist = gateway_allowlist(state.manifests)
        findings = []
        backend_only = [p for p in state.manifests.network_policies if not selects_ingress_identity(p)]
        if not allowlist.active:
            note = (
                "backends behind the Gateway see the ingress identity, not the client: a policy on the "
                "backend cannot enforce a client allowlist"
            )
            found = ", ".join(p.source.ref for p in backend_only) or "none"
            findings.append(
                _finding(
                    f"{obj} metadata.annotations[whitelist-source-range]",
                    "a policy on the reserved:ingress identity",
                    found,
                    note=note,
                )
            )
        cases.append(_case("coverage", subject, "allowlist policy", findings, {"gateway_policies": allowlist.policies}))
    return cases


def _listener_protocol(state: ClusterState, namespace: str, name: str, section: str) -> str | None:
    gateway = state.manifests.gateway(namespace, name)
    for listener in gateway.listeners if gateway else []:
        if listener.name == section:
            return listener.protocol
    return None


def _coverage(state: ClusterState, settings: ClusterSettings) -> list[Case]:
    cases = []
    for ingress in state.manifests.ingresses:
        cases.extend(_coverage_for(state, ingress, settings))
    waves = {h: ann.proposed_wave(i, state.manifests.ingresses) for i in state.manifests.ingresses for h in i.hosts}
    computed: dict[str, list[dict[str, Any]]] = {}
    profile = _offline_profile(settings)
    if not state.live:
        # Offline manifests carry no status: compute it as the lab renders the Gateway side.
        route_statuses, policy_statuses = compute_status(state.manifests, profile)
        computed = route_status_objects(route_statuses)
        cases.extend(_policy_cases(state, policy_statuses, waves))
    for route in state.manifests.http_routes:
        wave = min((waves[h] for h in route.hostnames if h in waves), default=None)
        subject = _subject(route.name, wave, route.namespace)
        statuses = (route.raw.get("status") or {}).get("parents") or []
        obj = f"HTTPRoute {route.namespace}/{route.name}"
        evidence = {"note": "HTTPRoutes have Accepted and ResolvedRefs; there is no Programmed condition on routes"}
        if not statuses and not state.live:
            statuses = computed.get(f"{route.namespace}/{route.name}", [])
            evidence["status_source"] = f"computed by the lab as {profile.name} would write it (offline manifests)"
        if not statuses:
            if not state.live:
                cases.append(_na("coverage", subject, f"{obj}: offline manifests carry no status"))
                continue
            cases.append(
                _case(
                    "coverage",
                    subject,
                    "route status",
                    [
                        _finding(
                            f"{obj} status.parents",
                            "Accepted and ResolvedRefs",
                            "no status",
                            note="no controller has reconciled this route",
                        )
                    ],
                )
            )
            continue
        findings = []
        for index, parent in enumerate(statuses):
            accepted = condition({"status": parent}, "Accepted") or {}
            refused = accepted.get("status") == "False" and condition({"status": parent}, "ResolvedRefs") is None
            # A refused parent: Cilium resolves no references for it, Accepted False says it all.
            wanted = ("Accepted",) if refused else ("Accepted", "ResolvedRefs")
            findings += _conditions(obj, {"status": parent}, wanted, path=f"status.parents[{index}].conditions")
        cases.append(_case("coverage", subject, "route status", findings, {**evidence, "parents": statuses}))
    for rejected in state.manifests.rejected:
        finding = _finding(rejected.source.ref, "a valid object", "rejected by the API server", note=rejected.error)
        wave = min((waves[h] for h in rejected.hostnames if h in waves), default=None)
        subject = _subject(rejected.source.name, wave, rejected.source.namespace)
        cases.append(_case("coverage", subject, "route status", [finding]))
    applications = state.items("applications")
    for app in applications:
        name = f"{app['metadata'].get('namespace', '')}/{app['metadata']['name']}"
        status = app.get("status") or {}
        sync, health = (status.get("sync") or {}).get("status"), (status.get("health") or {}).get("status")
        findings = []
        if sync != "Synced":
            findings.append(_finding(f"Application {name} status.sync.status", "Synced", sync))
        if health != "Healthy":
            findings.append(_finding(f"Application {name} status.health.status", "Healthy", health))
        cases.append(_case("coverage", _subject(app["metadata"]["name"], None), "argocd application", findings))
    return cases


def _offline_profile(settings: ClusterSettings) -> GatewayProfile:
    """The lab profile standing for the Cilium the offline manifests will meet."""
    wanted = version_tuple(settings.cilium_version)
    for profile in PROFILES.values():
        if profile.cilium_version == settings.cilium_version:
            return profile
    for profile in PROFILES.values():
        if wanted[:2] and version_tuple(profile.cilium_version)[:2] == wanted[:2]:
            return profile
    return PROFILES[DEFAULT_PROFILE]


def _policy_cases(state: ClusterState, statuses: list[PolicyStatus], waves: dict[str, int]) -> list[Case]:
    """One "policy status" result per BackendTLSPolicy, from the status the lab computed."""
    cases = []
    for status in statuses:
        namespace, _, service = status.target.removeprefix("Service ").partition("/")
        hosts = {
            h
            for route in state.manifests.http_routes
            for rule in route.rules
            for ref in rule.backend_refs
            if (ref.namespace, ref.name) == (namespace, service)
            for h in route.hostnames
        }
        wave = min((waves[h] for h in hosts if h in waves), default=None)
        name = status.policy.partition("/")[2]
        obj = f"BackendTLSPolicy {status.policy}"
        findings = []
        if status.accepted is None:
            findings.append(
                _finding(f"{obj} status.ancestors", "Accepted and ResolvedRefs", "no status", status.message)
            )
        else:
            for kind, ok, reason in (
                ("Accepted", status.accepted, status.accepted_reason),
                ("ResolvedRefs", status.resolved_refs, status.resolved_reason),
            ):
                if not ok:
                    found = f"False ({reason}: {status.message})" if status.message else f"False ({reason})"
                    findings.append(_finding(f"{obj} status.ancestors[].conditions[{kind}]", "True", found))
        evidence = {"target": status.target, "status_source": "computed by the lab (offline manifests)"}
        cases.append(
            _case(
                "coverage", _subject(name, wave, status.policy.partition("/")[0]), "policy status", findings, evidence
            )
        )
    return cases


# -- phase 3 -----------------------------------------------------------------------
def _phase3(state: ClusterState) -> list[Case]:
    cluster = _subject("cluster", None)
    left = [f"Ingress {i.namespace}/{i.name}" for i in state.manifests.ingresses]
    classes = [c for c in state.items("ingressclasses") if (c.get("metadata") or {}).get("name") == "nginx"]
    namespaces = [n for n in state.items("namespaces") if (n.get("metadata") or {}).get("name") == "ingress-nginx"]
    controllers = [
        p
        for p in state.items("pods")
        if ((p.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/name") == "ingress-nginx"
    ]
    checks: list[tuple[str, list[Difference]]] = [
        ("no ingress left", [_finding(name, "deleted", "present") for name in left]),
        ("no ingressclass nginx", [_finding("IngressClass nginx", "deleted", "present")] if classes else []),
        (
            "no namespace ingress-nginx",
            [_finding("Namespace ingress-nginx", "deleted", "present")] if namespaces else [],
        ),
        (
            "no controller pod",
            [
                _finding(
                    f"Pod {p['metadata'].get('namespace')}/{p['metadata']['name']} "
                    "labels[app.kubernetes.io/name=ingress-nginx]",
                    "gone",
                    "running",
                )
                for p in controllers
            ],
        ),
    ]
    return [_case("phase3", cluster, probe, findings) for probe, findings in checks]


BUILDERS: dict[str, Callable[[ClusterState, ClusterSettings], list[Case]]] = {
    "phase0": _phase0,
    "phase1": _phase1,
    "coverage": _coverage,
    "phase3": lambda state, settings: _phase3(state),
}


def cluster_cases(kind: str, state: ClusterState, settings: ClusterSettings) -> list[Case]:
    return BUILDERS[kind](state, settings)
