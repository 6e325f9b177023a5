"""Parity check: paths. Cases come from the targets (cutover.checks.paths)."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CHECK_KIND = "paths"


def test_paths(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
