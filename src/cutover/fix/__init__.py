"""`cutover fix`: the manifest change that closes each finding, proven in the lab."""

from cutover.fix.remedies import (
    FIXABLE,
    NEEDS_PROFILE,
    NOT_FIXABLE,
    Finding,
    FixPlan,
    Remedy,
    findings_of,
    plan_fix,
    remedies_by_check,
)
from cutover.fix.workspace import Workspace

__all__ = [
    "FIXABLE",
    "NEEDS_PROFILE",
    "NOT_FIXABLE",
    "Finding",
    "FixPlan",
    "Remedy",
    "Workspace",
    "findings_of",
    "plan_fix",
    "remedies_by_check",
]
