"""Cluster check: coverage, read-only (cutover.cluster.checks). Offline from --manifests,
or live with --kubeconfig / --context / in-cluster."""

CLUSTER_KIND = "coverage"


def test_coverage(cutover_case, cutover_check):
    cutover_check(cutover_case)
