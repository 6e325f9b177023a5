"""Re-exports cutover.suite.test_headers, the headers check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_headers import *  # noqa: F403
