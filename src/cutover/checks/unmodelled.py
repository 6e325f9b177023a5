"""Behaviours nothing in this run can verify: an annotation the lab does not model, a Gateway
construct the lab ignores, or (against real endpoints) an annotation no selected check covers.

A parity suite that could not test a behaviour has not verified it: each one is a result of
its own, "not verified", which blocks GO until a run that can verify it, or a waiver.
"""

from __future__ import annotations

from cutover.checks.base import Case, CheckInfo, not_applicable
from cutover.facts.kube import NGINX_PREFIX
from cutover.manifests import Ingress
from cutover.targets import ServiceTarget, Targets, Unverified

__all__ = ["INFO", "cases", "not_verified", "uncovered_annotations"]

INFO = CheckInfo(
    kind="unmodelled",
    title="Not verified",
    description="Behaviours of the service that this run cannot verify: the lab does not model them, "
    "or no selected check covers them.",
    marker="behaviours the lab does not model or no check covers: not verified until a run can verify them",
    group="verification",
    finding="behaviour the lab does not model",
)


def not_verified(service: ServiceTarget, item: Unverified) -> Case:
    where = f" ({item.obj})" if item.obj else ""
    verify = f"; to verify: {item.verify}" if item.verify else ""
    reason = f"not verified: {item.behaviour}{where}{verify}"
    probe = item.behaviour if len(item.behaviour) <= 80 else item.behaviour[:77] + "..."
    return Case(INFO, service, probe, {"unverified": item}, skip_reason=reason, skip_kind="not verified")


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        if not service.unverified:
            result.append(not_applicable(INFO, service, "every behaviour of its manifests is modelled"))
            continue
        result.extend(not_verified(service, item) for item in service.unverified)
    return result


def uncovered_annotations(
    service: ServiceTarget, ingresses: list[Ingress], protects: dict[str, tuple[str, ...]]
) -> list[Unverified]:
    """Against real endpoints: the ingress-nginx annotations on this service's Ingresses that
    none of its selected checks exercises (`protects` maps a check kind to what it covers)."""
    covered = {name for kind in service.checks for name in protects.get(kind, ())}
    found: list[Unverified] = []
    for ingress in ingresses:
        if service.host not in ingress.hosts:
            continue
        for key in sorted(ingress.annotations):
            if not key.startswith(NGINX_PREFIX) or key.removeprefix(NGINX_PREFIX) in covered:
                continue
            found.append(
                Unverified(
                    behaviour=f"annotation {key} is not verified by cutover: no selected check covers it",
                    obj=ingress.source.ref,
                    side="nginx",
                    verify="a check that exercises it, or a reviewed waiver",
                )
            )
    return found
