"""How a parity check is described, run and judged: cases, differences, convergence.

A check module provides `INFO` (its metadata, like the conformance suite's ShortName /
Description / Features) and `cases(targets)`; each case's `run` fires identical
requests at both endpoints and returns an Outcome with side-by-side evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cutover.probe.client import Endpoint, ProbeResult, fetch
from cutover.targets import ServiceTarget, Targets

__all__ = [
    "Case",
    "CheckInfo",
    "Difference",
    "Outcome",
    "ParityFailure",
    "ProbeContext",
    "converge",
    "not_applicable",
    "not_configured",
    "on_both",
    "side_summary",
]

SIDES = ("nginx", "gateway")


@dataclass(frozen=True)
class CheckInfo:
    kind: str
    title: str
    description: str
    protects: tuple[str, ...] = ()
    slow: bool = False


@dataclass
class Difference:
    """One field that differs: both sides side by side, and how much it matters."""

    field: str
    nginx: Any
    gateway: Any
    severity: str = "fail"  # fail | warn | info
    expected: str | None = None  # the reviewed reason, when the targets file expects it
    note: str = ""
    # What the two columns are: the two proxies, or (cluster checks) expected and found.
    sides: tuple[str, str] = ("nginx", "gateway")

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "nginx": _plain(self.nginx),
            "gateway": _plain(self.gateway),
            "severity": self.severity,
            "expected": self.expected,
            "note": self.note,
            "sides": list(self.sides),
        }

    def line(self) -> str:
        tail = f" ({self.note})" if self.note else ""
        left, right = self.sides
        return f"{self.field}: {left} {_short(self.nginx)}, {right} {_short(self.gateway)}{tail}"


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _short(value: Any) -> str:
    text = "(none)" if value is None else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass
class Outcome:
    """The verdict of one case and the evidence behind it."""

    differences: list[Difference] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1
    converged: bool = True
    duration: float = 0.0
    baseline: str | None = None  # why nginx is not a valid reference (None when it is)

    @property
    def failures(self) -> list[Difference]:
        return [d for d in self.differences if d.severity == "fail" and d.expected is None]

    @property
    def warnings(self) -> list[Difference]:
        return [d for d in self.differences if d.severity == "warn" and d.expected is None]

    @property
    def expected(self) -> list[Difference]:
        return [d for d in self.differences if d.expected is not None]

    def signature(self) -> tuple[tuple[str, str, str], ...]:
        return tuple((d.field, repr(d.nginx), repr(d.gateway)) for d in self.failures)


class ParityFailure(AssertionError):
    """A case whose two sides differ where they must not."""

    def __init__(self, case: Case, outcome: Outcome) -> None:
        self.case = case
        self.outcome = outcome
        what = "parity fails" if not outcome.failures or outcome.failures[0].sides == ("nginx", "gateway") else "fails"
        lines = [f"{case.id}: {case.info.kind} {what}"]
        lines += [f"  {d.line()}" for d in outcome.failures]
        if not outcome.converged:
            lines.append(f"  (did not converge in {outcome.attempts} attempts)")
        super().__init__("\n".join(lines))


@dataclass
class ProbeContext:
    """What a case needs to send requests: the targets and the run's settings."""

    targets: Targets
    attempts: int = 3
    max_attempts: int = 8
    progress: Callable[[str], None] | None = None

    def source(self, service: ServiceTarget, vantage: str | None = None) -> str | None:
        return self.targets.source_address(service, vantage)

    def fetch(self, endpoint: Endpoint, service: ServiceTarget, path: str, **kwargs: Any) -> ProbeResult:
        kwargs.setdefault("source", self.source(service))
        kwargs.setdefault("ca_bundle", self.targets.ca_bundle)
        kwargs.setdefault("scheme", service.scheme)
        return fetch(endpoint, service.host, path, **kwargs)


def on_both(targets: Targets, action: Callable[[Endpoint], Any]) -> tuple[Any, Any]:
    """Run action against nginx and the Gateway at the same time."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cutover-side") as pool:
        nginx = pool.submit(action, targets.nginx)
        gateway = pool.submit(action, targets.gateway)
        return nginx.result(), gateway.result()


def converge(run_once: Callable[[], Outcome], attempts: int, max_attempts: int) -> Outcome:
    """Repeat until `attempts` consecutive runs agree (all pass, or the same failure)."""
    history: list[Outcome] = []
    streak = 0
    while len(history) < max(max_attempts, attempts):
        outcome = run_once()
        streak = streak + 1 if history and history[-1].signature() == outcome.signature() else 1
        history.append(outcome)
        if streak >= attempts:
            outcome.attempts = len(history)
            return outcome
    last = history[-1]
    last.attempts = len(history)
    last.converged = False
    if not last.failures:
        earlier = next((h for h in reversed(history) if h.failures), None)
        if earlier is not None:
            last.differences += earlier.failures
    return last


def side_summary(result: ProbeResult, extra_headers: tuple[str, ...] = ()) -> dict[str, Any]:
    """The evidence of one side for the report: request, status, key headers, backend, timing."""
    wanted = ("location", "content-type", "server", "strict-transport-security", *extra_headers)
    data = result.json
    return {
        "request": f"{result.method} {result.scheme}://{result.host}{result.path}",
        "source": result.source,
        "status": result.status,
        "error": result.error,
        "headers": {k: v for k, v in result.headers.items() if k in wanted},
        "backend": result.backend,
        "backend_path": data.get("path") if data else None,
        "elapsed": round(result.elapsed, 3),
        "body": result.body[:400].decode("utf-8", errors="replace"),
    }


@dataclass
class Case:
    """One parametrized check: a service and a probe, with what the check needs to run it."""

    info: CheckInfo
    service: ServiceTarget
    probe: str
    params: dict[str, Any] = field(default_factory=dict)
    runner: Callable[[Case, ProbeContext], Outcome] | None = None
    skip_reason: str | None = None
    # "n/a": the service has nothing this check covers; "not run": it should, but the
    # target lacks the settings to run it (that blocks GO).
    skip_kind: str | None = None

    @property
    def id(self) -> str:
        return f"{self.service.name}[{self.probe}]"

    def __repr__(self) -> str:
        return f"<{self.info.kind} case {self.id}>"

    @property
    def slow(self) -> bool:
        return self.info.slow

    def run(self, context: ProbeContext) -> Outcome:
        assert self.runner is not None, "a skipped case has nothing to run"
        started = time.monotonic()
        outcome = self.runner(self, context)
        outcome.duration = time.monotonic() - started
        for difference in outcome.differences:
            if difference.expected is None:
                reviewed = self.service.expected(self.info.kind, self.probe, difference.field)
                if reviewed is not None:
                    difference.expected = reviewed.reason
        return outcome


def not_applicable(info: CheckInfo, service: ServiceTarget, reason: str) -> Case:
    return Case(info, service, "n/a", skip_reason=f"Skipping {info.kind} for {service.name}: {reason}", skip_kind="n/a")


def not_configured(info: CheckInfo, service: ServiceTarget, reason: str) -> Case:
    return Case(
        info,
        service,
        "not configured",
        skip_reason=f"Not running {info.kind} for {service.name}: {reason}",
        skip_kind="not run",
    )
