"""Phase 3, decommission: ingress-nginx is gone (no Ingress, IngressClass, namespace or pod)."""

from __future__ import annotations

from cutover.checks.base import Case, Difference
from cutover.cluster.common import ClusterSettings, finding, make_case, subject
from cutover.cluster.state import ClusterState

__all__ = ["phase3_cases"]


def phase3_cases(state: ClusterState, settings: ClusterSettings) -> list[Case]:
    cluster = subject("cluster", None)
    left = [f"Ingress {i.namespace}/{i.name}" for i in state.manifests.ingresses]
    classes = [c for c in state.items("ingressclasses") if (c.get("metadata") or {}).get("name") == "nginx"]
    namespaces = [n for n in state.items("namespaces") if (n.get("metadata") or {}).get("name") == "ingress-nginx"]
    controllers = [
        p
        for p in state.items("pods")
        if ((p.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/name") == "ingress-nginx"
    ]
    checks: list[tuple[str, list[Difference]]] = [
        ("no ingress left", [finding(name, "deleted", "present") for name in left]),
        ("no ingressclass nginx", [finding("IngressClass nginx", "deleted", "present")] if classes else []),
        (
            "no namespace ingress-nginx",
            [finding("Namespace ingress-nginx", "deleted", "present")] if namespaces else [],
        ),
        (
            "no controller pod",
            [
                finding(
                    f"Pod {p['metadata'].get('namespace')}/{p['metadata']['name']} "
                    "labels[app.kubernetes.io/name=ingress-nginx]",
                    "gone",
                    "running",
                )
                for p in controllers
            ],
        ),
    ]
    return [make_case("phase3", cluster, probe, findings) for probe, findings in checks]
