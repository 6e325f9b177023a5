"""SSE streaming parity: every event through the Gateway, in order, through the last one,
from the same backend, arriving when nginx delivers it (a proxy that buffers fails even
when the content matches).

Besides the configured streams, two streams come from the limits of the streaming path:
- **outlast**: regular events for longer than both nginx's idle limit and the Gateway's
  total limit. nginx has no total limit, so it serves the stream to the end; a Gateway
  route timeout (`timeouts.request` / `backendRequest`) cuts it. This is how
  `timeouts.request: 120s`, mapped from `proxy-read-timeout: 120`, cuts a 2-minute LLM stream.
- **silent**: one silence just under nginx's idle limit inside the stream.
"""

from __future__ import annotations

import json
import math
from typing import Any

from cutover.checks.base import (
    Case,
    CheckInfo,
    Difference,
    Outcome,
    ProbeContext,
    not_applicable,
    not_configured,
    on_both,
)
from cutover.checks.timeouts import EARLY_SLACK, Limits, limits_for
from cutover.facts.annotations import verified_by
from cutover.probe.stream import StreamResult, stream_events
from cutover.targets import ServiceTarget, Targets

__all__ = ["INFO", "cases", "stream_query"]

INFO = CheckInfo(
    kind="sse",
    title="SSE streaming",
    description="The configured event streams, one that outlasts nginx's idle limit and the Gateway's total limit, "
    "and one with a silence just under nginx's idle limit complete through both sides with the same events in order, "
    "from the same backend, and the Gateway's time to first event and gaps stay within a tolerance of nginx's.",
    protects=verified_by("sse"),
    slow=True,
    marker="SSE streams complete, in order, unbuffered",
    finding="SSE streaming differs",
    settings="sse",
)
DEFAULT_TOLERANCE = 1.0
DEFAULT_OUTLAST_MARGIN = 30.0
DEFAULT_OUTLAST_INTERVAL = 1.0
_STREAM_KEYS = ("events", "interval", "heartbeat", "gap_after", "gap", "first_delay")


def stream_query(stream: dict[str, Any]) -> str:
    parts = ["stream=true"] + [f"{key}={stream[key]}" for key in _STREAM_KEYS if key in stream]
    return "&".join(parts)


def _expected_length(stream: dict[str, Any]) -> float:
    events = int(stream.get("events", 5))
    return (
        float(stream.get("first_delay", 0))
        + events * float(stream.get("interval", 0.2))
        + float(stream.get("gap", 0) if int(stream.get("gap_after", -1)) > 0 else 0)
    )


def _minimum_length(stream: dict[str, Any]) -> float:
    """How long the probe backend takes to send the whole stream: no proxy can deliver it sooner."""
    events = int(stream.get("events", 5))
    interval = float(stream.get("interval", 0.2))
    gap_after = int(stream.get("gap_after", -1))
    gap = float(stream.get("gap", 0))
    total = float(stream.get("first_delay", 0))
    for number in range(2, events + 1):
        total += gap if number - 1 == gap_after else interval
    return total + (gap if gap_after == events else 0.0)


def _sse_path(service: ServiceTarget) -> str:
    return str(service.sse.get("path", "/"))


def _derived_streams(service: ServiceTarget, limits: Limits) -> list[tuple[str, dict[str, Any], float]]:
    """The streams the limits call for: (probe label, stream, the length it must last)."""
    settings = service.timeouts
    interval = float(service.sse.get("outlast_interval", DEFAULT_OUTLAST_INTERVAL))
    longest = settings.get("max_stream_seconds")
    if longest:
        length = float(longest)
    else:
        margin = float(settings.get("outlast_margin", DEFAULT_OUTLAST_MARGIN))
        length = max(limits.read_timeout, limits.gateway_total or 0.0) + margin
    events = math.ceil(length / interval) + 1
    outlast = {"name": "outlast", "events": events, "interval": interval}
    silence = round(limits.silent_seconds, 3)
    silent = {"name": "silent", "events": 3, "interval": 0.5, "gap_after": 1, "gap": silence}
    return [
        (f"sse outlast {length:g}s", outlast, length),
        (f"sse silent {silence:g}s", silent, _minimum_length(silent)),
    ]


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        streams = service.sse.get("streams") or []
        if "sse" not in service.checks:
            result.append(not_applicable(INFO, service, "the target declares no SSE route"))
            continue
        if not streams and service.sse.get("limits") is False:
            result.append(not_configured(INFO, service, "sse is listed but the target sets no sse.streams"))
            continue
        limits = limits_for(service, _sse_path(service))
        for stream in streams:
            label = str(stream.get("name") or f"{stream.get('events', 5)} events")
            length = _expected_length(stream)
            params = {"stream": stream, "length": length, "minimum": _minimum_length(stream), "limits": limits}
            result.append(Case(INFO, service, f"sse {label} {length:.0f}s", params, _run))
        if service.sse.get("limits", True) is not False:
            for probe, stream, length in _derived_streams(service, limits):
                params = {"stream": stream, "length": length, "minimum": _minimum_length(stream), "limits": limits}
                result.append(Case(INFO, service, probe, params, _run))
    return result


def _indexes(result: StreamResult) -> list[str]:
    found = []
    for event in result.events:
        try:
            found.append(str(json.loads(event.data).get("index", event.id)))
        except (ValueError, AttributeError):
            found.append(event.id or event.data[:20])
    return found


def _line(result: StreamResult) -> str:
    state = "+ [DONE]" if result.done else "not done"
    error = f" ({result.error})" if result.error else ""
    return f"{result.status} {len(result.events)} events {state} in {result.elapsed:.1f} s{error}"


def _cut_note(stream: dict[str, Any], limits: Limits, nginx: StreamResult, gateway: StreamResult) -> str:
    """Why the Gateway ended the stream early, told from when it happened."""
    at = gateway.elapsed
    near = limits.tolerance + 1.0
    if limits.gateway_total is not None and abs(at - limits.gateway_total) <= near:
        return (
            f"timeouts.request is a total duration: it cut the stream at {at:.1f} s while nginx, whose "
            f"proxy-read-timeout {limits.read_timeout:g} s is an idle limit, served it to the end in "
            f"{nginx.elapsed:.0f} s; remove timeouts.request (and backendRequest) or set it above the longest stream"
        )
    if stream.get("name") == "silent":
        return (
            f"the Gateway cut the stream during a {float(stream['gap']):g} s silence that nginx's "
            f"{limits.read_timeout:g} s idle limit allows"
            + (f" (its stream idle timeout is {limits.gateway_idle:g} s)" if limits.gateway_idle else "")
        )
    return ""


def _backends(nginx: StreamResult, gateway: StreamResult) -> Difference | None:
    """Every event must come from the Service nginx's events came from: a split mid-stream shows here."""
    reference = next((b for b in nginx.backends if b), None)
    if reference is None:
        return None
    others = [(i + 1, b) for i, b in enumerate(gateway.backends) if b != reference]
    if not others:
        return None
    first_index, first_backend = others[0]
    return Difference(
        "event backend",
        f"all {len(nginx.events)} events from {reference}",
        f"{len(others)} of {len(gateway.events)} events from elsewhere (event {first_index}: {first_backend})",
    )


def _run(case: Case, context: ProbeContext) -> Outcome:
    stream = case.params["stream"]
    limits: Limits = case.params["limits"]
    minimum = float(case.params["minimum"])
    path = _sse_path(case.service)
    path = f"{path}{'&' if '?' in path else '?'}{stream_query(stream)}"
    tolerance = float(case.service.sse.get("tolerance_seconds", DEFAULT_TOLERANCE))
    budget = float(case.params["length"]) * 2 + 60
    source = context.source(case.service)
    nginx, gateway = on_both(
        context.targets,
        lambda endpoint: stream_events(
            endpoint,
            case.service.host,
            path,
            scheme=case.service.scheme,
            source=source,
            ca_bundle=context.targets.ca_bundle,
            timeout=budget,
            # The client must not be the one that gives up during a silence.
            idle_timeout=budget,
        ),
    )
    outcome = Outcome(
        evidence={
            "nginx": nginx.summary(),
            "gateway": gateway.summary(),
            "stream": stream,
            "tolerance": tolerance,
            "minimum_seconds": round(minimum, 3),
            "limits": {
                "nginx_read_timeout": limits.read_timeout,
                "gateway_total": limits.gateway_total,
                "gateway_idle": limits.gateway_idle,
            },
        }
    )
    baseline = _baseline_problem(nginx, int(stream.get("events", 5)), minimum)
    if baseline:
        outcome.baseline = baseline
    differences = outcome.differences
    if gateway.status != nginx.status:
        differences.append(Difference("status", nginx.status, gateway.status or gateway.error_kind))
    if "text/event-stream" not in gateway.content_type and "text/event-stream" in nginx.content_type:
        differences.append(Difference("content-type", nginx.content_type, gateway.content_type))
    nginx_ids, gateway_ids = _indexes(nginx), _indexes(gateway)
    if gateway_ids != nginx_ids[: len(gateway_ids)] or (nginx.done and gateway.done and gateway_ids != nginx_ids):
        differences.append(Difference("event order", nginx_ids, gateway_ids))
    differences.extend(_completion(stream, limits, minimum, nginx, gateway))
    backend_difference = _backends(nginx, gateway)
    if backend_difference is not None:
        differences.append(backend_difference)
    differences.extend(_timing(nginx, gateway, tolerance))
    return outcome


def _baseline_problem(nginx: StreamResult, events: int, minimum: float) -> str:
    """Why nginx's stream is no reference (it did not serve the probe backend's whole stream), or ""."""
    if nginx.status != 200 or not nginx.done or len(nginx.events) != events:
        return (
            f"nginx did not complete the stream it should serve ({_line(nginx)}; expected {events} events + [DONE]): "
            "the baseline is broken (check the target's sse settings and timeouts.read_timeout)"
        )
    if nginx.elapsed < minimum - EARLY_SLACK:
        return (
            f"nginx delivered the whole stream in {nginx.elapsed:.1f} s, sooner than the {minimum:g} s the backend "
            "needs to send it: not the probe backend's stream, so it proves nothing"
        )
    return ""


def _completion(
    stream: dict[str, Any], limits: Limits, minimum: float, nginx: StreamResult, gateway: StreamResult
) -> list[Difference]:
    """A Gateway stream cut off where nginx's completed, or one complete too soon to be real."""
    if nginx.done and not gateway.done:
        gateway_ids = _indexes(gateway)
        last = gateway_ids[-1] if gateway_ids else "none"
        return [
            Difference(
                "completion",
                f"{len(nginx.events)} events + [DONE] in {nginx.elapsed:.1f} s",
                f"cut off after {len(gateway.events)} events (last: {last}) at {gateway.elapsed:.1f} s"
                + (f": {gateway.error}" if gateway.error else ""),
                note=_cut_note(stream, limits, nginx, gateway),
            )
        ]
    if gateway.done and gateway.elapsed < minimum - EARLY_SLACK:
        return [
            Difference(
                "duration",
                f"{nginx.elapsed:.1f} s",
                f"{gateway.elapsed:.1f} s",
                note=f"the Gateway delivered the stream sooner than the {minimum:g} s the backend needs: "
                "not the probe backend's stream",
            )
        ]
    return []


def _timing(nginx: StreamResult, gateway: StreamResult, tolerance: float) -> list[Difference]:
    """Events the Gateway holds back: a late first event, or the worst lag of any event (buffering)."""
    if nginx.first_event is None or gateway.first_event is None:
        return []
    differences = []
    if gateway.first_event > nginx.first_event + tolerance:
        differences.append(
            Difference(
                "time to first event",
                f"{nginx.first_event:.2f} s",
                f"{gateway.first_event:.2f} s",
                note=f"tolerance {tolerance:g} s: the Gateway holds events back",
            )
        )
    worst_index, worst_lag = -1, 0.0
    for index, (n_event, g_event) in enumerate(zip(nginx.events, gateway.events, strict=False)):
        lag = g_event.at - n_event.at
        if lag > worst_lag:
            worst_index, worst_lag = index, lag
    if worst_lag > tolerance:
        differences.append(
            Difference(
                f"arrival of event {worst_index + 1}",
                f"{nginx.events[worst_index].at:.2f} s",
                f"{gateway.events[worst_index].at:.2f} s",
                note=f"{worst_lag:.2f} s late (tolerance {tolerance:g} s): buffering",
            )
        )
    return differences
