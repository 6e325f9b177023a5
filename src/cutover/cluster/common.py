"""What the cluster check modules share: the kinds' CheckInfo, the settings, and the small
builders that turn findings into Cases (a finding names the object and the field)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cutover.checks.base import Case, CheckInfo, Difference, Outcome, ProbeContext, not_applicable
from cutover.cluster.state import ClusterState, condition, image_version
from cutover.facts.cilium import CiliumRelease, facts_for_version
from cutover.targets import ServiceTarget

__all__ = [
    "INFOS",
    "ClusterSettings",
    "cilium_release",
    "cilium_version",
    "conditions",
    "finding",
    "make_case",
    "na_case",
    "status_case",
    "subject",
]

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


def finding(field: str, expected: object, found: object, note: str = "") -> Difference:
    return Difference(field, expected, found, note=note, sides=("expected", "found"))


def subject(name: str, wave: int | None, namespace: str = "") -> ServiceTarget:
    return ServiceTarget(name=name, host="", wave=wave or 0, namespace=namespace)


def make_case(
    kind: str, service: ServiceTarget, probe: str, findings: list[Difference], evidence: dict[str, Any] | None = None
) -> Case:
    def run(case: Case, context: ProbeContext) -> Outcome:
        return Outcome(differences=list(findings), evidence=dict(evidence or {}))

    return Case(INFOS[kind], service, probe, {}, run)


def na_case(kind: str, service: ServiceTarget, reason: str) -> Case:
    return not_applicable(INFOS[kind], service, reason)


def cilium_version(state: ClusterState, settings: ClusterSettings) -> tuple[str | None, str]:
    """The Cilium version and where it came from: given, else the agent pod's image."""
    if settings.cilium_version:
        return settings.cilium_version, "given"
    for pod in state.pods_labelled("k8s-app", "cilium"):
        for container in (pod.get("spec") or {}).get("containers") or []:
            version = image_version(str(container.get("image", "")))
            if version:
                return version, f"agent image {container.get('image')}"
    return None, "no cilium agent pod found"


def cilium_release(state: ClusterState, settings: ClusterSettings) -> tuple[str | None, CiliumRelease | None]:
    """The Cilium version and the release row whose facts apply to it (None, None: unknown)."""
    version, _ = cilium_version(state, settings)
    return version, (facts_for_version(version) if version else None)


def conditions(
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
            findings.append(finding(f"{obj} {path}[{kind}]", "True", actual))
    return findings


def status_case(
    kind: str, service: ServiceTarget, probe: str, obj: str, raw: dict[str, Any], wanted: tuple[str, ...], live: bool
) -> Case:
    if not raw.get("status") and not live:
        return na_case(kind, service, f"{obj}: offline manifests carry no status")
    return make_case(kind, service, probe, conditions(obj, raw, wanted))
