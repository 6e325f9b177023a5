"""Re-exports cutover.suite.test_phase0, the phase0 check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_phase0 import *  # noqa: F403
