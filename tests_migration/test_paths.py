"""Parity check: paths. Cases come from the targets (cutover.checks.paths)."""

CHECK_KIND = "paths"


def test_paths(cutover_case, cutover_check):
    cutover_check(cutover_case)
