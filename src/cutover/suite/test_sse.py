"""Parity check: sse. Cases come from the targets (cutover.checks.sse)."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CHECK_KIND = "sse"


def test_sse(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
