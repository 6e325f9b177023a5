"""Re-exports cutover.suite.test_timeouts, the timeouts check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_timeouts import *  # noqa: F403
