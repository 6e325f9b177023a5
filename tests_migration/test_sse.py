"""Re-exports cutover.suite.test_sse, the sse check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_sse import *  # noqa: F403
