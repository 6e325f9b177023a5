"""Soak check: Hubble flows of the migrated services (cutover.soak). Runs only when asked:
pytest -m soak (or -m phase3) --hubble-relay HOST:PORT | --hubble-flows FILE."""

SOAK_CHECK = True


def test_soak(cutover_case, cutover_check):
    cutover_check(cutover_case)
