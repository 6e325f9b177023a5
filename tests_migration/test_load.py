"""Re-exports cutover.suite.test_load, the load check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_load import *  # noqa: F403
