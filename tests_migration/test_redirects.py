"""Parity check: redirects. Cases come from the targets (cutover.checks.redirects)."""

CHECK_KIND = "redirects"


def test_redirects(cutover_case, cutover_check):
    cutover_check(cutover_case)
