"""The decision: GO only when every selected check passed or carries a valid waiver."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cutover.targets import Waiver

__all__ = ["CheckResult", "Verdict", "decide", "waiver_for"]

# Outcomes a check can end with, worst first.
OUTCOMES = ("failed", "error", "not run", "waived", "passed", "n/a")


@dataclass
class CheckResult:
    id: str
    service: str
    wave: int | None
    kind: str
    outcome: str  # passed | failed | error | waived | n/a | not run
    message: str = ""
    probe: str = ""
    nodeid: str = ""
    duration: float = 0.0
    differences: list[dict[str, Any]] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    waiver: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

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


def decide(results: list[CheckResult]) -> Verdict:
    counts = {outcome: 0 for outcome in OUTCOMES}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    blocking = counts["failed"] + counts["error"] + counts["not run"]
    checked = counts["passed"] + counts["waived"]
    if not results or (checked == 0 and blocking == 0):
        return Verdict(False, "nothing was checked: the selection ran no applicable check", counts)
    if blocking:
        parts = []
        if counts["failed"]:
            parts.append(f"{counts['failed']} check{'s' if counts['failed'] != 1 else ''} failed")
        if counts["error"]:
            parts.append(f"{counts['error']} errored")
        if counts["not run"]:
            parts.append(f"{counts['not run']} not run for lack of configuration")
        worst = next(r for r in results if r.outcome in ("failed", "error", "not run"))
        return Verdict(False, f"{', '.join(parts)} (first: {worst.id}, {worst.kind})", counts)
    waived = f", {counts['waived']} under a valid waiver" if counts["waived"] else ""
    return Verdict(True, f"all {checked} selected checks passed{waived}", counts)
