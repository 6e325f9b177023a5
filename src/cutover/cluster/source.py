"""Where the cluster's objects come from: the Kubernetes API (read-only, GET only) or a
directory of YAML (a `kubectl get -o yaml` backup plus the GitOps folder, offline).

Both answer `objects(resource)` with plain dicts. A resource the API does not serve
(its CRD is not installed) answers None, not an empty list: "not installed" and "none
exist" are different findings.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cutover.errors import CutoverError, InputError
from cutover.facts.kube import APIEXTENSIONS_GROUP, CILIUM_GROUP, GATEWAY_GROUP, NETWORKING_GROUP
from cutover.manifests import load_documents

__all__ = ["RESOURCES", "ApiSource", "ClusterSource", "ManifestSource", "Resource", "connect"]


@dataclass(frozen=True)
class Resource:
    """One listable resource: the API paths to try, newest version first, and its kind."""

    name: str
    kind: str
    paths: tuple[str, ...]


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource("namespaces", "Namespace", ("/api/v1/namespaces",)),
        Resource("pods", "Pod", ("/api/v1/pods",)),
        Resource("services", "Service", ("/api/v1/services",)),
        Resource("configmaps", "ConfigMap", ("/api/v1/configmaps",)),
        Resource("ingresses", "Ingress", (f"/apis/{NETWORKING_GROUP}/v1/ingresses",)),
        Resource("ingressclasses", "IngressClass", (f"/apis/{NETWORKING_GROUP}/v1/ingressclasses",)),
        Resource("crds", "CustomResourceDefinition", (f"/apis/{APIEXTENSIONS_GROUP}/v1/customresourcedefinitions",)),
        Resource("gatewayclasses", "GatewayClass", (f"/apis/{GATEWAY_GROUP}/v1/gatewayclasses",)),
        Resource("gateways", "Gateway", (f"/apis/{GATEWAY_GROUP}/v1/gateways",)),
        Resource("httproutes", "HTTPRoute", (f"/apis/{GATEWAY_GROUP}/v1/httproutes",)),
        Resource(
            "referencegrants",
            "ReferenceGrant",
            (
                f"/apis/{GATEWAY_GROUP}/v1/referencegrants",
                f"/apis/{GATEWAY_GROUP}/v1beta1/referencegrants",
            ),
        ),
        Resource(
            "backendtlspolicies",
            "BackendTLSPolicy",
            (
                f"/apis/{GATEWAY_GROUP}/v1/backendtlspolicies",
                f"/apis/{GATEWAY_GROUP}/v1alpha3/backendtlspolicies",
            ),
        ),
        Resource("ciliumnetworkpolicies", "CiliumNetworkPolicy", (f"/apis/{CILIUM_GROUP}/v2/ciliumnetworkpolicies",)),
        Resource(
            "ciliumclusterwidenetworkpolicies",
            "CiliumClusterwideNetworkPolicy",
            (f"/apis/{CILIUM_GROUP}/v2/ciliumclusterwidenetworkpolicies",),
        ),
        Resource("applications", "Application", ("/apis/argoproj.io/v1alpha1/applications",)),
    )
}


class ClusterSource(Protocol):
    description: str
    live: bool

    def objects(self, resource: str) -> list[dict[str, Any]] | None: ...


@dataclass
class ManifestSource:
    """Objects from YAML; everything a manifest set does not contain is simply absent."""

    root: Path
    description: str = ""
    live: bool = False
    _by_kind: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.description = self.description or f"manifests {self.root} (offline)"
        for _, obj in load_documents(self.root):
            self._by_kind.setdefault(str(obj.get("kind")), []).append(obj)

    def objects(self, resource: str) -> list[dict[str, Any]] | None:
        return list(self._by_kind.get(RESOURCES[resource].kind, []))


class ApiSource:
    """The Kubernetes API through the official client. Only ever sends GET."""

    live = True

    def __init__(self, api_client: Any, description: str = "Kubernetes API") -> None:
        self.api_client = api_client
        self.description = description
        self._cache: dict[str, list[dict[str, Any]] | None] = {}
        self.host = str(api_client.configuration.host).rstrip("/")

    def _get(self, path: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            response = self.api_client.call_api(
                "GET", self.host + path, header_params={"Accept": "application/json"}, _request_timeout=30
            )
            response.read()
            status = int(getattr(response, "status", 200))
        except ApiException as exc:
            status = int(exc.status or 0)
            response = None
        except Exception as exc:  # urllib3 errors: unreachable, TLS, timeout
            raise CutoverError(f"the Kubernetes API at {self.host} could not be reached: {exc}") from None
        if status == 404:
            return None  # the resource is not served: its CRD is not installed
        if status in (401, 403):
            raise CutoverError(
                f"the Kubernetes API refused GET {path} ({status}): apply deploy/rbac.yaml "
                "(the read-only ClusterRole cutover needs) for this identity"
            )
        if status >= 400 or response is None:
            raise CutoverError(f"the Kubernetes API answered GET {path} with {status}")
        data = json.loads(response.data)
        return data if isinstance(data, dict) else None

    def objects(self, resource: str) -> list[dict[str, Any]] | None:
        if resource not in self._cache:
            found: list[dict[str, Any]] | None = None
            spec = RESOURCES[resource]
            for path in spec.paths:
                listing = self._get(path)
                if listing is not None:
                    version = path.split("/")[-2]
                    group = path.split("/")[2] if path.startswith("/apis/") else ""
                    api_version = f"{group}/{version}" if group else version
                    found = []
                    for item in listing.get("items") or []:
                        # List items carry no kind/apiVersion: put them back.
                        found.append({"apiVersion": api_version, "kind": spec.kind, **item})
                    break
            self._cache[resource] = found
        cached = self._cache[resource]
        return None if cached is None else list(cached)


def connect(kubeconfig: str | None, context: str | None) -> ApiSource:
    """In-cluster config when running in a pod (and no kubeconfig was given), else the kubeconfig."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            description = "in-cluster service account"
        else:
            path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
            if not Path(path.split(os.pathsep)[0]).exists():
                raise InputError("does not exist", file=path, field="--kubeconfig")
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, client_configuration=configuration
            )
            description = f"context {context}" if context else f"kubeconfig {Path(path).name} (current context)"
    except config.ConfigException as exc:
        raise InputError(f"cannot be used: {exc}", field="--kubeconfig/--context") from None
    return ApiSource(client.ApiClient(configuration), description)
