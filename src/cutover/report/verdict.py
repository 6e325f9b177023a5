"""The decision: GO only when every selected check passed or carries a valid waiver."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cutover.registry import kinds
from cutover.targets import Waiver

__all__ = [
    "BLOCKING",
    "OUTCOMES",
    "PASSING",
    "CheckResult",
    "Verdict",
    "decide",
    "finding",
    "kind_finding",
    "name_findings",
    "waiver_for",
]

# Outcomes a check can end with, worst first. The first four block GO.
OUTCOMES = ("failed", "error", "not run", "not verified", "waived", "passed", "n/a")
BLOCKING = ("failed", "error", "not run", "not verified")
# Nothing to read: the check passed, or the service has nothing it covers.
PASSING = ("passed", "n/a")


@dataclass
class CheckResult:
    id: str
    service: str
    wave: int | None
    kind: str
    outcome: str  # one of OUTCOMES
    message: str = ""
    probe: str = ""
    nodeid: str = ""
    duration: float = 0.0
    differences: list[dict[str, Any]] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    waiver: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    # The manifest changes that would close this finding (cutover.fix), for a failed check.
    remedy: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Verdict:
    go: bool
    reason: str
    counts: dict[str, int]
    # False when the run ended early or checked less than it selected: never GO then.
    complete: bool = True

    @property
    def label(self) -> str:
        return "GO" if self.go else "NO-GO"


def waiver_for(waivers: list[Waiver], kind: str, service: str, today: dt.date) -> tuple[Waiver | None, list[str]]:
    """The valid waiver covering (kind, service), and why any matching ones were refused."""
    refused: list[str] = []
    for waiver in waivers:
        if waiver.check not in (kind, "*") or waiver.service not in (service, "*"):
            continue
        problem = waiver.problem(today)
        if problem is None:
            return waiver, refused
        refused.append(f"waiver for {waiver.check} on {waiver.service} {problem}")
    return None, refused


# What a blocking result means, in a change board's words: per check kind (each CheckInfo's
# `finding`), and for the differences that have a name of their own.
FIELD_FINDINGS = {
    "response:strict-transport-security": "HSTS lost",
    "request:x-real-ip": "X-Real-IP lost",
    "request:x-forwarded-proto": "X-Forwarded-Proto lost",
    "request:host": "upstream Host changed",
}


def finding(result: CheckResult) -> str:
    """A short name for what a blocking result found."""
    if result.outcome == "not verified":
        return "not verified: " + kind_finding(result.kind)
    if result.outcome in ("error", "not run"):
        return f"{result.kind} {result.outcome}"
    fields = [
        str(d.get("field")) for d in result.differences if d.get("severity", "fail") == "fail" and not d.get("expected")
    ]
    for field_name in fields:
        if field_name in FIELD_FINDINGS:
            return FIELD_FINDINGS[field_name]
    return kind_finding(result.kind)


def kind_finding(kind: str) -> str:
    info = kinds().get(kind)
    return info.finding if info is not None and info.finding else f"{kind} differs"


def name_findings(results: list[CheckResult], limit: int = 6, services_named: int = 3) -> str:
    """'HSTS lost (llm-gateway, qdrant); client IP or allowlist differs (qdrant); ...', and
    'HSTS lost (500 services: a, b, c and 497 more)' on a large estate."""
    groups: dict[str, dict[str, None]] = {}
    for result in results:
        groups.setdefault(finding(result), {})[result.service] = None
    parts = []
    for name, found in groups.items():
        services = list(found)
        if len(services) > services_named:
            shown = ", ".join(services[:services_named])
            parts.append(f"{name} ({len(services)} services: {shown} and {len(services) - services_named} more)")
        else:
            parts.append(f"{name} ({', '.join(services)})")
    more = f"; and {len(parts) - limit} more" if len(parts) > limit else ""
    count = len(groups)
    return f"{count} finding{'s' if count != 1 else ''} - " + "; ".join(parts[:limit]) + more


def decide(results: list[CheckResult], incomplete: str | None = None) -> Verdict:
    """GO only for a complete run where every selected check passed or was waived.

    `incomplete` is why the run cannot be trusted (interrupted, collection errors, checks
    without a result); such a run is NO-GO whatever its results say.
    """
    counts = {outcome: 0 for outcome in OUTCOMES}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    if incomplete is not None:
        return Verdict(False, f"the run is incomplete: {incomplete}", counts, complete=False)
    blocking = sum(counts[outcome] for outcome in BLOCKING)
    checked = counts["passed"] + counts["waived"]
    if not results or (checked == 0 and blocking == 0):
        return Verdict(False, "nothing was checked: the selection ran no applicable check", counts)
    if blocking:
        return Verdict(False, name_findings([r for r in results if r.outcome in BLOCKING]), counts)
    if counts["waived"]:
        return Verdict(True, f"all {checked} selected checks passed or were waived ({counts['waived']} waived)", counts)
    return Verdict(True, f"all {checked} selected checks passed", counts)
