"""Parity check: timeouts. Cases come from the targets (cutover.checks.timeouts)."""

CHECK_KIND = "timeouts"


def test_timeouts(cutover_case, cutover_check):
    cutover_check(cutover_case)
