"""Re-exports cutover.suite.test_backend_tls, the backend_tls check's pytest module (one source for the checkout and
the installed package)."""

from cutover.suite.test_backend_tls import *  # noqa: F403
