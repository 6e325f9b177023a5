"""Timeouts at their real values: a request silent until just under nginx's idle limit must
pass the Gateway too, and (where the target asks) one silent past it must be cut on both
sides, the Gateway no earlier than nginx.

Two different limits meet here. nginx's `proxy-read-timeout` is an idle limit: the time
between two reads from the backend. Gateway API's `timeouts.request` / `backendRequest`
become Envoy's route timeout, a total duration (Envoy's route `timeout` "spans between the
point at which the entire downstream request has been processed and when the upstream
response has been completely processed", envoyproxy/envoy docs, route_components.proto).
The Gateway's idle limit is its stream idle timeout (Cilium: 300 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cutover.checks.base import (
    Case,
    CheckInfo,
    Difference,
    Outcome,
    ProbeContext,
    not_applicable,
    on_both,
    side_summary,
)
from cutover.facts.annotations import verified_by
from cutover.facts.cilium import ENVOY_ROUTE_DEFAULT_TIMEOUT
from cutover.probe.client import ProbeResult
from cutover.targets import ServiceTarget, Targets

__all__ = [
    "CUT_STATUSES",
    "DEFAULT_READ_TIMEOUT",
    "ENVOY_DEFAULT_ROUTE_TIMEOUT",
    "INFO",
    "Limits",
    "cases",
    "limits_for",
]

# Envoy's route default is a Cilium-release fact (the 1.15.0 row): defined in facts/cilium.py.
ENVOY_DEFAULT_ROUTE_TIMEOUT = ENVOY_ROUTE_DEFAULT_TIMEOUT
# ingress-nginx's controller default for proxy-read-timeout (internal/ingress/controller/config/config.go).
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_IDLE_MARGIN = 2.0
DEFAULT_BEYOND_MARGIN = 5.0
DEFAULT_TOLERANCE = 1.0
# A client clock and a backend's sleep can disagree by a few milliseconds, never by more.
EARLY_SLACK = 0.05
# nginx answers 504 when proxy_read_timeout fires; Envoy 504 on its route timeout and 408
# when the stream idle timeout fires before the response started.
CUT_STATUSES = (408, 504)
INFO = CheckInfo(
    kind="timeouts",
    title="Timeouts at nginx's real limit",
    description="A request silent until just under nginx's idle limit (proxy-read-timeout) succeeds on both sides, "
    "no sooner than it asked; optionally, one silent past the limit is cut on both, the Gateway no earlier than nginx.",
    protects=verified_by("timeouts"),
    slow=True,
    marker="requests silent up to nginx's idle limit succeed on both sides; the Gateway cuts no earlier",
    finding="timeouts differ",
    settings="timeouts",
)


@dataclass(frozen=True)
class Limits:
    """The limits that apply to one path of a service (seconds)."""

    read_timeout: float  # nginx: idle, between two reads
    gateway_total: float | None  # Gateway route timeout: total duration (None: none)
    gateway_idle: float | None  # Gateway stream idle timeout (None: unknown)
    idle_margin: float
    tolerance: float

    @property
    def silent_seconds(self) -> float:
        return self.read_timeout - self.idle_margin


def _bare(path: str) -> str:
    return path.split("?", 1)[0]


def limits_for(service: ServiceTarget, path: str) -> Limits:
    """The limits of the rule that serves `path`: its own entry in timeouts.paths, else the service's."""
    settings = service.timeouts
    rule: dict[str, Any] = next((r for r in settings.get("paths") or [] if r.get("path") == _bare(path)), {})
    read = rule.get("read_timeout", settings.get("read_timeout", DEFAULT_READ_TIMEOUT))
    total = rule["gateway_total"] if "gateway_total" in rule else settings.get("gateway_total")
    idle = settings.get("gateway_idle")
    return Limits(
        read_timeout=float(read),
        gateway_total=float(total) if total else None,
        gateway_idle=float(idle) if idle else None,
        idle_margin=min(float(settings.get("idle_margin", DEFAULT_IDLE_MARGIN)), float(read) / 2),
        tolerance=float(settings.get("tolerance_seconds", DEFAULT_TOLERANCE)),
    )


def _paths(service: ServiceTarget) -> list[str]:
    """Every rule's own path (each rule may carry its own Gateway timeout), or the configured one."""
    configured = service.timeouts.get("path")
    if configured:
        return [str(configured)]
    found: list[str] = []
    for rule in service.paths:
        if rule.type in ("Exact", "Prefix", "ImplementationSpecific") and rule.path not in found:
            found.append(rule.path)
    return found or [service.first_path]


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        if "timeouts" not in service.checks:
            result.append(not_applicable(INFO, service, "the target declares no timeout check"))
            continue
        for path in _paths(service):
            limits = limits_for(service, path)
            delay = round(limits.silent_seconds, 3)
            result.append(
                Case(
                    INFO,
                    service,
                    f"silent {delay:g}s {path}",
                    {"path": path, "delay": delay, "expect": "success", "limits": limits},
                    _run,
                )
            )
            if service.timeouts.get("beyond_limit"):
                # Silent past both idle limits, so both sides must cut; then when each cut is compared.
                longest_idle = max(limits.read_timeout, limits.gateway_idle or 0.0)
                beyond = longest_idle + float(service.timeouts.get("beyond_margin", DEFAULT_BEYOND_MARGIN))
                result.append(
                    Case(
                        INFO,
                        service,
                        f"beyond {limits.read_timeout:g}s {path}",
                        {"path": path, "delay": beyond, "expect": "cut", "limits": limits},
                        _run,
                    )
                )
    return result


def _with_query(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


def _succeeded(result: ProbeResult) -> bool:
    return result.status == 200 and result.backend is not None


def _cut(result: ProbeResult) -> bool:
    return result.status in CUT_STATUSES or result.error_kind in ("timeout", "reset")


def _describe(result: ProbeResult) -> str:
    what = str(result.status) if result.status is not None else (result.error_kind or "error")
    served = f" from {result.backend}" if result.backend else ""
    return f"{what}{served} after {result.elapsed:.1f} s"


def _why_cut(gateway: ProbeResult, limits: Limits) -> str:
    """What most likely cut the Gateway's request, from when it happened."""
    at = gateway.elapsed
    near = limits.tolerance + 1.0
    if gateway.status == 504 and abs(at - ENVOY_DEFAULT_ROUTE_TIMEOUT) <= near:
        return "the classic 15 s regression: Envoy's 15 s route default applies"
    if limits.gateway_total is not None and abs(at - limits.gateway_total) <= near:
        return f"its route timeout (timeouts.request/backendRequest) is {limits.gateway_total:g} s"
    if limits.gateway_idle is not None and abs(at - limits.gateway_idle) <= near:
        return f"its stream idle timeout is {limits.gateway_idle:g} s"
    return "a Gateway limit shorter than nginx's"


def _run(case: Case, context: ProbeContext) -> Outcome:
    delay = float(case.params["delay"])
    limits: Limits = case.params["limits"]
    path = _with_query(str(case.params["path"]), f"delay={delay:g}")
    nginx, gateway = on_both(
        context.targets, lambda endpoint: context.fetch(endpoint, case.service, path, timeout=delay + 30.0)
    )
    evidence = {
        "nginx": side_summary(nginx),
        "gateway": side_summary(gateway),
        "delay": delay,
        "line": ENVOY_DEFAULT_ROUTE_TIMEOUT,
        "limits": {
            "nginx_read_timeout": limits.read_timeout,
            "gateway_total": limits.gateway_total,
            "gateway_idle": limits.gateway_idle,
            "tolerance": limits.tolerance,
        },
        "durations": {"nginx": round(nginx.elapsed, 3), "gateway": round(gateway.elapsed, 3)},
    }
    if case.params["expect"] == "success":
        return _judge_silent(delay, limits, nginx, gateway, evidence)
    return _judge_beyond(delay, limits, nginx, gateway, evidence)


def _judge_silent(
    delay: float, limits: Limits, nginx: ProbeResult, gateway: ProbeResult, evidence: dict[str, object]
) -> Outcome:
    outcome = Outcome(evidence=evidence)
    if not _succeeded(nginx):
        outcome.baseline = (
            f"nginx did not serve a request silent for {delay:g} s ({_describe(nginx)}), under its "
            f"{limits.read_timeout:g} s read timeout: the baseline is broken (is timeouts.read_timeout right?)"
        )
    elif nginx.elapsed < delay - EARLY_SLACK:
        outcome.baseline = (
            f"nginx answered after {nginx.elapsed:.1f} s, before the {delay:g} s the probe asked for: the backend "
            "did not wait, so the probe proves nothing (does the endpoint honour ?delay=?)"
        )
    differences = outcome.differences
    if gateway.status == 200 and gateway.elapsed < delay - EARLY_SLACK:
        # A 200 sooner than the backend could answer: whoever sent it, it proves nothing.
        differences.append(
            Difference(
                "elapsed",
                f"{nginx.elapsed:.1f} s",
                f"{gateway.elapsed:.1f} s",
                note=f"the Gateway answered before the {delay:g} s the probe asked for: that answer proves nothing",
            )
        )
    elif not _succeeded(gateway):
        note = ""
        if _cut(gateway) and gateway.elapsed < delay:
            note = (
                f"the Gateway cut the request at {gateway.elapsed:.1f} s, before nginx's {limits.read_timeout:g} s "
                f"idle limit; {_why_cut(gateway, limits)}"
            )
        differences.append(Difference("result", _describe(nginx), _describe(gateway), note=note))
    if _succeeded(nginx) and _succeeded(gateway) and nginx.backend != gateway.backend:
        differences.append(Difference("backend", nginx.backend, gateway.backend))
    return outcome


def _judge_beyond(
    delay: float, limits: Limits, nginx: ProbeResult, gateway: ProbeResult, evidence: dict[str, object]
) -> Outcome:
    outcome = Outcome(evidence=evidence)
    read, tolerance = limits.read_timeout, limits.tolerance
    if not _cut(nginx):
        outcome.baseline = (
            f"nginx did not cut a request silent for {delay:g} s ({_describe(nginx)}): its idle limit is not the "
            f"{read:g} s the target says (timeouts.read_timeout)"
        )
    elif nginx.elapsed < read - tolerance:
        outcome.baseline = (
            f"nginx cut the request at {nginx.elapsed:.1f} s, before its {read:g} s read timeout: "
            "something else limits the old side"
        )
    differences = outcome.differences
    if not _cut(gateway):
        differences.append(
            Difference(
                "gateway limit",
                _describe(nginx),
                _describe(gateway),
                note=f"gateway did not enforce the {read:g} s limit"
                + (f" nor its own {limits.gateway_idle:g} s idle limit" if limits.gateway_idle else ""),
            )
        )
    elif _cut(nginx) and gateway.elapsed < nginx.elapsed - tolerance:
        differences.append(
            Difference(
                "cut at",
                f"{nginx.elapsed:.1f} s",
                f"{gateway.elapsed:.1f} s",
                note=f"the Gateway cut {nginx.elapsed - gateway.elapsed:.1f} s before nginx (tolerance "
                f"{tolerance:g} s); {_why_cut(gateway, limits)}",
            )
        )
    return outcome
