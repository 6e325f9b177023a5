"""Load parity (cutover.checks.load). Runs only when asked: pytest -m load."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CHECK_KIND = "load"


def test_load(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
