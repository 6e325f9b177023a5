"""What is compared, per check kind: each module has INFO and cases(targets). The kinds are
listed in cutover.registry, which loads these modules when asked."""

from cutover.checks.base import Case, CheckInfo, Difference, Outcome, ParityFailure, ProbeContext

__all__ = ["Case", "CheckInfo", "Difference", "Outcome", "ParityFailure", "ProbeContext"]
