"""The cluster as the checks read it: typed Ingress / Gateway API objects plus the raw
ones that have no model (CRDs, pods, namespaces, Applications), from any ClusterSource."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cutover.cluster.source import ClusterSource
from cutover.manifests import ManifestSet, parse_documents

__all__ = ["ClusterState", "condition", "image_version", "read_state", "version_tuple"]

_KINDS_TO_PARSE = (
    "services",
    "configmaps",
    "ingresses",
    "gateways",
    "httproutes",
    "referencegrants",
    "backendtlspolicies",
    "ciliumnetworkpolicies",
    "ciliumclusterwidenetworkpolicies",
)


@dataclass
class ClusterState:
    description: str
    live: bool
    manifests: ManifestSet
    raw: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)

    def items(self, resource: str) -> list[dict[str, Any]]:
        return list(self.raw.get(resource) or [])

    def served(self, resource: str) -> bool:
        return self.raw.get(resource) is not None

    def pods_labelled(self, label: str, value: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [
            pod
            for pod in self.items("pods")
            if ((pod.get("metadata") or {}).get("labels") or {}).get(label) == value
            and (namespace is None or (pod.get("metadata") or {}).get("namespace") == namespace)
        ]


def read_state(source: ClusterSource) -> ClusterState:
    raw: dict[str, list[dict[str, Any]] | None] = {}
    for resource in (
        "namespaces",
        "pods",
        "ingressclasses",
        "crds",
        "gatewayclasses",
        "applications",
        *_KINDS_TO_PARSE,
    ):
        raw[resource] = source.objects(resource)
    documents = [
        (f"{source.description} ({resource})", obj) for resource in _KINDS_TO_PARSE for obj in raw.get(resource) or []
    ]
    # The GatewayClass objects ride along so the parser keeps them with the others.
    documents += [(f"{source.description} (gatewayclasses)", obj) for obj in raw.get("gatewayclasses") or []]
    manifests = parse_documents(Path("."), documents, lenient_routes=True)
    return ClusterState(source.description, source.live, manifests, raw)


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None


_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def image_version(image: str) -> str | None:
    """The version in an image reference: quay.io/cilium/cilium:v1.17.4@sha256:... -> 1.17.4."""
    tag = image.split("@")[0].rsplit(":", 1)[-1] if ":" in image.split("@")[0].rsplit("/", 1)[-1] else ""
    match = _VERSION.search(tag)
    if not match:
        return None
    return ".".join(part for part in match.groups() if part is not None)


def version_tuple(version: str | None) -> tuple[int, ...]:
    match = _VERSION.search(version or "")
    if not match:
        return ()
    return tuple(int(part) for part in match.groups() if part is not None)
