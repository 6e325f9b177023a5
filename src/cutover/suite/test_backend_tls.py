"""Parity check: backend_tls. Cases come from the targets (cutover.checks.backend_tls)."""

from collections.abc import Callable

from cutover.checks.base import Case, Outcome

CHECK_KIND = "backend_tls"


def test_backend_tls(cutover_case: Case, cutover_check: Callable[[Case], Outcome]) -> None:
    cutover_check(cutover_case)
