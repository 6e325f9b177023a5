"""Re-exports cutover.suite.test_paths, the paths check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_paths import *  # noqa: F403
