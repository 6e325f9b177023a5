"""Cluster check: phase3, read-only (cutover.cluster.checks). Offline from --manifests,
or live with --kubeconfig / --context / in-cluster."""

CLUSTER_KIND = "phase3"


def test_phase3(cutover_case, cutover_check):
    cutover_check(cutover_case)
