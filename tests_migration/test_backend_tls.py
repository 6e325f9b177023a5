"""Parity check: backend_tls. Cases come from the targets (cutover.checks.backend_tls)."""

CHECK_KIND = "backend_tls"


def test_backend_tls(cutover_case, cutover_check):
    cutover_check(cutover_case)
