"""Cluster checks, read-only: inventory (phase 0), Gateway readiness (phase 1), Ingress ->
HTTPRoute coverage (per wave) and decommission (phase 3), one module each.

Each check is a Case like the parity checks (so it lands in the same report); its
findings are computed from the ClusterState when the cases are built, and turned into an
Outcome when the test runs. A finding names the object and the field. Version-dependent
facts about Cilium come from cutover.facts.cilium.
"""

from __future__ import annotations

from collections.abc import Callable

from cutover.checks.base import Case
from cutover.cluster.common import INFOS, ClusterSettings
from cutover.cluster.coverage import coverage_cases
from cutover.cluster.phase0 import inventory, phase0_cases
from cutover.cluster.phase1 import phase1_cases
from cutover.cluster.phase3 import phase3_cases
from cutover.cluster.state import ClusterState

__all__ = ["BUILDERS", "INFOS", "ClusterSettings", "cluster_cases", "inventory"]

BUILDERS: dict[str, Callable[[ClusterState, ClusterSettings], list[Case]]] = {
    "phase0": phase0_cases,
    "phase1": phase1_cases,
    "coverage": coverage_cases,
    "phase3": phase3_cases,
}


def cluster_cases(kind: str, state: ClusterState, settings: ClusterSettings) -> list[Case]:
    return BUILDERS[kind](state, settings)
