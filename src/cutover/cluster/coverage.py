"""Coverage, per wave: every Ingress rule has an equivalent HTTPRoute rule, with the timeouts,
redirects, backend TLS and allowlist it needs; routes, policies and ArgoCD Applications are
reconciled."""

from __future__ import annotations

from typing import Any

from cutover import annotations as ann
from cutover.checks.base import Case, Difference
from cutover.cluster.common import (
    ClusterSettings,
    cilium_release,
    conditions,
    finding,
    make_case,
    na_case,
    subject,
)
from cutover.cluster.matching import equivalent, listener_protocol, routes_for_host, rule_limit
from cutover.cluster.state import ClusterState, condition
from cutover.facts.cilium import ENVOY_ROUTE_DEFAULT_TIMEOUT, RELEASES, CiliumRelease, first_release
from cutover.lab.envoy_render import PolicyStatus, compute_status, route_status_objects
from cutover.lab.policy import gateway_allowlist, selects_ingress_identity
from cutover.lab.profiles import DEFAULT_PROFILE, PROFILES, GatewayProfile, profile_for_version
from cutover.manifests import BackendTLSPolicy, Ingress
from cutover.targets import ServiceTarget

__all__ = ["coverage_cases", "offline_profile"]


def _rules_case(state: ClusterState, ingress: Ingress, service: ServiceTarget, obj: str) -> Case:
    """Each Ingress rule against the HTTPRoute rules of its host: equivalent, close (a note) or none."""
    regex = ingress.annotation("use-regex").lower() == "true" or bool(ingress.annotation("rewrite-target"))
    findings, notes = [], []
    for item in ingress.paths:
        matches = [
            (route, m.path_type, m.path_value)
            for route in routes_for_host(state, item.host)
            for rule in route.rules
            if "RequestRedirect" not in {f.get("type") for f in rule.filters}
            for m in rule.matches
        ]
        verdicts = [(equivalent(item, t, v, regex), route) for route, t, v in matches]
        exact = [route for verdict, route in verdicts if verdict is None]
        close = [(verdict, route) for verdict, route in verdicts if verdict not in (None, "no")]
        if regex:
            notes.append(f"{item.host}{item.path}: use-regex made nginx match case-insensitively and unanchored")
        if exact:
            continue
        if close:
            notes.append(f"{item.host}{item.path}: {close[0][0]} ({close[0][1].source.ref})")
            continue
        findings.append(
            finding(
                f"{obj} {item.field_path}",
                f"{item.host} {item.path_type} {item.path}",
                "no equivalent HTTPRoute rule",
                note="no HTTPRoute attached to the Gateway matches this host and path",
            )
        )
    return make_case("coverage", service, "rules", findings, {"notes": notes})


def _route_default(version: str | None, release: CiliumRelease | None) -> float | None:
    """The limit a route without timeouts gets: the release's, or Envoy's when the version is unknown."""
    if release is None:
        return ENVOY_ROUTE_DEFAULT_TIMEOUT
    return release.route_default_timeout


def _timeouts_case(
    state: ClusterState, ingress: Ingress, settings: ClusterSettings, service: ServiceTarget, obj: str
) -> Case:
    """Each rule's Gateway timeout against nginx's read timeout, rule by rule.

    nginx's proxy-read-timeout is an idle limit; timeouts.request / backendRequest are a total
    duration (Envoy's route timeout). On a streaming Ingress (proxy-buffering off) a total limit
    at or under the read timeout cuts streams nginx served to the end."""
    read_timeout = ann.read_timeout(ingress)
    streaming = "sse" in ann.checks_for(ingress)
    version, release = cilium_release(state, settings)
    route_default = _route_default(version, release)
    findings: list[Difference] = []
    rules: list[dict[str, Any]] = []
    field = f"{obj} metadata.annotations[proxy-read-timeout]"
    for item in ingress.paths:
        found = rule_limit(state, item)
        if found is None:
            continue
        limit, where = found
        rules.append({"rule": f"{item.host}{item.path}", "route_rule": where, "route_timeout": limit})
        what = f"HTTPRoute timeout {limit:g} s ({where})" if limit is not None else f"no HTTPRoute timeout ({where})"
        if limit is not None and limit < read_timeout:
            findings.append(
                finding(
                    f"{field} for {item.host}{item.path}",
                    f"{read_timeout} s",
                    what,
                    note="the route gives up sooner than nginx did"
                    + ("; and it is a total duration, nginx's is an idle limit" if streaming else ""),
                )
            )
        elif limit is not None and streaming:
            total = finding(
                f"{field} for {item.host}{item.path}",
                f"{read_timeout} s (idle)",
                f"{what}, a total",
                note=f"timeouts.request is a total duration: a stream still running at {limit:g} s is cut, while "
                f"nginx's proxy-read-timeout {read_timeout} s is an idle limit; remove timeouts.request and "
                "backendRequest or set them above the longest stream",
            )
            if limit > read_timeout:
                # Above the read timeout it may be longer than every stream: the sse probes decide.
                total.severity = "warn"
            findings.append(total)
        elif limit is None and route_default is not None and read_timeout > route_default:
            findings.append(
                finding(
                    f"{field} for {item.host}{item.path}",
                    f"{read_timeout} s",
                    what,
                    note=f"Cilium {version or '(unknown version)'}: Envoy's {route_default:g} s route default "
                    "may apply; set timeouts.request",
                )
            )
    evidence = {"nginx_read_timeout": read_timeout, "streaming": streaming, "rules": rules, "cilium": version}
    return make_case("coverage", service, "timeouts", findings, evidence)


def _redirect_cases(state: ClusterState, ingress: Ingress, service: ServiceTarget, obj: str) -> list[Case]:
    """ssl-redirect: a `scheme: https` redirect route on the HTTP listener, and none on HTTPS (it loops)."""
    cases = []
    for host in ingress.hosts:
        redirect_routes = [
            (route, parent)
            for route in routes_for_host(state, host)
            for rule in route.rules
            for f in rule.filters
            if f.get("type") == "RequestRedirect" and (f.get("requestRedirect") or {}).get("scheme") == "https"
            for parent in route.parent_refs
        ]
        http_only = [
            (route, parent)
            for route, parent in redirect_routes
            if parent.section_name
            and listener_protocol(state, parent.namespace, parent.name, parent.section_name) == "HTTP"
        ]
        loops = [
            (route, parent)
            for route, parent in redirect_routes
            if not parent.section_name
            or listener_protocol(state, parent.namespace, parent.name, parent.section_name) == "HTTPS"
        ]
        findings = []
        if not http_only:
            findings.append(
                finding(
                    f"{obj} metadata.annotations[ssl-redirect]",
                    "a redirect HTTPRoute on the HTTP listener",
                    "none",
                    note=f"plain HTTP to {host} will be served, not redirected",
                )
            )
        for route, _ in loops:
            findings.append(
                finding(
                    f"{route.source.ref} spec.parentRefs[].sectionName",
                    "the HTTP listener only",
                    "also the HTTPS listener",
                    note="a redirect on HTTPS loops",
                )
            )
        cases.append(make_case("coverage", service, f"redirect {host}", findings))
    return cases


def _backend_tls_case(
    state: ClusterState, ingress: Ingress, settings: ClusterSettings, service: ServiceTarget, obj: str
) -> Case:
    """backend-protocol HTTPS: a BackendTLSPolicy this Cilium reconciles, or option B."""
    services = {p.backend.service for p in ingress.paths}
    policies = [
        p
        for p in state.manifests.backend_tls_policies
        if p.namespace == ingress.namespace and any(t.name in services for t in p.targets)
    ]
    version, release = cilium_release(state, settings)
    findings = []
    if ingress.name in settings.option_b:
        pass
    elif not policies:
        findings.append(
            finding(
                f"{obj} metadata.annotations[backend-protocol]",
                "a BackendTLSPolicy or option B",
                "neither",
                note="the Gateway would talk plaintext to an HTTPS backend",
            )
        )
    else:
        findings += _policy_findings(policies[0], version, release)
    evidence = {"policies": [p.source.ref for p in policies], "option_b": ingress.name in settings.option_b}
    return make_case("coverage", service, "backend tls", findings, evidence)


def _policy_findings(policy: BackendTLSPolicy, version: str | None, release: CiliumRelease | None) -> list[Difference]:
    """A BackendTLSPolicy against the release that will read it (facts/cilium.py)."""
    findings = []
    since = first_release(lambda r: r.supports_backend_tls_policy)
    if release is not None and not release.supports_backend_tls_policy:
        findings.append(
            finding(
                policy.source.ref,
                f"Cilium >= {since.minor}",
                version,
                note="this Cilium ignores BackendTLSPolicy; declare option B or upgrade",
            )
        )
    reader = release if release is not None and release.supports_backend_tls_policy else since
    if policy.api_version not in reader.backend_tls_policy_versions:
        findings.append(
            finding(
                f"{policy.source.ref} apiVersion",
                " or ".join(reader.backend_tls_policy_versions),
                policy.api_version,
                note=f"Cilium {reader.minor} reads BackendTLSPolicy "
                + ", ".join(v.rpartition("/")[2] for v in reader.backend_tls_policy_versions),
            )
        )
    if policy.well_known_ca == "System" and not policy.ca_config_maps:
        buggy = ", ".join(r.version for r in RELEASES if r.well_known_ca_plaintext_bug)
        findings.append(
            finding(
                f"{policy.source.ref} spec.validation.wellKnownCACertificates",
                "caCertificateRefs",
                "System",
                note="an in-cluster certificate is not signed by a public CA; "
                f"also plaintext on Cilium {buggy} (cilium#48307)",
            )
        )
    return findings


def _source_ip_case(state: ClusterState, service: ServiceTarget, obj: str) -> Case:
    """whitelist-source-range: only a policy on the reserved:ingress identity sees the client."""
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
            finding(
                f"{obj} metadata.annotations[whitelist-source-range]",
                "a policy on the reserved:ingress identity",
                found,
                note=note,
            )
        )
    return make_case("coverage", service, "allowlist policy", findings, {"gateway_policies": allowlist.policies})


def _ingress_cases(state: ClusterState, ingress: Ingress, settings: ClusterSettings, wave: int) -> list[Case]:
    service = subject(ingress.name, wave, ingress.namespace)
    obj = f"Ingress {ingress.namespace}/{ingress.name}"
    checks = ann.checks_for(ingress)
    cases = [_rules_case(state, ingress, service, obj), _timeouts_case(state, ingress, settings, service, obj)]
    if "redirects" in checks:
        cases += _redirect_cases(state, ingress, service, obj)
    if "backend_tls" in checks:
        cases.append(_backend_tls_case(state, ingress, settings, service, obj))
    if "source_ip" in checks:
        cases.append(_source_ip_case(state, service, obj))
    return cases


def offline_profile(settings: ClusterSettings) -> GatewayProfile:
    """The lab profile standing for the Cilium the offline manifests will meet: the release row
    that applies to the given version, else the lab's default profile."""
    if settings.cilium_version:
        return profile_for_version(settings.cilium_version)
    return PROFILES[DEFAULT_PROFILE]


def _route_status_cases(state: ClusterState, settings: ClusterSettings, waves: dict[str, int]) -> list[Case]:
    """Every HTTPRoute Accepted with its references resolved (offline: as the lab computes it)."""
    cases = []
    computed: dict[str, list[dict[str, Any]]] = {}
    profile = offline_profile(settings)
    if not state.live:
        # Offline manifests carry no status: compute it as the lab renders the Gateway side.
        route_statuses, policy_statuses = compute_status(state.manifests, profile)
        computed = route_status_objects(route_statuses)
        cases.extend(_policy_cases(state, policy_statuses, waves))
    for route in state.manifests.http_routes:
        wave = min((waves[h] for h in route.hostnames if h in waves), default=None)
        service = subject(route.name, wave, route.namespace)
        statuses = (route.raw.get("status") or {}).get("parents") or []
        obj = f"HTTPRoute {route.namespace}/{route.name}"
        evidence = {"note": "HTTPRoutes have Accepted and ResolvedRefs; there is no Programmed condition on routes"}
        if not statuses and not state.live:
            statuses = computed.get(f"{route.namespace}/{route.name}", [])
            evidence["status_source"] = f"computed by the lab as {profile.name} would write it (offline manifests)"
        if not statuses:
            if not state.live:
                cases.append(na_case("coverage", service, f"{obj}: offline manifests carry no status"))
                continue
            unreconciled = finding(
                f"{obj} status.parents",
                "Accepted and ResolvedRefs",
                "no status",
                note="no controller has reconciled this route",
            )
            cases.append(make_case("coverage", service, "route status", [unreconciled]))
            continue
        findings = []
        for index, parent in enumerate(statuses):
            accepted = condition({"status": parent}, "Accepted") or {}
            refused = accepted.get("status") == "False" and condition({"status": parent}, "ResolvedRefs") is None
            # A refused parent: Cilium resolves no references for it, Accepted False says it all.
            wanted = ("Accepted",) if refused else ("Accepted", "ResolvedRefs")
            findings += conditions(obj, {"status": parent}, wanted, path=f"status.parents[{index}].conditions")
        cases.append(make_case("coverage", service, "route status", findings, {**evidence, "parents": statuses}))
    for rejected in state.manifests.rejected:
        refusal = finding(rejected.source.ref, "a valid object", "rejected by the API server", note=rejected.error)
        wave = min((waves[h] for h in rejected.hostnames if h in waves), default=None)
        service = subject(rejected.source.name, wave, rejected.source.namespace)
        cases.append(make_case("coverage", service, "route status", [refusal]))
    return cases


def _application_cases(state: ClusterState) -> list[Case]:
    """ArgoCD Applications Synced and Healthy."""
    cases = []
    for app in state.items("applications"):
        name = f"{app['metadata'].get('namespace', '')}/{app['metadata']['name']}"
        status = app.get("status") or {}
        sync, health = (status.get("sync") or {}).get("status"), (status.get("health") or {}).get("status")
        findings = []
        if sync != "Synced":
            findings.append(finding(f"Application {name} status.sync.status", "Synced", sync))
        if health != "Healthy":
            findings.append(finding(f"Application {name} status.health.status", "Healthy", health))
        cases.append(make_case("coverage", subject(app["metadata"]["name"], None), "argocd application", findings))
    return cases


def _policy_cases(state: ClusterState, statuses: list[PolicyStatus], waves: dict[str, int]) -> list[Case]:
    """One "policy status" result per BackendTLSPolicy, from the status the lab computed."""
    cases = []
    for status in statuses:
        namespace, _, service_name = status.target.removeprefix("Service ").partition("/")
        hosts = {
            h
            for route in state.manifests.http_routes
            for rule in route.rules
            for ref in rule.backend_refs
            if (ref.namespace, ref.name) == (namespace, service_name)
            for h in route.hostnames
        }
        wave = min((waves[h] for h in hosts if h in waves), default=None)
        name = status.policy.partition("/")[2]
        obj = f"BackendTLSPolicy {status.policy}"
        findings = []
        if status.accepted is None:
            findings.append(
                finding(f"{obj} status.ancestors", "Accepted and ResolvedRefs", "no status", status.message)
            )
        else:
            for kind, ok, reason in (
                ("Accepted", status.accepted, status.accepted_reason),
                ("ResolvedRefs", status.resolved_refs, status.resolved_reason),
            ):
                if not ok:
                    found = f"False ({reason}: {status.message})" if status.message else f"False ({reason})"
                    findings.append(finding(f"{obj} status.ancestors[].conditions[{kind}]", "True", found))
        evidence = {"target": status.target, "status_source": "computed by the lab (offline manifests)"}
        service = subject(name, wave, status.policy.partition("/")[0])
        cases.append(make_case("coverage", service, "policy status", findings, evidence))
    return cases


def coverage_cases(state: ClusterState, settings: ClusterSettings) -> list[Case]:
    cases = []
    by_ingress = ann.group_waves(state.manifests.ingresses)
    for ingress in state.manifests.ingresses:
        cases.extend(_ingress_cases(state, ingress, settings, by_ingress[id(ingress)]))
    waves = {h: by_ingress[id(i)] for i in state.manifests.ingresses for h in i.hosts}
    cases.extend(_route_status_cases(state, settings, waves))
    cases.extend(_application_cases(state))
    return cases
