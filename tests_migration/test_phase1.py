"""Re-exports cutover.suite.test_phase1, the phase1 check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_phase1 import *  # noqa: F403
