"""Parity check: source_ip. Cases come from the targets (cutover.checks.source_ip)."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CHECK_KIND = "source_ip"


def test_source_ip(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
