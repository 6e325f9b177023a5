"""What one check hands the report: a typed record that travels with pytest's report.

The record rides in `report.user_properties` (plain JSON-able data), so the verdict can be
written by the process that receives the reports: the one pytest process, or the xdist
controller, which never collects or runs a check itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from cutover.checks.base import Case, Outcome
from cutover.report.redact import redact

__all__ = ["PROPERTY", "CheckRecord", "record_of"]

PROPERTY = "cutover"


@dataclass
class CheckRecord:
    id: str
    service: str
    wave: int | None
    kind: str
    probe: str
    skip_kind: str | None = None
    skip_reason: str | None = None
    differences: list[dict[str, Any]] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    duration: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # A ParityFailure was raised: the failure is a finding, not an error.
    parity_failed: bool = False

    @classmethod
    def of(cls, case: Case, outcome: Outcome | None = None, redact_names: Sequence[str] = ()) -> CheckRecord:
        """The record of a case, with its outcome's differences and evidence (headers named in
        `redact_names` redacted) once it has run."""
        record = cls(
            id=case.id,
            service=case.service.name,
            wave=case.service.wave,
            kind=case.info.kind,
            probe=case.probe,
            skip_kind=case.skip_kind,
            skip_reason=case.skip_reason,
        )
        if outcome is not None:
            record.differences = redact([d.to_dict() for d in outcome.differences], redact_names)
            record.evidence = redact(outcome.evidence, redact_names)
            record.attempts = outcome.attempts
            record.duration = round(outcome.duration, 3)
            record.warnings = [f"{case.id}: {d.line()}" for d in outcome.warnings]
        return record

    def to_property(self) -> tuple[str, dict[str, Any]]:
        """The record as a pytest user property. Its fields as they are, no deep copy: the
        evidence is already a redacted copy of its own, and a deep copy per check was one of the
        run's largest per-check costs at 500 services."""
        return PROPERTY, {item.name: getattr(self, item.name) for item in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckRecord:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def record_of(user_properties: list[tuple[str, Any]]) -> CheckRecord | None:
    for name, value in user_properties:
        if name == PROPERTY and isinstance(value, dict):
            return CheckRecord.from_dict(value)
    return None
