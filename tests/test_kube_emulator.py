"""The Kubernetes API emulator (tests/kube_emulator.py), read through the official client only."""

from __future__ import annotations

import copy
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException, NotFoundException

from tests.kube_emulator import WRITE_METHODS, KubeEmulator, ServedResource, objects_from_yaml

METALKUBE = Path(__file__).resolve().parents[1] / "fixtures" / "metalkube"

GATEWAY_STATUS: dict[str, Any] = {
    "conditions": [
        {"type": "Accepted", "status": "True", "reason": "Accepted", "observedGeneration": 1},
        {"type": "Programmed", "status": "True", "reason": "Programmed", "observedGeneration": 1},
    ],
    "addresses": [{"type": "IPAddress", "value": "192.168.1.100"}],
}

HAND_WRITTEN: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ingress-nginx"}},
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "ingress-nginx-controller-7d9c8f9b6-abcde",
            "namespace": "ingress-nginx",
            "labels": {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
        },
        "spec": {"containers": [{"name": "controller", "image": "registry.k8s.io/ingress-nginx/controller:v1.11.2"}]},
        "status": {"phase": "Running"},
    },
    {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "gateways.gateway.networking.k8s.io",
            "annotations": {"gateway.networking.k8s.io/bundle-version": "v1.2.1"},
        },
        "spec": {
            "group": "gateway.networking.k8s.io",
            "names": {"kind": "Gateway", "plural": "gateways", "singular": "gateway", "listKind": "GatewayList"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    },
    {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "ingress-nginx", "namespace": "argocd"},
        "spec": {"project": "default", "destination": {"namespace": "ingress-nginx"}},
        "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
    },
]


def seeded_objects() -> list[dict[str, Any]]:
    objects = objects_from_yaml(METALKUBE)
    for obj in objects:
        if obj["kind"] == "Gateway":
            obj["status"] = copy.deepcopy(GATEWAY_STATUS)
    return objects + copy.deepcopy(HAND_WRITTEN)


@pytest.fixture
def emu() -> Iterator[KubeEmulator]:
    with KubeEmulator(seeded_objects()) as emulator:
        yield emulator
    assert not emulator.running


def get(emu: KubeEmulator, path: str) -> tuple[int, dict[str, Any]]:
    """Exactly how cutover reads: ApiClient.call_api -> RESTResponse; read(), then .status and .data."""
    api = emu.api_client()
    resp = api.call_api("GET", emu.url + path, header_params={"Accept": "application/json"})
    resp.read()
    return resp.status, json.loads(resp.data)


def names(listing: dict[str, Any]) -> set[str]:
    return {item["metadata"]["name"] for item in listing["items"]}


def test_objects_from_yaml_reads_the_metalkube_fixture() -> None:
    kinds = Counter(obj["kind"] for obj in objects_from_yaml(METALKUBE))
    assert kinds == {
        "Ingress": 6,
        "Service": 6,
        "Gateway": 1,
        "HTTPRoute": 6,
        "BackendTLSPolicy": 1,
        "CiliumNetworkPolicy": 1,
    }


def test_objects_from_yaml_recurses_flattens_lists_and_skips_cutover_yaml(tmp_path: Path) -> None:
    (tmp_path / "cutover.yaml").write_text("waves: [1, 2]\n")
    (tmp_path / "notes.txt").write_text("apiVersion: v1\nkind: ConfigMap\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "cutover.yaml").write_text("kind: NotAnObject\n")
    (nested / "backup.yml").write_text(
        "---\n"
        "apiVersion: v1\n"
        "kind: List\n"
        "items:\n"
        "  - {apiVersion: v1, kind: ConfigMap, metadata: {name: one, namespace: x}}\n"
        "  - {apiVersion: v1, kind: ConfigMap, metadata: {name: two, namespace: x}}\n"
        "---\n"
        "# only a comment\n"
    )
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    single = tmp_path / "single.yaml"
    single.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: y}\n")

    found = objects_from_yaml(tmp_path)
    assert [obj["metadata"]["name"] for obj in found] == ["one", "two", "x", "y"]
    assert [obj["metadata"]["name"] for obj in objects_from_yaml(single, nested)] == ["y", "one", "two"]
    with pytest.raises(FileNotFoundError):
        objects_from_yaml(tmp_path / "missing")


def test_listing_all_ingresses_returns_the_six_from_the_fixture(emu: KubeEmulator) -> None:
    status, listing = get(emu, "/apis/networking.k8s.io/v1/ingresses")
    assert status == 200
    assert listing["kind"] == "IngressList"
    assert listing["apiVersion"] == "networking.k8s.io/v1"
    assert names(listing) == {"grafana", "mlflow", "ml-serving", "llm-gateway", "qdrant", "argocd"}


def test_namespaced_lists(emu: KubeEmulator) -> None:
    status, ingresses = get(emu, "/apis/networking.k8s.io/v1/namespaces/inference/ingresses")
    assert status == 200
    assert names(ingresses) == {"llm-gateway", "qdrant"}
    _, routes = get(emu, "/apis/gateway.networking.k8s.io/v1/namespaces/inference/httproutes")
    assert names(routes) == {"llm-gateway", "qdrant"}
    _, services = get(emu, "/api/v1/namespaces/argocd/services")
    assert names(services) == {"argocd-server"}
    _, nothing = get(emu, "/api/v1/namespaces/nowhere/configmaps")
    assert nothing["kind"] == "ConfigMapList" and nothing["items"] == []


def test_all_namespaces_lists_of_every_kind(emu: KubeEmulator) -> None:
    expected = {
        "/api/v1/namespaces": {"ingress-nginx"},
        "/api/v1/pods": {"ingress-nginx-controller-7d9c8f9b6-abcde"},
        "/api/v1/services": {"grafana", "mlflow", "ml-serving", "llm-gateway", "qdrant", "argocd-server"},
        "/api/v1/configmaps": set(),
        "/apis/networking.k8s.io/v1/ingressclasses": set(),
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions": {"gateways.gateway.networking.k8s.io"},
        "/apis/gateway.networking.k8s.io/v1/gatewayclasses": set(),
        "/apis/gateway.networking.k8s.io/v1/gateways": {"metalkube-gateway"},
        "/apis/gateway.networking.k8s.io/v1/backendtlspolicies": set(),
        "/apis/gateway.networking.k8s.io/v1alpha3/backendtlspolicies": {"argocd-backend-tls"},
        "/apis/cilium.io/v2/ciliumnetworkpolicies": {"qdrant-access"},
        "/apis/cilium.io/v2/ciliumclusterwidenetworkpolicies": set(),
        "/apis/argoproj.io/v1alpha1/applications": {"ingress-nginx"},
    }
    for path, expected_names in expected.items():
        status, listing = get(emu, path)
        assert status == 200, path
        assert listing["kind"].endswith("List"), path
        assert names(listing) == expected_names, path


def test_single_gets(emu: KubeEmulator) -> None:
    status, ingress = get(emu, "/apis/networking.k8s.io/v1/namespaces/inference/ingresses/qdrant")
    assert status == 200
    assert ingress["kind"] == "Ingress" and ingress["metadata"]["namespace"] == "inference"
    assert ingress["spec"]["rules"][0]["host"] == "qdrant.metalkube.internal"

    status, namespace = get(emu, "/api/v1/namespaces/ingress-nginx")
    assert status == 200 and namespace["metadata"] == {"name": "ingress-nginx"}

    status, crd = get(emu, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gateways.gateway.networking.k8s.io")
    assert status == 200
    assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.2.1"

    status, app = get(emu, "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/ingress-nginx")
    assert status == 200
    assert app["status"] == {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}

    status, policy = get(
        emu, "/apis/gateway.networking.k8s.io/v1alpha3/namespaces/argocd/backendtlspolicies/argocd-backend-tls"
    )
    assert status == 200 and policy["spec"]["validation"]["hostname"] == "argocd.metalkube.internal"


def test_status_is_returned_as_seeded(emu: KubeEmulator) -> None:
    path = "/apis/gateway.networking.k8s.io/v1/namespaces/kube-system/gateways/metalkube-gateway"
    for each in (path, path + "/status"):
        status, gateway = get(emu, each)
        assert status == 200
        assert gateway["status"] == GATEWAY_STATUS
    _, listing = get(emu, "/apis/gateway.networking.k8s.io/v1/gateways")
    assert listing["items"][0]["status"] == GATEWAY_STATUS
    _, pods = get(emu, "/api/v1/namespaces/ingress-nginx/pods")
    assert pods["items"][0]["status"] == {"phase": "Running"}


def test_unserved_resources_and_missing_objects_are_404_not_exceptions(emu: KubeEmulator) -> None:
    api = emu.api_client()
    for path in (
        "/apis/example.com/v1/widgets",
        "/apis/example.com/v1/namespaces/default/widgets/one",
        "/apis/example.com/v1",
        "/apis/example.com",
        "/apis/networking.k8s.io/v1/namespaces/inference/ingresses/missing",
        "/api/v1/namespaces/missing",
    ):
        resp = api.call_api("GET", emu.url + path, header_params={"Accept": "application/json"})
        resp.read()
        assert resp.status == 404, path
        body = json.loads(resp.data)
        assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["code"] == 404, path


def test_omitted_resources_are_404_like_a_missing_crd() -> None:
    objects = [obj for obj in seeded_objects() if not obj["apiVersion"].startswith("cilium.io/")]
    with KubeEmulator(objects, omit=["gateway.networking.k8s.io/v1/backendtlspolicies", "cilium.io"]) as emu:
        assert get(emu, "/apis/gateway.networking.k8s.io/v1/backendtlspolicies")[0] == 404
        assert get(emu, "/apis/cilium.io/v2/ciliumnetworkpolicies")[0] == 404
        assert get(emu, "/apis/cilium.io")[0] == 404
        status, listing = get(emu, "/apis/gateway.networking.k8s.io/v1alpha3/backendtlspolicies")
        assert status == 200 and names(listing) == {"argocd-backend-tls"}
        _, discovery = get(emu, "/apis/gateway.networking.k8s.io/v1")
        assert "backendtlspolicies" not in {entry["name"] for entry in discovery["resources"]}


def test_discovery(emu: KubeEmulator, tmp_path: Path) -> None:
    _, groups = get(emu, "/apis")
    by_name = {group["name"]: group for group in groups["groups"]}
    assert set(by_name) == {
        "networking.k8s.io",
        "apiextensions.k8s.io",
        "gateway.networking.k8s.io",
        "cilium.io",
        "argoproj.io",
    }
    assert by_name["gateway.networking.k8s.io"]["preferredVersion"]["version"] == "v1"
    _, core = get(emu, "/api/v1")
    assert core["groupVersion"] == "v1"
    assert {"namespaces", "pods", "services", "configmaps", "pods/status"} <= {r["name"] for r in core["resources"]}

    # The official dynamic client discovers through /api, /apis and the group/version documents.
    # Its discovery cache goes to the test's folder, not /tmp/osrcp-*.json, where it would stay.
    dyn = dynamic.DynamicClient(emu.api_client(), cache_file=str(tmp_path / "discovery.json"))
    gateways = dyn.resources.get(api_version="gateway.networking.k8s.io/v1", kind="Gateway")
    assert [gw.metadata.name for gw in gateways.get(namespace="kube-system").items] == ["metalkube-gateway"]


def test_typed_api_classes_work_too(emu: KubeEmulator) -> None:
    api = emu.api_client()
    ingresses = client.NetworkingV1Api(api).list_ingress_for_all_namespaces()
    assert len(ingresses.items) == 6
    services = client.CoreV1Api(api).list_namespaced_service("inference")
    assert {svc.metadata.name for svc in services.items} == {"llm-gateway", "qdrant"}
    routes = client.CustomObjectsApi(api).list_cluster_custom_object("gateway.networking.k8s.io", "v1", "httproutes")
    assert len(routes["items"]) == 6
    with pytest.raises(NotFoundException) as raised:
        client.CoreV1Api(api).read_namespaced_service("missing", "inference")
    assert isinstance(raised.value, ApiException) and raised.value.status == 404
    with pytest.raises(ApiException) as raised_custom:
        client.CustomObjectsApi(api).list_cluster_custom_object("example.com", "v1", "widgets")
    assert raised_custom.value.status == 404


def test_label_and_field_selectors(emu: KubeEmulator) -> None:
    api = client.CoreV1Api(emu.api_client())
    controller = api.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/name=ingress-nginx")
    assert [pod.metadata.name for pod in controller.items] == ["ingress-nginx-controller-7d9c8f9b6-abcde"]
    assert api.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/name=other").items == []
    chosen = api.list_service_for_all_namespaces(label_selector="app in (qdrant, grafana),app!=grafana")
    assert [svc.metadata.name for svc in chosen.items] == ["qdrant"]
    unlabelled = api.list_service_for_all_namespaces(label_selector="!app")  # argocd-server has app.kubernetes.io/name
    assert [svc.metadata.name for svc in unlabelled.items] == ["argocd-server"]
    named = api.list_service_for_all_namespaces(field_selector="metadata.name=mlflow")
    assert [svc.metadata.name for svc in named.items] == ["mlflow"]
    with pytest.raises(ApiException) as raised:
        api.list_service_for_all_namespaces(field_selector="spec.type=ClusterIP")
    assert raised.value.status == 400


def test_requests_records_only_gets_for_reads(emu: KubeEmulator) -> None:
    assert emu.requests == []
    get(emu, "/apis/networking.k8s.io/v1/ingresses")
    get(emu, "/api/v1/namespaces/ingress-nginx")
    get(emu, "/apis/example.com/v1/widgets")
    client.CoreV1Api(emu.api_client()).list_pod_for_all_namespaces(label_selector="app=x")
    assert emu.requests == [
        ("GET", "/apis/networking.k8s.io/v1/ingresses"),
        ("GET", "/api/v1/namespaces/ingress-nginx"),
        ("GET", "/apis/example.com/v1/widgets"),
        ("GET", "/api/v1/pods"),
    ]
    assert {method for method, _ in emu.requests} == {"GET"}
    assert emu.write_requests == []


def test_requests_would_show_a_write() -> None:
    with KubeEmulator([]) as emu:
        api = client.CoreV1Api(emu.api_client())
        api.create_namespaced_config_map("default", {"metadata": {"name": "written"}})
        assert emu.write_requests == [("POST", "/api/v1/namespaces/default/configmaps")]
        assert {method for method, _ in emu.requests} & WRITE_METHODS == {"POST"}


def test_stop_leaves_no_thread_and_no_listening_socket() -> None:
    emu = KubeEmulator(seeded_objects())
    with pytest.raises(RuntimeError):
        _ = emu.url
    with emu:
        port = emu.port
        assert get(emu, "/api/v1/namespaces")[0] == 200
        assert any(thread.name == "kube-emulator" for thread in threading.enumerate())
    assert not emu.running
    assert not any(thread.name == "kube-emulator" for thread in threading.enumerate())
    assert emu.requests == [("GET", "/api/v1/namespaces")]  # still there for assertions after stop
    with pytest.raises(RuntimeError):
        _ = emu.url
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    emu.stop()  # idempotent
    with pytest.raises(RuntimeError):
        emu.start()  # one start per instance


def test_seeding_rejects_what_would_never_be_served() -> None:
    with pytest.raises(ValueError, match="not served"):
        KubeEmulator([{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}])
    with pytest.raises(ValueError, match="not served"):
        KubeEmulator(seeded_objects(), omit=["cilium.io/v2"])
    with pytest.raises(ValueError, match="duplicate"):
        KubeEmulator(HAND_WRITTEN[:1] * 2)
    with pytest.raises(ValueError, match="omit"):
        KubeEmulator([], omit=["example.com"])
    with pytest.raises(ValueError, match=r"metadata\.name"):
        KubeEmulator([{"apiVersion": "v1", "kind": "Pod", "metadata": {}}])


def test_extra_resources_and_namespace_defaulting() -> None:
    widgets = ServedResource("example.com", "v1", "widgets", "Widget", True)
    seeded = [
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "namespace": "ignored"}},
    ]
    with KubeEmulator(seeded, extra=[widgets]) as emu:
        status, widget = get(emu, widgets.path("default", "w"))
        assert status == 200 and widget["metadata"]["namespace"] == "default"
        status, namespace = get(emu, "/api/v1/namespaces/n")
        assert status == 200 and "namespace" not in namespace["metadata"]
    assert seeded[1]["metadata"]["namespace"] == "ignored"  # the caller's dicts are not modified


@pytest.mark.asyncio
async def test_usable_from_an_async_test_without_hanging() -> None:
    # The emulator's loop is its own thread's, so even a blocking call inside a coroutine is answered.
    with KubeEmulator(seeded_objects()) as emu:
        status, listing = get(emu, "/apis/networking.k8s.io/v1/ingresses")
    assert status == 200 and len(listing["items"]) == 6
