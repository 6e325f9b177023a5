"""Parity check: redirects. Cases come from the targets (cutover.checks.redirects)."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CHECK_KIND = "redirects"


def test_redirects(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
