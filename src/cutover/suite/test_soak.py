"""Soak check: Hubble flows of the migrated services (cutover.soak). Runs only when asked:
pytest -m soak (or -m phase3) --hubble-relay HOST:PORT | --hubble-flows FILE."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

SOAK_CHECK = True


def test_soak(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
