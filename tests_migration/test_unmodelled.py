"""Re-exports cutover.suite.test_unmodelled, the unmodelled check's pytest module (one source for the
checkout and the installed package)."""

from cutover.suite.test_unmodelled import *  # noqa: F403
