"""Cluster check: phase1, read-only (cutover.cluster.checks). Offline from --manifests,
or live with --kubeconfig / --context / in-cluster."""

CLUSTER_KIND = "phase1"


def test_phase1(cutover_case, cutover_check):
    cutover_check(cutover_case)
