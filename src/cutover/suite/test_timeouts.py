"""Parity check: timeouts. Cases come from the targets (cutover.checks.timeouts)."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CHECK_KIND = "timeouts"


def test_timeouts(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
