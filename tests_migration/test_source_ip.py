"""Parity check: source_ip. Cases come from the targets (cutover.checks.source_ip)."""

CHECK_KIND = "source_ip"


def test_source_ip(cutover_case, cutover_check):
    cutover_check(cutover_case)
