"""Re-exports cutover.suite.test_soak, the soak check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_soak import *  # noqa: F403
