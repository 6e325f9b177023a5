"""What is compared, per check kind: each module has INFO and cases(targets)."""

from types import ModuleType

from cutover.checks import backend_tls, headers, load, paths, redirects, source_ip, sse, timeouts, unmodelled
from cutover.checks.base import Case, CheckInfo, Difference, Outcome, ParityFailure, ProbeContext

CHECK_MODULES: dict[str, ModuleType] = {
    module.INFO.kind: module
    for module in (paths, timeouts, sse, source_ip, backend_tls, redirects, headers, unmodelled, load)
}

__all__ = ["CHECK_MODULES", "Case", "CheckInfo", "Difference", "Outcome", "ParityFailure", "ProbeContext"]
