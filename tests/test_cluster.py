"""Cluster checks through a Kubernetes API over real HTTP (kmock's emulator) and offline YAML:
a clean cluster passes, each failure names the object and the field, nothing is ever written."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.checks.base import ProbeContext
from cutover.cluster.checks import ClusterSettings, cluster_cases
from cutover.cluster.source import RESOURCES, ApiSource, ManifestSource
from cutover.cluster.state import ClusterState, read_state
from cutover.targets import parse_targets
from tests.conftest import CORRECTED, METALKUBE, ROOT
from tests.kube_emulator import KubeEmulator, objects_from_yaml

GATEWAY_CRDS = ("gateways", "gatewayclasses", "httproutes", "grpcroutes", "referencegrants", "backendtlspolicies")
# A v1.2.1 cluster serves BackendTLSPolicy as v1alpha3 only; a v1.6.1 one as v1.
OMIT_V1_BTLS = ("gateway.networking.k8s.io/v1/backendtlspolicies",)
OMIT_ALPHA_BTLS = ("gateway.networking.k8s.io/v1alpha3/backendtlspolicies",)


def _ok(kind: str) -> dict[str, Any]:
    return {"type": kind, "status": "True", "reason": kind}


def cluster_objects(manifests: Path, bundle: str, cilium: str) -> list[dict[str, Any]]:
    """The manifests as a reconciled cluster would hold them: statuses, CRDs, controllers."""
    objects = [o for o in objects_from_yaml(manifests) if o.get("kind") not in ("Secret",)]
    for obj in objects:
        if obj["kind"] == "Gateway":
            obj["status"] = {
                "conditions": [_ok("Accepted"), _ok("Programmed")],
                "addresses": [{"type": "IPAddress", "value": "192.0.2.100"}],
            }
        if obj["kind"] == "HTTPRoute":
            obj["status"] = {
                "parents": [
                    {
                        "parentRef": p,
                        "controllerName": "io.cilium/gateway-controller",
                        "conditions": [_ok("Accepted"), _ok("ResolvedRefs")],
                    }
                    for p in obj["spec"]["parentRefs"]
                ]
            }
    objects += [
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {
                "name": f"{name}.gateway.networking.k8s.io",
                "annotations": {"gateway.networking.k8s.io/bundle-version": bundle},
            },
        }
        for name in GATEWAY_CRDS
    ]
    objects += [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "cilium"},
            "spec": {"controllerName": "io.cilium/gateway-controller"},
            "status": {"conditions": [_ok("Accepted")]},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "cilium-x7k2p", "namespace": "kube-system", "labels": {"k8s-app": "cilium"}},
            "spec": {"containers": [{"name": "cilium-agent", "image": f"quay.io/cilium/cilium:v{cilium}@sha256:abc"}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "cert-manager-6d9f", "namespace": "cert-manager"},
            "spec": {
                "containers": [
                    {"name": "cert-manager-controller", "image": "quay.io/jetstack/cert-manager-controller:v1.14.4"}
                ]
            },
        },
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "gateway", "namespace": "argocd"},
            "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
        },
    ]
    return objects


def legacy_objects() -> list[dict[str, Any]]:
    """What phase 3 looks for: the old controller still installed."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ingress-nginx"}},
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "nginx"},
            "spec": {"controller": "k8s.io/ingress-nginx"},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "ingress-nginx-controller-5f8",
                "namespace": "ingress-nginx",
                "labels": {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
            },
            "spec": {
                "containers": [{"name": "controller", "image": "registry.k8s.io/ingress-nginx/controller:v1.15.1"}]
            },
        },
    ]


Outcomes = dict[str, list[str]]


def run_cases(state: ClusterState, kind: str, settings: ClusterSettings | None = None) -> Outcomes:
    """probe id -> failure lines (empty: passed); skipped cases map to ['SKIP: reason']."""
    context = ProbeContext(
        parse_targets({"endpoints": {"nginx": {"address": "-"}, "gateway": {"address": "-"}}, "services": []})
    )
    result: Outcomes = {}
    for case in cluster_cases(kind, state, settings or ClusterSettings()):
        if case.runner is None:
            result[case.id] = [f"SKIP: {case.skip_reason}"]
            continue
        result[case.id] = [d.line() for d in case.run(context).failures]
    return result


@pytest.fixture
def emulate() -> Iterator[Callable[..., ClusterState]]:
    emulators: list[KubeEmulator] = []

    def start(objects: list[dict[str, Any]], omit: tuple[str, ...] = ()) -> ClusterState:
        emulator = KubeEmulator(objects, omit=omit)
        emulator.start()
        emulators.append(emulator)
        return read_state(ApiSource(emulator.api_client(), "emulated cluster"))

    yield start
    for emulator in emulators:
        # Every check only ever read: no write verb reached the API.
        assert emulator.write_requests == []
        assert {method for method, _ in emulator.requests} == {"GET"}
        emulator.stop()


def corrected_cluster() -> list[dict[str, Any]]:
    return cluster_objects(CORRECTED, "v1.6.1", "1.20.0")


V161 = ClusterSettings(bundle_version="v1.6.1")


def without(objects: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    return [o for o in objects if not (o["kind"] == kind and o["metadata"]["name"] == name)]


def edit(
    objects: list[dict[str, Any]], kind: str, name: str, change: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    result = copy.deepcopy(objects)
    for obj in result:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            change(obj)
    return result


# -- phase 0 -------------------------------------------------------------------------
def test_inventory_matches_the_plan_offline_and_live(emulate: Callable[..., ClusterState]) -> None:
    for state in (
        read_state(ManifestSource(METALKUBE)),
        emulate(cluster_objects(METALKUBE, "v1.2.1", "1.17.4"), omit=OMIT_V1_BTLS),
    ):
        outcomes = run_cases(state, "phase0")
        assert outcomes["cluster[6 Ingresses]"] == []
        assert all(lines == [] for lines in outcomes.values())
        case = next(c for c in cluster_cases("phase0", state, ClusterSettings()) if c.service.name == "cluster")
        assert case.run(
            ProbeContext(
                parse_targets({"endpoints": {"nginx": {"address": "-"}, "gateway": {"address": "-"}}, "services": []})
            )
        ).evidence["complexity"] == {"HIGH": 1, "MEDIUM": 2, "LOW": 3}


def test_misspelled_and_unsupported_annotations(emulate: Callable[..., ClusterState]) -> None:
    def typo(obj: dict[str, Any]) -> None:
        obj["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirekt"] = "true"
        obj["metadata"]["annotations"]["nginx.ingress.kubernetes.io/configuration-snippet"] = "more_set_headers x;"

    state = emulate(edit(cluster_objects(METALKUBE, "v1.2.1", "1.17.4"), "Ingress", "grafana", typo))
    lines = run_cases(state, "phase0")["grafana[inventory]"]
    assert any(
        "Ingress monitoring/grafana metadata.annotations[nginx.ingress.kubernetes.io/ssl-redirekt]" in line
        and "a typo nginx silently ignored" in line
        for line in lines
    )
    assert any("configuration-snippet" in line and "raw nginx configuration" in line for line in lines)


def test_cutover_inventory_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cutover.cli",
            "inventory",
            "--manifests",
            str(METALKUBE),
            "--out",
            str(tmp_path),
            "--draft-targets",
            str(tmp_path / "targets.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "6 Ingresses" in result.stdout and "1 HIGH, 2 MEDIUM, 3 LOW" in result.stdout
    inventory = json.loads((tmp_path / "inventory.json").read_text())
    assert inventory["summary"]["complexity"] == {"HIGH": 1, "MEDIUM": 2, "LOW": 3}
    qdrant = next(r for r in inventory["ingresses"] if r["name"] == "qdrant")
    allowlist = next(a for a in qdrant["annotations"] if a["key"].endswith("whitelist-source-range"))
    assert (allowlist["category"], allowlist["check"]) == ("runtime", "source_ip")
    buffering = next(
        a
        for a in next(r for r in inventory["ingresses"] if r["name"] == "llm-gateway")["annotations"]
        if a["key"].endswith("proxy-buffering")
    )
    assert buffering["check"] == "sse"
    backups = list(tmp_path.glob("ingress-backup-*.yaml"))
    assert len(backups) == 1 and len(yaml.safe_load(backups[0].read_text())["items"]) == 6
    draft = parse_targets(yaml.safe_load((tmp_path / "targets.yaml").read_text()))
    assert {s.name: s.wave for s in draft.services}["argocd"] == 3
    assert "source_ip" in {s.name: s.checks for s in draft.services}["qdrant"]


def test_ingress_hosts_missing_from_the_targets(emulate: Callable[..., ClusterState]) -> None:
    state = emulate(cluster_objects(METALKUBE, "v1.2.1", "1.17.4"), omit=OMIT_V1_BTLS)
    hosts = {"grafana.metalkube.internal", "api.metalkube.internal"}
    lines = run_cases(state, "phase0", ClusterSettings(target_hosts=hosts))["cluster[6 Ingresses]"]
    assert len(lines) == 4
    assert any(
        "Ingress inference/qdrant spec.rules[].host qdrant.metalkube.internal" in line
        and "no parity check covers this host" in line
        for line in lines
    )


def test_backendtlspolicy_crd_missing_for_an_https_backend(emulate: Callable[..., ClusterState]) -> None:
    objects = without(corrected_cluster(), "CustomResourceDefinition", "backendtlspolicies.gateway.networking.k8s.io")
    state = emulate(objects, omit=OMIT_ALPHA_BTLS)
    lines = run_cases(state, "phase1", V161)["cluster[backendtlspolicy crd]"]
    assert any("Ingress argocd/argocd reaches its backend over HTTPS" in line for line in lines)
    option_b = ClusterSettings(bundle_version="v1.6.1", option_b={"argocd"})
    assert run_cases(state, "phase1", option_b)["cluster[backendtlspolicy crd]"] == []


# -- phase 1 -------------------------------------------------------------------------
def test_phase1_clean_cluster_passes(emulate: Callable[..., ClusterState]) -> None:
    outcomes = run_cases(emulate(corrected_cluster(), omit=OMIT_ALPHA_BTLS), "phase1", V161)
    assert outcomes == {
        "cluster[gateway api crds]": [],
        "cluster[backendtlspolicy crd]": [],
        "cluster[cilium version]": [],
        "cluster[cert-manager version]": [],
        "cluster[gatewayclass cilium]": [],
        "cluster[gateway kube-system/metalkube-gateway]": [],
    }


def _crd(version: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] = version

    return change


def _image(image: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj["spec"]["containers"][0]["image"] = image

    return change


def _status(status: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj["status"] = status

    return change


PHASE1_FAILURES: list[tuple[str, Callable[[list[dict[str, Any]]], list[dict[str, Any]]], str, list[str]]] = [
    (
        "bundle-not-pinned",
        lambda o: edit(o, "CustomResourceDefinition", "httproutes.gateway.networking.k8s.io", _crd("v1.5.0")),
        "cluster[gateway api crds]",
        [
            "CustomResourceDefinition httproutes.gateway.networking.k8s.io metadata.annotations"
            "[gateway.networking.k8s.io/bundle-version]",
            "expected v1.6.1, found v1.5.0",
        ],
    ),
    (
        "crd-missing",
        lambda o: without(o, "CustomResourceDefinition", "grpcroutes.gateway.networking.k8s.io"),
        "cluster[gateway api crds]",
        ["grpcroutes.gateway.networking.k8s.io", "expected installed, found missing"],
    ),
    (
        "old-cert-manager",
        lambda o: edit(o, "Pod", "cert-manager-6d9f", _image("quay.io/jetstack/cert-manager-controller:v1.11.2")),
        "cluster[cert-manager version]",
        ["expected >= 1.12, found 1.11.2"],
    ),
    (
        "no-cert-manager",
        lambda o: without(o, "Pod", "cert-manager-6d9f"),
        "cluster[cert-manager version]",
        ["found not found"],
    ),
    (
        "cilium-too-old-for-backendtls",
        lambda o: edit(o, "Pod", "cilium-x7k2p", _image("quay.io/cilium/cilium:v1.17.3")),
        "cluster[cilium version]",
        ["BackendTLSPolicy argocd/argocd-backend-tls", "expected Cilium >= 1.20, found 1.17.3"],
    ),
    (
        "cilium-1.19-with-v1.5-crds",
        lambda o: edit(
            edit(o, "Pod", "cilium-x7k2p", _image("quay.io/cilium/cilium:v1.19.2")),
            "CustomResourceDefinition",
            "gateways.gateway.networking.k8s.io",
            _crd("v1.5.1"),
        ),
        "cluster[cilium version]",
        ["Cilium 1.19 crashes with the v1.5 bundle"],
    ),
    (
        "gatewayclass-not-accepted",
        lambda o: edit(
            o,
            "GatewayClass",
            "cilium",
            _status(
                {
                    "conditions": [
                        {"type": "Accepted", "status": "False", "reason": "InvalidParameters", "message": "bad"}
                    ]
                }
            ),
        ),
        "cluster[gatewayclass cilium]",
        ["GatewayClass cilium status.conditions[Accepted]", "found False (InvalidParameters"],
    ),
    (
        "gateway-address-pending",
        lambda o: edit(
            o,
            "Gateway",
            "metalkube-gateway",
            _status(
                {
                    "conditions": [
                        _ok("Accepted"),
                        {
                            "type": "Programmed",
                            "status": "False",
                            "reason": "AddressNotAssigned",
                            "message": "Address is not ready",
                        },
                    ]
                }
            ),
        ),
        "cluster[gateway kube-system/metalkube-gateway]",
        [
            "Gateway kube-system/metalkube-gateway status.addresses",
            "LB-IPAM",
            "L2 announcements",
            "BGP",
            "status.conditions[Programmed]",
        ],
    ),
]


@pytest.mark.parametrize(
    ("change", "probe", "fragments"), [p[1:] for p in PHASE1_FAILURES], ids=[p[0] for p in PHASE1_FAILURES]
)
def test_phase1_failures(
    emulate: Callable[..., ClusterState], change: Callable[..., Any], probe: str, fragments: list[str]
) -> None:
    outcomes = run_cases(emulate(change(corrected_cluster()), omit=OMIT_ALPHA_BTLS), "phase1", V161)
    text = "\n".join(outcomes[probe])
    for fragment in fragments:
        assert fragment in text, text


def test_phase1_offline_says_what_it_cannot_judge() -> None:
    outcomes = run_cases(read_state(ManifestSource(METALKUBE)), "phase1", ClusterSettings(cilium_version="1.17"))
    assert outcomes["cluster[n/a]"][0].startswith("SKIP:")
    assert "expected Cilium >= 1.20, found 1.17" in outcomes["cluster[cilium version]"][0]


# -- coverage ------------------------------------------------------------------------
def test_coverage_clean_cluster_passes(emulate: Callable[..., ClusterState]) -> None:
    outcomes = run_cases(emulate(corrected_cluster(), omit=OMIT_ALPHA_BTLS), "coverage", V161)
    failing = {probe: lines for probe, lines in outcomes.items() if lines}
    assert failing == {}
    assert "llm-gateway[timeouts]" in outcomes and "argocd[backend tls]" in outcomes


def _timeout(seconds: str) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj["spec"]["rules"][0]["timeouts"] = {"request": seconds}

    return change


def _route_not_resolved(obj: dict[str, Any]) -> None:
    obj["status"]["parents"][0]["conditions"][1] = {
        "type": "ResolvedRefs",
        "status": "False",
        "reason": "BackendNotFound",
        "message": "service not found",
    }


def _out_of_sync(obj: dict[str, Any]) -> None:
    obj["status"] = {"sync": {"status": "OutOfSync"}, "health": {"status": "Degraded"}}


def _redirect_on_both(obj: dict[str, Any]) -> None:
    obj["spec"]["parentRefs"][0].pop("sectionName")


COVERAGE_FAILURES: list[tuple[str, Callable[[list[dict[str, Any]]], list[dict[str, Any]]], str, list[str]]] = [
    (
        "no-route-for-rule",
        lambda o: without(o, "HTTPRoute", "mlflow"),
        "mlflow[rules]",
        [
            "Ingress mlflow/mlflow spec.rules[0].http.paths[0]",
            "expected mlflow.metalkube.internal Prefix /api",
            "found no equivalent HTTPRoute rule",
        ],
    ),
    (
        "timeout-shorter-than-nginx",
        lambda o: edit(o, "HTTPRoute", "llm-gateway", _timeout("30s")),
        "llm-gateway[timeouts]",
        ["metadata.annotations[proxy-read-timeout]", "expected 120 s, found HTTPRoute timeout 30 s"],
    ),
    (
        "no-redirect-route",
        lambda o: without(o, "HTTPRoute", "https-redirect"),
        "grafana[redirect grafana.metalkube.internal]",
        ["Ingress monitoring/grafana metadata.annotations[ssl-redirect]", "found none"],
    ),
    (
        "redirect-on-both-listeners",
        lambda o: edit(o, "HTTPRoute", "https-redirect", _redirect_on_both),
        "qdrant[redirect qdrant.metalkube.internal]",
        ["HTTPRoute kube-system/https-redirect", "a redirect on HTTPS loops"],
    ),
    (
        "no-backend-tls-policy",
        lambda o: without(o, "BackendTLSPolicy", "argocd-backend-tls"),
        "argocd[backend tls]",
        ["Ingress argocd/argocd metadata.annotations[backend-protocol]", "found neither"],
    ),
    (
        "allowlist-on-backend-only",
        lambda o: without(o, "CiliumClusterwideNetworkPolicy", "gateway-client-allowlist"),
        "qdrant[allowlist policy]",
        [
            "metadata.annotations[whitelist-source-range]",
            "found CiliumNetworkPolicy inference/qdrant-access",
            "see the ingress identity",
        ],
    ),
    (
        "route-refs-unresolved",
        lambda o: edit(o, "HTTPRoute", "qdrant", _route_not_resolved),
        "qdrant[route status]",
        ["HTTPRoute inference/qdrant status.parents[0].conditions[ResolvedRefs]", "found False (BackendNotFound"],
    ),
    (
        "application-out-of-sync",
        lambda o: edit(o, "Application", "gateway", _out_of_sync),
        "gateway[argocd application]",
        ["Application argocd/gateway status.sync.status", "found OutOfSync", "status.health.status"],
    ),
]


@pytest.mark.parametrize(
    ("change", "probe", "fragments"), [p[1:] for p in COVERAGE_FAILURES], ids=[p[0] for p in COVERAGE_FAILURES]
)
def test_coverage_failures(
    emulate: Callable[..., ClusterState], change: Callable[..., Any], probe: str, fragments: list[str]
) -> None:
    outcomes = run_cases(emulate(change(corrected_cluster()), omit=OMIT_ALPHA_BTLS), "coverage", V161)
    text = "\n".join(outcomes[probe])
    for fragment in fragments:
        assert fragment in text, text


def test_coverage_option_b_and_old_cilium(emulate: Callable[..., ClusterState]) -> None:
    objects = without(corrected_cluster(), "BackendTLSPolicy", "argocd-backend-tls")
    state = emulate(objects, omit=OMIT_ALPHA_BTLS)
    assert (
        run_cases(state, "coverage", ClusterSettings(bundle_version="v1.6.1", option_b={"argocd"}))[
            "argocd[backend tls]"
        ]
        == []
    )
    plan = emulate(cluster_objects(METALKUBE, "v1.2.1", "1.15.0"), omit=OMIT_V1_BTLS)
    without_timeouts = run_cases(plan, "coverage")
    assert "expected Cilium >= 1.20, found 1.15.0" in "\n".join(without_timeouts["argocd[backend tls]"])


def test_route_status_says_there_is_no_programmed_condition(emulate: Callable[..., ClusterState]) -> None:
    state = emulate(corrected_cluster(), omit=OMIT_ALPHA_BTLS)
    case = next(c for c in cluster_cases("coverage", state, V161) if c.probe == "route status")
    evidence = case.run(
        ProbeContext(
            parse_targets({"endpoints": {"nginx": {"address": "-"}, "gateway": {"address": "-"}}, "services": []})
        )
    ).evidence
    assert "there is no Programmed condition on routes" in evidence["note"]


# -- phase 3 -------------------------------------------------------------------------
def test_phase3(emulate: Callable[..., ClusterState]) -> None:
    before = run_cases(emulate(corrected_cluster() + legacy_objects(), omit=OMIT_ALPHA_BTLS), "phase3")
    assert "Ingress monitoring/grafana: expected deleted, found present" in before["cluster[no ingress left]"]
    assert before["cluster[no ingressclass nginx]"] and before["cluster[no namespace ingress-nginx]"]
    assert "labels[app.kubernetes.io/name=ingress-nginx]" in before["cluster[no controller pod]"][0]
    after_objects = [o for o in corrected_cluster() if o["kind"] != "Ingress"]
    after = run_cases(emulate(after_objects, omit=OMIT_ALPHA_BTLS), "phase3")
    assert all(lines == [] for lines in after.values()), after


# -- end to end: pytest against the emulated API through a kubeconfig -----------------
def test_pytest_run_against_the_api_is_read_only(tmp_path: Path) -> None:
    with KubeEmulator(cluster_objects(METALKUBE, "v1.2.1", "1.17.4"), omit=OMIT_V1_BTLS) as emulator:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "emulated",
                    "clusters": [{"name": "emulated", "cluster": {"server": emulator.url}}],
                    "users": [{"name": "reader", "user": {"token": "not-a-secret"}}],
                    "contexts": [{"name": "emulated", "context": {"cluster": "emulated", "user": "reader"}}],
                }
            )
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests_migration",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                "phase0 or phase1 or coverage or phase3",
                "--kubeconfig",
                str(kubeconfig),
                "--report-dir",
                str(tmp_path / "reports"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={"NO_PROXY": "*", **_env()},
        )
        assert emulator.write_requests == []
        assert {method for method, _ in emulator.requests} == {"GET"}
    assert result.returncode == 1, result.stdout[-3000:]
    summary = json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())
    assert summary["cluster_context"] == "kubeconfig kubeconfig (current context)"
    failed = {c["id"] for c in summary["checks"] if c["outcome"] == "failed"}
    assert {
        "grafana[redirect grafana.metalkube.internal]",
        "qdrant[allowlist policy]",
        "cluster[no ingress left]",
    } <= failed
    assert "not-a-secret" not in json.dumps(summary)
    page = (tmp_path / "reports" / "latest" / "go-no-go.html").read_text()
    assert "not-a-secret" not in page


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("KUBERNETES_SERVICE_HOST",)}


def test_rbac_is_read_only_and_covers_every_resource() -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    granted = set()
    for rule in role["rules"]:
        assert set(rule["verbs"]) == {"get", "list", "watch"}
        assert "secrets" not in rule["resources"]
        for group in rule["apiGroups"]:
            granted |= {(group, resource) for resource in rule["resources"]}
    for resource in RESOURCES.values():
        for path in resource.paths:
            parts = path.strip("/").split("/")
            group = "" if parts[0] == "api" else parts[1]
            plural = parts[-1]
            assert (group, plural) in granted, path


# -- issue 12: inventory values, shared hosts, RegularExpression coverage (offline) ---------
def _offline(tmp_path: Path, text: str) -> ClusterState:
    from cutover.manifests import load_manifests

    (tmp_path / "objects.yaml").write_text(text)
    return ClusterState("offline test manifests", False, load_manifests(tmp_path))


_GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: web}
spec:
  gatewayClassName: cilium
  listeners: [{name: http, port: 80, protocol: HTTP}]
"""


def _regex_ingress(name: str, path: str, regex: bool, path_type: str = "Prefix") -> str:
    notes = '\n  annotations: {nginx.ingress.kubernetes.io/use-regex: "true"}' if regex else ""
    return f"""---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: web{notes}
spec:
  ingressClassName: nginx
  rules:
    - host: {name}.example
      http:
        paths: [{{path: "{path}", pathType: {path_type}, backend: {{service: {{name: app, port: {{number: 80}}}}}}}}]
"""


def _regex_route(name: str, value: str) -> str:
    return f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: web}}
spec:
  parentRefs: [{{name: gw}}]
  hostnames: [{name}.example]
  rules:
    - matches: [{{path: {{type: RegularExpression, value: "{value}"}}}}]
      backendRefs: [{{name: app, port: 80}}]
"""


def test_coverage_understands_regular_expression_paths(tmp_path: Path) -> None:
    state = _offline(
        tmp_path,
        _GATEWAY
        + _regex_ingress("same", "/api/v[0-9]+", True)
        + _regex_route("same", "(?i)/api/v[0-9]+.*")
        + _regex_ingress("cased", "/api", True)
        + _regex_route("cased", "/api.*")
        + _regex_ingress("plain", "/docs", False)
        + _regex_route("plain", "/docs(/.*)?")
        + _regex_ingress("missed", "/shop", False)
        + _regex_route("missed", "/shopping/.*"),
    )
    outcomes = run_cases(state, "coverage")
    cases = {case.id: case for case in cluster_cases("coverage", state, ClusterSettings())}
    assert outcomes["same[rules]"] == []
    assert outcomes["cased[rules]"] == []
    assert outcomes["plain[rules]"] == []
    assert len(outcomes["missed[rules]"]) == 1 and "no equivalent" in outcomes["missed[rules]"][0]
    context = ProbeContext(
        parse_targets({"endpoints": {"nginx": {"address": "-"}, "gateway": {"address": "-"}}, "services": []})
    )
    cased_notes = " ".join(cases["cased[rules]"].run(context).evidence["notes"])
    assert "case-sensitive" in cased_notes
    plain_notes = " ".join(cases["plain[rules]"].run(context).evidence["notes"])
    assert "RegularExpression /docs(/.*)?" in plain_notes


def test_phase0_values_and_shared_hosts(tmp_path: Path) -> None:
    def ingress(name: str, host: str, annotations: str) -> str:
        return f"""---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  namespace: web
  annotations: {{{annotations}}}
spec:
  ingressClassName: nginx
  rules:
    - host: {host}
      http:
        paths: [{{path: /{name}, pathType: Prefix, backend: {{service: {{name: app, port: {{number: 80}}}}}}}}]
"""

    state = _offline(
        tmp_path,
        ingress(
            "defaults",
            "shop.example",
            '"nginx.ingress.kubernetes.io/use-regex": "false", '
            '"nginx.ingress.kubernetes.io/load-balance": round_robin, '
            '"nginx.ingress.kubernetes.io/enable-access-log": "true"',
        )
        + ingress("slow", "shop.example", '"nginx.ingress.kubernetes.io/proxy-read-timeout": "120"')
        + ingress("capture", "cap.example", '"nginx.ingress.kubernetes.io/rewrite-target": "/v2/$1"'),
    )
    outcomes = run_cases(state, "phase0")
    assert outcomes["defaults[inventory]"] == []
    assert len(outcomes["capture[inventory]"]) == 1
    assert "capture" in outcomes["capture[inventory]"][0]
    cases = {case.id: case for case in cluster_cases("phase0", state, ClusterSettings())}
    assert cases["defaults[inventory]"].service.wave == 2  # moved with the host it shares with "slow"
    context = ProbeContext(
        parse_targets({"endpoints": {"nginx": {"address": "-"}, "gateway": {"address": "-"}}, "services": []})
    )
    summary = cases["cluster[3 Ingresses]"].run(context).evidence
    assert summary["wave_warnings"] == ["Ingress web/defaults: wave 1 -> 2, it shares shop.example with web/slow"]
    rows = cases["defaults[inventory]"].run(context).evidence["inventory"]["annotations"]
    assert {row["category"] for row in rows} == {"default"}
    # `cutover inventory`: the same waves in inventory.json and the draft targets, with the warning.
    import datetime as dt

    from cutover.cluster.inventory import draft_targets, write_inventory

    written = write_inventory(state, tmp_path / "out", dt.date(2026, 1, 2), None)
    document = json.loads(written["inventory"].read_text())
    assert document["warnings"] == summary["wave_warnings"]
    assert {s["name"]: s["wave"] for s in draft_targets(state)["services"]} == {"defaults": 2, "slow": 2, "capture": 2}


def test_inventory_says_which_ingresses_ingress_nginx_does_not_serve(tmp_path: Path) -> None:
    from cutover.cluster.checks import inventory

    state = _offline(
        tmp_path,
        _regex_ingress("ours", "/a", False)
        + _regex_ingress("theirs", "/b", False).replace("ingressClassName: nginx", "ingressClassName: traefik")
        + """---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: traefik}
spec: {controller: traefik.io/ingress-controller}
""",
    )
    rows = {row["name"]: row for row in inventory(state)}
    assert rows["ours"]["not_served_by_ingress_nginx"] is None
    assert "traefik.io/ingress-controller" in rows["theirs"]["not_served_by_ingress_nginx"]


# -- phase 1: the option B guard ---------------------------------------------------------
def _argocd_insecure_config() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cmd-params-cm", "namespace": "argocd"},
        "data": {"server.insecure": "true"},
    }


def _cilium_config(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cilium-config", "namespace": "kube-system"},
        "data": {"enable-ipv4": "true", **data},
    }


def _argocd_server_pod(args: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "argocd-server-7d9c", "namespace": "argocd"},
        "spec": {
            "containers": [
                {
                    "name": "argocd-server",
                    "image": "quay.io/argoproj/argocd:v2.13.0",
                    "args": ["/usr/local/bin/argocd-server", *args],
                }
            ]
        },
    }


OPTION_B = "cluster[argocd option b encryption]"
OPTION_B_CASES = [
    # (id, extra objects, failure fragments or [] for a pass)
    (
        "insecure-configmap-no-encryption",
        [_argocd_insecure_config(), _cilium_config(**{"enable-wireguard": "false"})],
        [
            "ConfigMap kube-system/cilium-config data[enable-wireguard|enable-ipsec]",
            "found enable-wireguard: false, enable-ipsec: (unset)",
            "ConfigMap argocd/argocd-cmd-params-cm data[server.insecure]: true",
        ],
    ),
    ("insecure-flag-no-encryption", [_argocd_server_pod(["--insecure"]), _cilium_config()], ["--insecure"]),
    ("insecure-without-cilium-config", [_argocd_insecure_config()], ["no cilium-config in"]),
    ("insecure-with-wireguard", [_argocd_insecure_config(), _cilium_config(**{"enable-wireguard": "true"})], []),
    (
        "insecure-flag-with-ipsec",
        [_argocd_server_pod(["--insecure=true"]), _cilium_config(**{"enable-ipsec": "true"})],
        [],
    ),
]


@pytest.mark.parametrize(("extra", "fragments"), [c[1:] for c in OPTION_B_CASES], ids=[c[0] for c in OPTION_B_CASES])
def test_option_b_needs_node_encryption_online(
    emulate: Callable[..., ClusterState], extra: list[dict[str, Any]], fragments: list[str]
) -> None:
    outcomes = run_cases(emulate([*corrected_cluster(), *extra], omit=OMIT_ALPHA_BTLS), "phase1", V161)
    text = "\n".join(outcomes[OPTION_B])
    if not fragments:
        assert outcomes[OPTION_B] == []
    for fragment in fragments:
        assert fragment in text, text


@pytest.mark.parametrize(
    "encryption", [None, {"enable-wireguard": "false", "enable-ipsec": "false"}, {"enable-ipsec": "true"}]
)
def test_option_b_needs_node_encryption_offline(tmp_path: Path, encryption: dict[str, str] | None) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    objects = [_argocd_insecure_config(), *([_cilium_config(**encryption)] if encryption is not None else [])]
    (manifests / "cluster-config.yaml").write_text(yaml.safe_dump_all(objects))
    outcomes = run_cases(read_state(ManifestSource(manifests)), "phase1", ClusterSettings(cilium_version="1.20.0"))
    if encryption == {"enable-ipsec": "true"}:
        assert outcomes[OPTION_B] == []
    else:
        assert "true (node-to-node encryption)" in outcomes[OPTION_B][0]
        assert "ArgoCD serves plain HTTP behind the Gateway" in outcomes[OPTION_B][0]


def test_option_b_guard_stays_silent_without_insecure_argocd(emulate: Callable[..., ClusterState]) -> None:
    # A secure ArgoCD (or one no route leads to) needs no encryption check: no case at all.
    outcomes = run_cases(emulate([*corrected_cluster(), _cilium_config()], omit=OMIT_ALPHA_BTLS), "phase1", V161)
    assert OPTION_B not in outcomes
    offline = run_cases(read_state(ManifestSource(METALKUBE)), "phase1", ClusterSettings(cilium_version="1.17"))
    assert OPTION_B not in offline


@pytest.mark.parametrize(("image", "bundle"), [("v1.19.2", "v1.4.1"), ("v1.20.0", "v1.5.1")])
def test_phase1_bundle_crash_only_on_its_release_line(
    emulate: Callable[..., ClusterState], image: str, bundle: str
) -> None:
    """The clean side of cilium-1.19-with-v1.5-crds: 1.19 with its own bundle, 1.20 with v1.5."""
    objects = edit(
        edit(corrected_cluster(), "Pod", "cilium-x7k2p", _image(f"quay.io/cilium/cilium:{image}")),
        "CustomResourceDefinition",
        "gateways.gateway.networking.k8s.io",
        _crd(bundle),
    )
    lines = run_cases(emulate(objects, omit=OMIT_ALPHA_BTLS), "phase1", V161)["cluster[cilium version]"]
    assert not any("crashes" in line for line in lines), lines
