"""The Gateway side on real-world folders: references and ReferenceGrant, route and policy
status (and how the offline cluster checks report it), merged routes, slashes, outlier
detection, BackendTLSPolicy conflicts and the redirect Location per Cilium version."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from cutover.checks.base import ProbeContext
from cutover.checks.redirects import location_parts
from cutover.cluster.checks import ClusterSettings, cluster_cases
from cutover.cluster.source import ManifestSource
from cutover.cluster.state import read_state
from cutover.errors import InputError
from cutover.lab.envoy_render import compute_status
from cutover.lab.profiles import get_profile
from cutover.manifests import load_manifests
from cutover.probe import Endpoint, fetch
from cutover.targets import parse_targets
from tests.conftest import CORRECTED, OFFICE, RunningLab, run_checks
from tests.test_gateway_conformance_table import FOLDER

GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: cilium
  listeners:
    - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
"""


def service(name: str, namespace: str = "apps", port: int = 8080) -> str:
    return (
        f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec:\n  selector: {{app: {name}}}\n  ports: [{{port: {port}}}]\n"
    )


def route(name: str, host: str, body: str, namespace: str = "apps") -> str:
    return (
        f"---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec:\n  parentRefs: [{{name: gw, namespace: apps}}]\n  hostnames: [{host}]\n  rules:\n{body}"
    )


def folder(tmp_path: Path, *documents: str) -> Path:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "objects.yaml").write_text(GATEWAY + "".join(documents))
    return manifests


def statuses(manifests: Path, profile: str = "cilium-1.17") -> dict[str, tuple[bool, str, bool, str]]:
    routes, _ = compute_status(load_manifests(manifests), get_profile(profile))
    return {s.route: (s.accepted, s.accepted_reason, s.resolved_refs, s.resolved_reason) for s in routes}


# -- references ---------------------------------------------------------------------
def test_conformance_folder_statuses_carry_ciliums_reasons() -> None:
    found = statuses(FOLDER)
    assert found["conf-infra/not-granted"] == (True, "Accepted", False, "RefNotPermitted")
    assert found["conf-infra/missing-backend"] == (True, "Accepted", False, "BackendNotFound")
    assert found["conf-infra/unknown-kind"] == (True, "Accepted", False, "InvalidKind")
    assert found["conf-infra/no-such-listener"][:2] == (False, "NoMatchingParent")
    assert found["conf-infra/granted"] == (True, "Accepted", True, "ResolvedRefs")
    assert found["conf-app/cross-namespace"] == (True, "Accepted", True, "ResolvedRefs")


def test_a_grant_for_another_service_or_namespace_permits_nothing(tmp_path: Path) -> None:
    """Seeded just beside the threshold: the grant exists but names another Service, or
    grants routes of another namespace."""
    grant = (
        "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\n"
        "metadata: {{name: g, namespace: web}}\nspec:\n"
        "  from: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: {ns}}}]\n"
        "  to: [{{group: '', kind: Service, name: {name}}}]\n"
    )
    body = "    - backendRefs: [{name: web, namespace: web, port: 8080}]\n"
    for ns, name, expected in (
        ("apps", "web", "ResolvedRefs"),
        ("apps", "web-other", "RefNotPermitted"),
        ("other", "web", "RefNotPermitted"),
    ):
        case = tmp_path / f"{ns}-{name}"
        case.mkdir()
        manifests = folder(case, service("web", "web"), grant.format(ns=ns, name=name), route("r", "a.example", body))
        assert statuses(manifests)["apps/r"][3] == expected, (ns, name)


def test_a_folder_without_services_infers_them_and_says_so(
    tmp_path: Path, start_lab: Callable[..., RunningLab]
) -> None:
    manifests = folder(tmp_path, route("r", "a.example", "    - backendRefs: [{name: api, port: 8080}]\n"))
    lab = start_lab(manifests)
    assert lab.targets.source["services"] == "inferred from the routes (the folder has no Service)"
    result = lab.get("gateway", "a.example", "/", scheme="http")
    assert (result.status, result.backend) == (200, "apps/api")


def test_a_port_the_service_lacks_answers_503_with_refs_resolved(
    tmp_path: Path, start_lab: Callable[..., RunningLab]
) -> None:
    """Cilium checks only that a port is set (routechecks CheckBackend): the cluster has no
    endpoint, Envoy answers 503, ResolvedRefs stays True. One port off the real one."""
    manifests = folder(
        tmp_path,
        service("api"),
        route("wrong-port", "a.example", "    - backendRefs: [{name: api, port: 8081}]\n"),
        route("right-port", "b.example", "    - backendRefs: [{name: api, port: 8080}]\n"),
    )
    assert statuses(manifests)["apps/wrong-port"] == (True, "Accepted", True, "ResolvedRefs")
    lab = start_lab(manifests)
    assert lab.get("gateway", "a.example", "/", scheme="http").status == 503
    assert lab.get("gateway", "b.example", "/", scheme="http").backend == "apps/api"


# -- merging ------------------------------------------------------------------------
def test_identical_matches_from_two_routes_are_load_balanced(
    tmp_path: Path, start_lab: Callable[..., RunningLab]
) -> None:
    """Cilium merges identical matches (envoyHTTPRoutes, GetMatchKey): both backends answer;
    the first route's filters apply. A match that differs by one header is not merged."""
    first = (
        "    - matches: [{path: {type: PathPrefix, value: /api}}]\n"
        "      filters:\n        - type: ResponseHeaderModifier\n"
        "          responseHeaderModifier: {set: [{name: X-From, value: first}]}\n"
        "      backendRefs: [{name: one, port: 8080}]\n"
    )
    second = "    - matches: [{path: {type: PathPrefix, value: /api}}]\n      backendRefs: [{name: two, port: 8080}]\n"
    third = (
        "    - matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: x-canary, value: 'yes'}]}]\n"
        "      backendRefs: [{name: three, port: 8080}]\n"
    )
    manifests = folder(
        tmp_path,
        service("one"),
        service("two"),
        service("three"),
        route("first", "m.example", first),
        route("second", "m.example", second),
        route("third", "m.example", third),
    )
    lab = start_lab(manifests)
    answered = Counter()
    for _ in range(30):
        result = lab.get("gateway", "m.example", "/api/x", scheme="http")
        assert result.status == 200
        assert result.header("x-from") == "first"
        answered[result.backend] += 1
    assert set(answered) == {"apps/one", "apps/two"}, answered
    canary = lab.get("gateway", "m.example", "/api/x", scheme="http", headers={"x-canary": "yes"})
    assert canary.backend == "apps/three"


# -- listeners ----------------------------------------------------------------------------
TWO_HTTPS_PORTS = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: cilium
  listeners:
    - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: tls}]}}
    - {name: https-alt, port: 8443, protocol: HTTPS, tls: {certificateRefs: [{name: tls}]}}
"""


@pytest.mark.parametrize(("profile", "isolated"), [("cilium-1.17", False), ("cilium-1.20", True)])
def test_one_hostname_on_two_https_ports(
    tmp_path: Path, start_lab: Callable[..., RunningLab], profile: str, isolated: bool
) -> None:
    """Before cilium/cilium#44889 every HTTPS listener shares one route configuration, so the
    two routes' identical matches merge and both ports load-balance them; 1.20 separates ports."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    rule = "    - backendRefs: [{{name: {}, port: 8080}}]\n"
    routes = [
        route(name, "s.example", rule.format(backend)).replace(
            "{name: gw, namespace: apps}", f"{{name: gw, sectionName: {section}}}"
        )
        for name, backend, section in (("r443", "one", "https"), ("r8443", "two", "https-alt"))
    ]
    (manifests / "objects.yaml").write_text(TWO_HTTPS_PORTS + service("one") + service("two") + "".join(routes))
    lab = start_lab(manifests, profile=profile)
    alt = next(e for e in lab.targets.source["gateway_listeners"] if e["port"] == 8443)
    alt_endpoint = Endpoint("gateway", alt["address"], alt["lab_port"], alt["lab_port"])
    seen: dict[str, set[str]] = {"443": set(), "8443": set()}
    for _ in range(16):
        seen["443"].add(str(lab.get("gateway", "s.example", "/").backend))
        seen["8443"].add(
            str(fetch(alt_endpoint, "s.example", "/", source=OFFICE, ca_bundle=lab.targets.ca_bundle).backend)
        )
    if isolated:
        assert seen == {"443": {"apps/one"}, "8443": {"apps/two"}}
    else:
        assert seen == {"443": {"apps/one", "apps/two"}, "8443": {"apps/one", "apps/two"}}


# -- slashes, outlier detection --------------------------------------------------------
def test_the_gateway_does_not_merge_slashes(start_lab: Callable[..., RunningLab]) -> None:
    """Cilium's connection manager leaves merge_slashes unset (envoy_http_connection_manager.go)."""
    lab = start_lab(FOLDER, profile="cilium-1.17")
    result = lab.get("gateway", "prefix.example", "//v2//x", scheme="http")
    assert result.status == 200
    data = result.json or {}
    assert data["raw_target"] == "//v2//x"
    assert data["service"] == "conf-infra/backend-v1"  # `//v2` is not the /v2 prefix


def test_every_cluster_has_outlier_detection(start_lab: Callable[..., RunningLab]) -> None:
    lab = start_lab(FOLDER, profile="cilium-1.17")
    assert lab.lab.envoy is not None
    clusters = lab.lab.envoy.bootstrap["static_resources"]["clusters"]
    assert clusters and all(c["outlier_detection"] == {"split_external_local_origin_errors": True} for c in clusters)


# -- BackendTLSPolicy conflicts ---------------------------------------------------------
def test_the_oldest_backend_tls_policy_wins(tmp_path: Path, start_lab: Callable[..., RunningLab]) -> None:
    """Two policies one second apart on the same Service: the older one's hostname is the SNI,
    the newer one is Conflicted. Written newer-first, so file order cannot be what decides."""
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    policy_file = manifests / "gateway" / "argocd-backendtls.yaml"
    original = policy_file.read_text()
    older = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    newer = older + dt.timedelta(seconds=1)
    stamped = original.replace(
        "namespace: argocd\n", f"namespace: argocd\n  creationTimestamp: '{older.isoformat()}'\n", 1
    )
    rival = (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\n"
        f"metadata: {{name: argocd-rival, namespace: argocd, creationTimestamp: '{newer.isoformat()}'}}\n"
        "spec:\n  targetRefs: [{group: '', kind: Service, name: argocd-server}]\n"
        "  validation:\n    caCertificateRefs: [{group: '', kind: ConfigMap, name: argocd-server-ca}]\n"
        "    hostname: rival.argocd.svc\n---\n"
    )
    policy_file.write_text(rival + stamped)
    objects = load_manifests(manifests)
    _, policies = compute_status(objects, get_profile("cilium-1.20"))
    by_name = {p.policy: p for p in policies}
    assert by_name["argocd/argocd-rival"].accepted_reason == "Conflicted"
    assert by_name["argocd/argocd-backend-tls"].accepted is True, by_name
    # Through real Envoy: the older policy's hostname is the SNI (the rival's would fail validation).
    result = start_lab(manifests).get("gateway", "argocd.metalkube.internal", "/")
    assert result.status == 200
    assert (result.json or {})["tls"]["sni"] == "argocd-server.argocd.svc"


# -- status as offline cluster-check results --------------------------------------------
def coverage_status_results(manifests: Path) -> dict[str, list[str]]:
    state = read_state(ManifestSource(manifests))
    settings = ClusterSettings(cilium_version=get_profile("cilium-1.20").cilium_version)
    results = {}
    context = ProbeContext(
        parse_targets({"endpoints": {"nginx": {"address": "-"}, "gateway": {"address": "-"}}, "services": []})
    )
    for case in cluster_cases("coverage", state, settings):
        if case.probe in ("route status", "policy status"):
            results[f"{case.service.name} {case.probe}"] = [d.line() for d in case.run(context).failures]
    return results


def test_offline_route_status_results_pass_on_the_corrected_folder() -> None:
    results = coverage_status_results(CORRECTED)
    assert "grafana route status" in results and "argocd-backend-tls policy status" in results
    assert all(not lines for lines in results.values()), results


def test_a_refused_route_is_a_failing_result_and_the_rest_still_runs(
    tmp_path: Path, start_lab: Callable[..., RunningLab]
) -> None:
    """One letter off the listener's name on one route: that route fails with Cilium's reason
    (NoMatchingParent); the lab still starts and serves every other route."""
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    routes = manifests / "gateway" / "httproutes.yaml"
    text = routes.read_text()
    grafana, rest = text.split("\n---\n", 1)
    routes.write_text(grafana.replace("sectionName: https", "sectionName: httpss") + "\n---\n" + rest)
    results = coverage_status_results(manifests)
    assert any("NoMatchingParent" in line for line in results["grafana route status"]), results
    assert all(not lines for name, lines in results.items() if not name.startswith("grafana")), results
    lab = start_lab(manifests)
    assert lab.get("gateway", "grafana.metalkube.internal", "/").status == 404
    assert lab.get("gateway", "qdrant.metalkube.internal", "/").backend == "inference/qdrant"


def test_a_route_naming_an_unknown_gateway_is_refused_alone(
    tmp_path: Path, start_lab: Callable[..., RunningLab]
) -> None:
    orphan = (
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        "metadata: {name: orphan, namespace: apps}\n"
        "spec:\n  parentRefs: [{name: no-such-gateway}]\n  hostnames: [o.example]\n"
        "  rules: [{backendRefs: [{name: api, port: 8080}]}]\n"
    )
    manifests = folder(
        tmp_path, service("api"), orphan, route("r", "a.example", "    - backendRefs: [{name: api, port: 8080}]\n")
    )
    assert statuses(manifests)["apps/orphan"][:2] == (False, "InvalidHTTPRoute")
    lab = start_lab(manifests)
    assert any("HTTPRoute apps/orphan" in note and "no-such-gateway" in note for note in lab.targets.notes)
    assert lab.get("gateway", "a.example", "/", scheme="http").backend == "apps/api"
    assert lab.get("gateway", "o.example", "/", scheme="http").status == 404


def test_a_route_the_api_server_would_reject_is_refused_alone(
    tmp_path: Path, start_lab: Callable[..., RunningLab]
) -> None:
    """An invalid HTTPRoute (a timeout that is not a duration) never reaches Cilium: the lab and
    the offline cluster check refuse that route only; the strict loader still names the field."""
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    routes = manifests / "gateway" / "httproutes.yaml"
    text = routes.read_text()
    grafana, rest = text.split("\n---\n", 1)
    broken = grafana.replace("      backendRefs:", "      timeouts: {request: two minutes}\n      backendRefs:", 1)
    routes.write_text(broken + "\n---\n" + rest)
    with pytest.raises(InputError, match=r"spec.rules\[0\].timeouts.request"):
        load_manifests(manifests)
    results = coverage_status_results(manifests)
    assert any(
        "rejected by the API server" in line and "timeouts.request" in line for line in results["grafana route status"]
    )
    lab = start_lab(manifests)
    assert any("HTTPRoute monitoring/grafana" in n and "would reject" in n for n in lab.targets.notes)
    assert lab.get("gateway", "grafana.metalkube.internal", "/").status == 404
    assert lab.get("gateway", "mlflow.metalkube.internal", "/api").backend == "mlflow/mlflow"


# -- redirects -------------------------------------------------------------------------
def same_location(first: str, second: str) -> bool:
    """How the redirects check compares Locations: part by part, a scheme's default port filled in."""
    return location_parts(first) == location_parts(second)


def test_a_default_port_is_the_same_location_and_any_other_is_not() -> None:
    assert same_location("https://a.example:443/x?q=1", "https://a.example/x?q=1")
    assert same_location("http://a.example:80/", "http://a.example/")
    assert not same_location("https://a.example:8443/x", "https://a.example/x")
    assert not same_location("http://a.example:443/x", "http://a.example/x")
    assert not same_location("https://b.example:443/x", "https://a.example/x")


@pytest.mark.parametrize("profile", ["cilium-1.17", "cilium-1.20"])
def test_scheme_redirect_location_carries_ciliums_port(profile: str, start_lab: Callable[..., RunningLab]) -> None:
    lab = start_lab(FOLDER, profile=profile)
    result = fetch(lab.gateway, "redirect.example", "/scheme", scheme="http", source=OFFICE, timeout=10.0)
    assert (result.status, result.header("location")) == (301, "https://redirect.example:443/scheme")


def test_redirects_check_catches_a_redirect_to_the_wrong_port() -> None:
    """Seeded: the redirect sends clients to 8443 instead of 443; the clean run passes (the
    corrected folder's :443 Location is the same place as nginx's)."""
    faulted = run_checks(
        "--manifests", str(CORRECTED), "--fault", "redirect-port-8443", "-m", "redirects", "-k", "grafana"
    )
    assert faulted.returncode == 1, faulted.stdout[-3000:]
    # The Location is compared part by part: only the port differs.
    assert "location port: nginx 443, gateway 8443" in faulted.stdout, faulted.stdout[-3000:]
    assert "location host:" not in faulted.stdout and "location path:" not in faulted.stdout
    clean = run_checks("--manifests", str(CORRECTED), "-m", "redirects", "-k", "grafana")
    assert clean.returncode == 0, clean.stdout[-3000:]
