"""Re-exports cutover.suite.test_coverage, the coverage check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_coverage import *  # noqa: F403
