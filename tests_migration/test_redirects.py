"""Re-exports cutover.suite.test_redirects, the redirects check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_redirects import *  # noqa: F403
