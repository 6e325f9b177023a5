"""Not verified: behaviours this run cannot verify (cutover.checks.unmodelled). Each one
blocks GO until a run that can verify it, or a waiver."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CHECK_KIND = "unmodelled"


def test_unmodelled(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
