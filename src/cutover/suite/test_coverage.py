"""Cluster check: coverage, read-only (cutover.cluster.checks). Offline from --manifests,
or live with --kubeconfig / --context / in-cluster."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CLUSTER_KIND = "coverage"


def test_coverage(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
