"""Re-exports cutover.suite.test_source_ip, the source_ip check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_source_ip import *  # noqa: F403
