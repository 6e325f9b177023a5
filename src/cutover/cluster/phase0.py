"""Phase 0, inventory: every Ingress accounted for, every annotation classified, every host
covered by a target."""

from __future__ import annotations

from typing import Any

from cutover import annotations as ann
from cutover.checks.base import Case, Difference
from cutover.cluster.catalog import classify
from cutover.cluster.common import ClusterSettings, finding, make_case, subject
from cutover.cluster.state import ClusterState
from cutover.lab.nginx_render import class_verdict
from cutover.manifests import Ingress

__all__ = ["inventory", "phase0_cases"]


def inventory(state: ClusterState) -> list[dict[str, Any]]:
    """One row per Ingress, as `kubectl get ingress -A -o json | jq` would have given, classified."""
    rows = []
    everyone = state.manifests.ingresses
    waves = ann.group_waves(everyone)
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
                "proposed_wave": waves[id(ingress)],
                "checks": ann.checks_for(ingress),
            }
        )
    return rows


def _annotation_findings(ingress: Ingress, row: dict[str, Any]) -> list[Difference]:
    """Annotations the Gateway will ignore (unknown) or cannot express (unsupported)."""
    findings = []
    for item in row["annotations"]:
        where = f"Ingress {ingress.namespace}/{ingress.name} metadata.annotations[{item['key']}]"
        if item["category"] == "unknown":
            findings.append(finding(where, item["value"], "ignored", note=item["detail"]))
        elif item["category"] == "unsupported":
            findings.append(finding(where, item["value"], "no equivalent", note=item["detail"]))
    return findings


def _unchecked_hosts(state: ClusterState, settings: ClusterSettings) -> list[Difference]:
    """Ingress hosts no target names: traffic no parity check will ever look at."""
    if settings.target_hosts is None:
        return []
    return [
        finding(
            f"Ingress {ingress.namespace}/{ingress.name} spec.rules[].host {host}",
            "a service in the targets",
            "none",
            note="no parity check covers this host: add it to the targets",
        )
        for ingress in state.manifests.ingresses
        for host in ingress.hosts
        if host and host not in settings.target_hosts
    ]


def phase0_cases(state: ClusterState, settings: ClusterSettings) -> list[Case]:
    cases = []
    rows = {(r["namespace"], r["name"]): r for r in inventory(state)}
    for ingress in state.manifests.ingresses:
        row = rows[(ingress.namespace, ingress.name)]
        service = subject(ingress.name, row["proposed_wave"], ingress.namespace)
        cases.append(make_case("phase0", service, "inventory", _annotation_findings(ingress, row), {"inventory": row}))
    counts = {level: sum(1 for r in rows.values() if r["complexity"] == level) for level in ("HIGH", "MEDIUM", "LOW")}
    summary = {
        "ingresses": len(rows),
        "complexity": counts,
        "wave_warnings": ann.wave_warnings(state.manifests.ingresses),
    }
    unchecked = _unchecked_hosts(state, settings)
    cases.append(make_case("phase0", subject("cluster", None), f"{len(rows)} Ingresses", unchecked, summary))
    return cases
