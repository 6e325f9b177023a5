"""Load parity (cutover.checks.load). Runs only when asked: pytest -m load."""

CHECK_KIND = "load"


def test_load(cutover_case, cutover_check):
    cutover_check(cutover_case)
