"""How a parity check is described, run and judged: cases, differences, convergence.

A check module provides `INFO` (its metadata, like the conformance suite's ShortName /
Description / Features) and `cases(targets)`; each case's `run` fires identical
requests at both endpoints and returns an Outcome with side-by-side evidence.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cutover.probe.client import Endpoint, Identity, ProbeResult, fetch
from cutover.probe.pool import WorkerPool
from cutover.registry import CheckInfo
from cutover.targets import ServiceTarget, Targets

__all__ = [
    "BASELINE_BROKEN",
    "BaselineError",
    "Case",
    "CheckInfo",
    "Difference",
    "Outcome",
    "ParityFailure",
    "ProbeContext",
    "backend_difference",
    "baseline_problem",
    "converge",
    "no_backend_named",
    "not_applicable",
    "not_configured",
    "on_both",
    "on_both_rounds",
    "side_summary",
]

# Workers for short requests sent many times over (a paths probe's attempts): a few hundred
# probes share them instead of starting a thread per request. Never for a request that waits
# on purpose (a delay, a stream): it would hold a worker the short ones need.
REQUEST_WORKERS = 16
_REQUESTS = WorkerPool(REQUEST_WORKERS, "cutover-request")

BASELINE_BROKEN = "nginx does not serve this rule: the baseline is broken"

SIDES = ("nginx", "gateway")


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
    # The reviewed entry behind `expected` (owner, reason, expiry), shown with the waived result.
    reviewed: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "nginx": _plain(self.nginx),
            "gateway": _plain(self.gateway),
            "severity": self.severity,
            "expected": self.expected,
            "note": self.note,
            "sides": list(self.sides),
            "reviewed": self.reviewed,
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
    # Why nginx is not a valid reference for this case (None when it is): the case is an error,
    # never a pass and never a parity failure. Both sides failing the same way is not parity.
    baseline: str | None = None
    # What this case could not verify and what would let it run (None when it ran in full);
    # with no failures, the case is "not run", not a pass.
    not_run: str | None = None

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
        broken = (("baseline", "broken", ""),) if self.baseline else ()
        return broken + tuple((d.field, repr(d.nginx), repr(d.gateway)) for d in self.failures)


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


class BaselineError(Exception):
    """nginx, the reference, did not serve the case as it must: the result is an error."""

    def __init__(self, case: Case, outcome: Outcome) -> None:
        self.case = case
        self.outcome = outcome
        nginx = outcome.evidence.get("nginx")
        lines = [f"{case.id}: {case.info.kind}: {BASELINE_BROKEN}", f"  why: {outcome.baseline}"]
        if isinstance(nginx, dict) and nginx.get("status") is not None:
            served = nginx.get("served_by") or nginx.get("backend")
            lines.append(
                f"  nginx answered: {nginx['status']}" + (f" from {served}" if served else " (no backend named)")
            )
        super().__init__("\n".join(lines))


def baseline_problem(nginx: ProbeResult, expected_backend: str | None = None, own_rule: bool = True) -> str | None:
    """Why nginx's answer is not a valid reference, or None.

    Any transport error (refused, TLS, timeout, reset) breaks the baseline; so does a 5xx
    nginx made itself. For a probe of a rule's own path (own_rule), nginx must also have
    reached a backend, and when the probe backend's echo names it, the rule's backend."""
    request = f"{nginx.method} {nginx.scheme}://{nginx.host}{nginx.path}"
    if nginx.error is not None:
        return f"nginx gave no answer to {request}: {nginx.error_kind} ({nginx.error})"
    if nginx.status is not None and nginx.status >= 500 and not nginx.identified:
        return f"nginx answered {request} with {nginx.status} and no backend behind it"
    if not own_rule:
        return None
    if not nginx.identified:
        if nginx.identity is not None:
            return (
                f"nginx answered {request} with {nginx.status} but no {nginx.identity.describe()}: "
                "the answer did not come from the rule's backend"
            )
        if nginx.status is not None and nginx.status >= 400:
            return (
                f"nginx answered {request} with {nginx.status} and nothing names a backend: nginx's own answer, "
                "not the rule's backend's (if the backend itself answers this, name it with identity)"
            )
        return None  # a success that names no backend: the check reports "not run" (no_backend_named)
    if expected_backend and nginx.identity is None and nginx.backend != expected_backend:
        return f"nginx answered {request} from {nginx.served_by}, not from the rule's backend {expected_backend}"
    return None


def no_backend_named(identity: Identity | None) -> str:
    """The "not run" reason when nginx's answer carries neither the echo nor an identity."""
    if identity is not None:
        return f"nginx's answer has no {identity.describe()}, so the backend that served it is unknown"
    return (
        "nginx's answer carries no probe-backend echo and the targets set no identity, so the backend "
        "that served it is unknown; set identity: {header: <a response header naming the backend>} "
        "(or {json: <a body field>}) for the service or globally, or probe the lab's backends"
    )


def backend_difference(nginx: ProbeResult, gateway: ProbeResult, field_name: str = "backend") -> Difference | None:
    """The Service (and port) that answered on each side, when they differ."""
    if nginx.served_by == gateway.served_by:
        return None
    note = "" if gateway.served_by else f"the Gateway answered {gateway.outcome_text()}"
    return Difference(field_name, nginx.served_by, gateway.served_by, note=note)


@dataclass
class ProbeContext:
    """What a case needs to send requests: the targets and the run's settings."""

    targets: Targets
    attempts: int = 3
    max_attempts: int = 8
    progress: Callable[[str], None] | None = None

    def source(self, service: ServiceTarget, vantage: str | None = None) -> str | None:
        return self.targets.source_address(service, vantage)

    @property
    def path_attempts(self) -> int:
        """How often each paths probe is sent (the targets' paths.attempts)."""
        return self.targets.path_attempts

    def fetch(self, endpoint: Endpoint, service: ServiceTarget, path: str, **kwargs: Any) -> ProbeResult:
        kwargs.setdefault("source", self.source(service))
        kwargs.setdefault("ca_bundle", self.targets.ca_bundle)
        kwargs.setdefault("scheme", service.scheme)
        kwargs.setdefault("identity", self.targets.identity_of(service))
        host = kwargs.pop("host", service.host)
        return fetch(endpoint, host, path, **kwargs)


def on_both(targets: Targets, action: Callable[[Endpoint], Any]) -> tuple[Any, Any]:
    """Run action against nginx and the Gateway at the same time."""
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def side(name: str, endpoint: Endpoint) -> None:
        try:
            results[name] = action(endpoint)
        except BaseException as exc:
            errors[name] = exc

    # nginx on a thread of its own, the Gateway on this one: one thread started per call, not
    # two. A daemon thread: a run stopped with Ctrl-C exits without waiting for a long probe.
    thread = threading.Thread(target=side, args=("nginx", targets.nginx), name="cutover-nginx", daemon=True)
    thread.start()
    try:
        results["gateway"] = action(targets.gateway)
    except Exception as exc:  # a Ctrl-C goes straight through
        errors["gateway"] = exc
    thread.join()
    for name in ("nginx", "gateway"):
        if name in errors:
            raise errors[name]
    return results["nginx"], results["gateway"]


def on_both_rounds(targets: Targets, action: Callable[[Endpoint], Any], rounds: int) -> list[tuple[Any, Any]]:
    """`rounds` times action against nginx and the Gateway, every call its own request, all on
    the shared request workers; (nginx, gateway) per round, in order. Both sides of a round are
    queued one after the other, so they run close together in time, not at the same instant (the
    paths check compares statuses and backends, not timing)."""
    calls = [endpoint for _ in range(rounds) for endpoint in (targets.nginx, targets.gateway)]
    results = _REQUESTS.map(action, calls)
    return [(results[index], results[index + 1]) for index in range(0, len(results), 2)]


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
    if last.baseline is None:
        last.baseline = next((h.baseline for h in reversed(history) if h.baseline), None)
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
        "served_by": result.served_by,
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

    @property
    def expected_seconds(self) -> float:
        """About how long a long probe takes (for progress lines): its stream length or delay."""
        for key in ("length", "seconds", "delay", "duration"):
            value = self.params.get(key)
            if isinstance(value, int | float):
                return float(value)
        return 0.0

    def run(self, context: ProbeContext) -> Outcome:
        assert self.runner is not None, "a skipped case has nothing to run"
        started = time.monotonic()
        outcome = self.runner(self, context)
        outcome.duration = time.monotonic() - started
        today = dt.date.today()
        for difference in outcome.differences:
            if difference.expected is not None:
                continue
            reviewed = self.service.expected(self.info.kind, self.probe, difference.field)
            if reviewed is None:
                continue
            if reviewed.expired(today):
                # An expired review no longer counts: the difference fails again, and says why.
                expiry = reviewed.expires.isoformat() if reviewed.expires else "?"
                stale = f"expected difference by {reviewed.owner} expired on {expiry}"
                difference.note = f"{difference.note}; {stale}" if difference.note else stale
                continue
            difference.expected = reviewed.reason
            difference.reviewed = reviewed.describe()
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
