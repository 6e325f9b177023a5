"""SSE streaming parity: every event through the Gateway, in order, through the last one,
arriving when nginx delivers it (a proxy that buffers fails even when the content matches)."""

from __future__ import annotations

import json
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
from cutover.probe.stream import StreamResult, stream_events
from cutover.targets import Targets

__all__ = ["INFO", "cases", "stream_query"]

INFO = CheckInfo(
    kind="sse",
    title="SSE streaming",
    description="The configured event streams complete through both sides with the same events in order, "
    "and the Gateway's time to first event and gaps stay within a tolerance of nginx's.",
    protects=("proxy-buffering", "proxy-read-timeout"),
    slow=True,
)
DEFAULT_TOLERANCE = 1.0
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


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        streams = service.sse.get("streams") or []
        if "sse" not in service.checks:
            result.append(not_applicable(INFO, service, "the target declares no SSE route"))
            continue
        if not streams:
            result.append(not_configured(INFO, service, "sse is listed but the target sets no sse.streams"))
            continue
        for stream in streams:
            label = str(stream.get("name") or f"{stream.get('events', 5)} events")
            length = _expected_length(stream)
            result.append(Case(INFO, service, f"sse {label} {length:.0f}s", {"stream": stream, "length": length}, _run))
    return result


def _indexes(result: StreamResult) -> list[str]:
    found = []
    for event in result.events:
        try:
            found.append(str(json.loads(event.data).get("index", event.id)))
        except (ValueError, AttributeError):
            found.append(event.id or event.data[:20])
    return found


def _run(case: Case, context: ProbeContext) -> Outcome:
    stream = case.params["stream"]
    path = str(case.service.sse.get("path", "/"))
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
        ),
    )
    differences: list[Difference] = []
    if nginx.status != 200 or not nginx.done:
        differences.append(
            Difference(
                "nginx stream",
                f"{nginx.status} {len(nginx.events)} events done={nginx.done} {nginx.error or ''}",
                "-",
                note="the old side does not complete this stream; check the target's sse settings",
            )
        )
    if gateway.status != nginx.status:
        differences.append(Difference("status", nginx.status, gateway.status or gateway.error_kind))
    if "text/event-stream" not in gateway.content_type and "text/event-stream" in nginx.content_type:
        differences.append(Difference("content-type", nginx.content_type, gateway.content_type))
    nginx_ids, gateway_ids = _indexes(nginx), _indexes(gateway)
    if gateway_ids != nginx_ids[: len(gateway_ids)]:
        differences.append(Difference("event order", nginx_ids, gateway_ids))
    if nginx.done and not gateway.done:
        last = gateway_ids[-1] if gateway_ids else "none"
        differences.append(
            Difference(
                "completion",
                f"{len(nginx.events)} events + [DONE] in {nginx.elapsed:.1f} s",
                f"cut off after {len(gateway.events)} events (last: {last}) at {gateway.elapsed:.1f} s"
                + (f": {gateway.error}" if gateway.error else ""),
            )
        )
    if nginx.first_event is not None and gateway.first_event is not None:
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
            n_at = nginx.events[worst_index].at
            g_at = gateway.events[worst_index].at
            differences.append(
                Difference(
                    f"arrival of event {worst_index + 1}",
                    f"{n_at:.2f} s",
                    f"{g_at:.2f} s",
                    note=f"{worst_lag:.2f} s late (tolerance {tolerance:g} s): buffering",
                )
            )
    return Outcome(
        differences=differences,
        evidence={"nginx": nginx.summary(), "gateway": gateway.summary(), "stream": stream, "tolerance": tolerance},
    )
