"""Re-exports cutover.suite.test_phase3, the phase3 check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_phase3 import *  # noqa: F403
