"""Cluster check: phase1, read-only (cutover.cluster.checks). Offline from --manifests,
or live with --kubeconfig / --context / in-cluster."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CLUSTER_KIND = "phase1"


def test_phase1(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
