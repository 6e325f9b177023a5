"""Parity check: headers. Cases come from the targets (cutover.checks.headers)."""

CHECK_KIND = "headers"


def test_headers(cutover_case, cutover_check):
    cutover_check(cutover_case)
