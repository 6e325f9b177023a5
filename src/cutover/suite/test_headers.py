"""Parity check: headers. Cases come from the targets (cutover.checks.headers)."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CHECK_KIND = "headers"


def test_headers(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
