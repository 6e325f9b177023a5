"""Parity check: sse. Cases come from the targets (cutover.checks.sse)."""

CHECK_KIND = "sse"


def test_sse(cutover_case, cutover_check):
    cutover_check(cutover_case)
