"""Cluster check: phase0, read-only (cutover.cluster.checks). Offline from --manifests,
or live with --kubeconfig / --context / in-cluster."""

CLUSTER_KIND = "phase0"


def test_phase0(cutover_case, cutover_check):
    cutover_check(cutover_case)
