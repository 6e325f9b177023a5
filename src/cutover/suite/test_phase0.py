"""Cluster check: phase0, read-only (cutover.cluster.checks). Offline from --manifests,
or live with --kubeconfig / --context / in-cluster."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CLUSTER_KIND = "phase0"


def test_phase0(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
