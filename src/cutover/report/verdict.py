"""The decision: GO only when every selected check passed or carries a valid waiver."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cutover.targets import Waiver

__all__ = ["BLOCKING", "OUTCOMES", "CheckResult", "Verdict", "decide", "waiver_for"]

# Outcomes a check can end with, worst first. The first four block GO.
OUTCOMES = ("failed", "error", "not run", "not verified", "waived", "passed", "n/a")
BLOCKING = ("failed", "error", "not run", "not verified")


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
        parts = []
        if counts["failed"]:
            parts.append(f"{counts['failed']} check{'s' if counts['failed'] != 1 else ''} failed")
        if counts["error"]:
            parts.append(f"{counts['error']} errored")
        if counts["not run"]:
            parts.append(f"{counts['not run']} not run")
        if counts["not verified"]:
            parts.append(f"{counts['not verified']} not verified")
        worst = next(r for r in results if r.outcome in BLOCKING)
        return Verdict(False, f"{', '.join(parts)} (first: {worst.id}, {worst.kind})", counts)
    if counts["waived"]:
        return Verdict(True, f"all {checked} selected checks passed or were waived ({counts['waived']} waived)", counts)
    return Verdict(True, f"all {checked} selected checks passed", counts)
