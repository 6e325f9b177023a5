"""Timeouts beyond 15 s: a slow request nginx allowed must also pass the Gateway, and where
the target asks, a request beyond the limit must time out on both sides."""

from __future__ import annotations

from cutover.checks.base import (
    Case,
    CheckInfo,
    Difference,
    Outcome,
    ProbeContext,
    not_applicable,
    not_configured,
    on_both,
    side_summary,
)
from cutover.probe.client import ProbeResult
from cutover.targets import ServiceTarget, Targets

__all__ = ["ENVOY_DEFAULT_ROUTE_TIMEOUT", "INFO", "cases"]

ENVOY_DEFAULT_ROUTE_TIMEOUT = 15.0
INFO = CheckInfo(
    kind="timeouts",
    title="Timeouts beyond 15 s",
    description="A request slower than Envoy's 15 s default (and within nginx's read timeout) succeeds on both "
    "sides; optionally, one beyond the configured limit times out on both.",
    protects=("proxy-read-timeout", "proxy-send-timeout"),
    slow=True,
)


def _path(service: ServiceTarget) -> str:
    configured = service.timeouts.get("path")
    if configured:
        return str(configured)
    for rule in service.paths:
        return rule.path
    return "/"


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        if "timeouts" not in service.checks:
            result.append(not_applicable(INFO, service, "the target declares no timeout check"))
            continue
        read_timeout = float(service.timeouts.get("read_timeout", 60))
        delay = float(service.timeouts.get("slow_request_seconds", 20))
        if delay <= ENVOY_DEFAULT_ROUTE_TIMEOUT or delay >= read_timeout:
            result.append(
                not_configured(
                    INFO,
                    service,
                    f"no delay fits between 15 s and nginx's read timeout of {read_timeout:g} s (asked: {delay:g} s)",
                )
            )
            continue
        path = _path(service)
        result.append(
            Case(INFO, service, f"slow {delay:g}s", {"path": path, "delay": delay, "expect": "success"}, _run)
        )
        if service.timeouts.get("beyond_limit"):
            beyond = read_timeout + float(service.timeouts.get("beyond_margin", 5))
            result.append(
                Case(
                    INFO,
                    service,
                    f"beyond {read_timeout:g}s",
                    {"path": path, "delay": beyond, "expect": "timeout", "limit": read_timeout},
                    _run,
                )
            )
    return result


def _with_query(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


def _succeeded(result: ProbeResult) -> bool:
    return result.status == 200 and result.backend is not None


def _timed_out(result: ProbeResult) -> bool:
    return result.status == 504 or result.error_kind in ("timeout", "reset")


def _describe(result: ProbeResult) -> str:
    what = str(result.status) if result.status is not None else (result.error_kind or "error")
    return f"{what} after {result.elapsed:.1f} s"


def _run(case: Case, context: ProbeContext) -> Outcome:
    delay = float(case.params["delay"])
    path = _with_query(str(case.params["path"]), f"delay={delay:g}")
    client_timeout = delay + 30.0
    nginx, gateway = on_both(
        context.targets, lambda endpoint: context.fetch(endpoint, case.service, path, timeout=client_timeout)
    )
    evidence = {
        "nginx": side_summary(nginx),
        "gateway": side_summary(gateway),
        "delay": delay,
        "line": ENVOY_DEFAULT_ROUTE_TIMEOUT,
        "durations": {"nginx": round(nginx.elapsed, 3), "gateway": round(gateway.elapsed, 3)},
    }
    differences: list[Difference] = []
    if case.params["expect"] == "success":
        if not _succeeded(nginx):
            differences.append(
                Difference(
                    "nginx result",
                    _describe(nginx),
                    _describe(gateway),
                    note="the old side itself does not allow this delay; fix the target's slow_request_seconds",
                )
            )
        if not _succeeded(gateway):
            note = "the classic 15 s regression" if abs(gateway.elapsed - 15) < 2 and gateway.status == 504 else ""
            differences.append(Difference("result", _describe(nginx), _describe(gateway), note=note))
    else:
        for side, result in (("nginx", nginx), ("gateway", gateway)):
            if not _timed_out(result):
                differences.append(
                    Difference(
                        f"{side} limit",
                        _describe(nginx),
                        _describe(gateway),
                        note=f"{side} did not enforce the {case.params['limit']:g} s limit",
                    )
                )
    return Outcome(differences=differences, evidence=evidence)
