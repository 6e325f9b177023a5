"""The 48-hour soak: Hubble flows of the migrated services over a window.

A service passes only when the Gateway's flows to it cover the whole window (no gap longer
than `--soak-max-gap`, judged from the flows' own timestamps) and none of them was DROPPED,
ERROR or an HTTP 5xx on the Gateway's routes. A window Hubble cannot vouch for (lost events,
unavailable nodes, a ring buffer that held minutes, not days) is "not verified", never a pass.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cutover.checks.base import Case, CheckInfo, Difference, Outcome, ProbeContext, not_configured
from cutover.soak.hubble import HubbleRead, parse_time
from cutover.targets import ServiceTarget

__all__ = [
    "DEFAULT_MAX_GAP",
    "INFO",
    "NOT_VERIFIED",
    "ServiceFlows",
    "analyse",
    "largest_gap",
    "soak_cases",
]

INFO = CheckInfo(
    kind="soak",
    title="Soak (Hubble)",
    description="Gateway flows to every migrated service cover the whole window (default 48 h, no gap over 1 h), "
    "with no DROPPED or ERROR verdicts and no HTTP 5xx on the Gateway's routes; lost events or unavailable "
    "nodes leave it not verified.",
    protects=("the 48 h of stable operation before ingress-nginx is removed",),
    marker="Hubble soak checks over a window (runs only when -m names soak or phase3)",
    opt_in=True,
    group="soak",
    finding="soak findings",
)
INGRESS_LABEL = "reserved:ingress"
EXAMPLES = 3
DEFAULT_MAX_GAP = dt.timedelta(hours=1)
# The outcome a soak case reports in evidence["verdict"] when the flows cannot vouch for the window;
# its differences' fields start with "not verified:".
NOT_VERIFIED = "not verified"


@dataclass
class ServiceFlows:
    service: str
    flows: int = 0
    dropped: int = 0
    errors: int = 0
    http_5xx: int = 0
    examples: list[str] = field(default_factory=list)
    # When the Gateway's flows to this service were seen (any verdict): the coverage of the window.
    gateway_times: list[dt.datetime] = field(default_factory=list)

    def add_example(self, text: str) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(text)


def _endpoint(flow: dict[str, Any], side: str) -> dict[str, Any]:
    value = flow.get(side)
    return value if isinstance(value, dict) else {}


def _owner(flow: dict[str, Any], services: list[ServiceTarget]) -> ServiceTarget | None:
    """The migrated service a flow belongs to: by Kubernetes Service, else by pod name, on either side."""
    for side in ("destination", "source"):
        named = flow.get(f"{side}_service") or {}
        endpoint = _endpoint(flow, side)
        for service in services:
            for backend in service.backends:
                namespace, _, name = backend.partition("/")
                if named.get("namespace") == namespace and named.get("name") == name:
                    return service
                if endpoint.get("namespace") == namespace and str(endpoint.get("pod_name", "")).startswith(name):
                    return service
    return None


def _via_gateway(flow: dict[str, Any]) -> bool:
    return any(
        INGRESS_LABEL in str(label)
        for side in ("source", "destination")
        for label in _endpoint(flow, side).get("labels") or []
    )


def _describe(flow: dict[str, Any]) -> str:
    source, destination = _endpoint(flow, "source"), _endpoint(flow, "destination")

    def name(endpoint: dict[str, Any]) -> str:
        if endpoint.get("pod_name"):
            return f"{endpoint.get('namespace', '')}/{endpoint['pod_name']}"
        labels = [str(label) for label in endpoint.get("labels") or [] if str(label).startswith("reserved:")]
        return labels[0] if labels else "?"

    http = (flow.get("l7") or {}).get("http") or {}
    detail = f" HTTP {http.get('code')} {http.get('method', '')} {http.get('url', '')}".rstrip() if http else ""
    reason = f" {flow['drop_reason_desc']}" if flow.get("drop_reason_desc") else ""
    return f"{flow.get('time', '?')} {flow.get('verdict', '?')}{reason}{detail}: {name(source)} -> {name(destination)}"


def analyse(
    flows: Iterable[dict[str, Any]], services: list[ServiceTarget], since: dt.datetime, until: dt.datetime
) -> tuple[dict[str, ServiceFlows], int]:
    """Per-service counts over [since, until], and how many flows the window held in all."""
    results = {s.name: ServiceFlows(s.name) for s in services}
    total = 0
    for flow in flows:
        stamp = flow.get("time")
        if not stamp:
            continue
        when = parse_time(str(stamp))
        if when < since or when > until:
            continue
        total += 1
        owner = _owner(flow, services)
        if owner is None:
            continue
        counts = results[owner.name]
        counts.flows += 1
        if _via_gateway(flow):
            counts.gateway_times.append(when)
        verdict = flow.get("verdict")
        code = int(((flow.get("l7") or {}).get("http") or {}).get("code") or 0)
        if verdict == "DROPPED":
            counts.dropped += 1
            counts.add_example(_describe(flow))
        elif verdict == "ERROR":
            counts.errors += 1
            counts.add_example(_describe(flow))
        elif code >= 500 and _via_gateway(flow):
            counts.http_5xx += 1
            counts.add_example(_describe(flow))
    return results, total


def largest_gap(
    times: list[dt.datetime], since: dt.datetime, until: dt.datetime
) -> tuple[dt.timedelta, dt.datetime, dt.datetime]:
    """The longest stretch of [since, until] without a flow, and where it lies."""
    points = [since, *sorted(t for t in times if since <= t <= until), until]
    return max(((b - a, a, b) for a, b in itertools.pairwise(points)), key=lambda item: item[0])


def _hours(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 10 and hours != int(hours) else f"{hours:g} h"


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")


@dataclass
class _Window:
    per_service: dict[str, ServiceFlows]
    total: int
    since: dt.datetime
    until: dt.datetime
    read: HubbleRead

    @property
    def text(self) -> str:
        return f"{_iso(self.since)} .. {_iso(self.until)}"

    @property
    def seen(self) -> str:
        seen = self.read.seen()
        return f"{_iso(seen[0])} .. {_iso(seen[1])}" if seen else "no flows"


def soak_cases(
    services: list[ServiceTarget],
    source: str | None,
    read: Callable[[], HubbleRead | Iterable[dict[str, Any]]],
    window: dt.timedelta,
    until: dt.datetime | None,
    max_gap: dt.timedelta = DEFAULT_MAX_GAP,
) -> list[Case]:
    """One case per migrated service; `read()` returns a HubbleRead (or bare flows), called once."""
    if source is None:
        return [
            not_configured(INFO, s, "no Hubble source: pass --hubble-relay HOST:PORT or --hubble-flows FILE")
            for s in services
        ]
    cache: list[_Window] = []

    def observed() -> _Window:
        if not cache:
            raw = read()
            hubble = raw if isinstance(raw, HubbleRead) else HubbleRead(flows=list(raw))
            seen = hubble.seen()
            end = until or (seen[1] if seen else dt.datetime.now(dt.UTC))
            start = end - window
            per_service, total = analyse(hubble.flows, services, start, end)
            cache.append(_Window(per_service, total, start, end, hubble))
        return cache[0]

    hours = window.total_seconds() / 3600
    cases = []
    for service in services:

        def run(case: Case, context: ProbeContext, name: str = service.name) -> Outcome:
            data = observed()
            counts = data.per_service[name]
            window_text = f"{hours:g} h ({data.text})"
            differences = _not_verified(data, counts, source, max_gap, window_text)
            for label, count in (
                ("DROPPED verdicts", counts.dropped),
                ("ERROR verdicts", counts.errors),
                ("HTTP 5xx through the Gateway", counts.http_5xx),
            ):
                if count:
                    differences.append(
                        Difference(
                            f"{name}: {label}",
                            0,
                            count,
                            sides=("expected", "found"),
                            note=f"over {window_text}; first: {'; '.join(counts.examples)}",
                        )
                    )
            unverified = [d for d in differences if d.field.startswith(f"{NOT_VERIFIED}:")]
            gap, gap_from, gap_to = largest_gap(counts.gateway_times, data.since, data.until)
            return Outcome(
                differences=differences,
                evidence={
                    "verdict": "failed"
                    if len(unverified) < len(differences)
                    else (NOT_VERIFIED if unverified else "passed"),
                    "source": source,
                    "window": window_text,
                    "seen": data.seen,
                    "gateway_flows": len(counts.gateway_times),
                    "largest_gap": f"{_hours(gap)} ({_iso(gap_from)} .. {_iso(gap_to)})",
                    "max_gap": _hours(max_gap),
                    "flows": counts.flows,
                    "dropped": counts.dropped,
                    "errors": counts.errors,
                    "http_5xx": counts.http_5xx,
                    "examples": counts.examples,
                    "lost_events": data.read.lost_within(data.since, data.until)[:EXAMPLES],
                    "unavailable_nodes": data.read.unavailable_nodes,
                    "relay_status": data.read.status,
                },
            )

        cases.append(Case(INFO, service, f"hubble {hours:g}h", {}, run))
    return cases


def _not_verified(
    data: _Window, counts: ServiceFlows, source: str, max_gap: dt.timedelta, window_text: str
) -> list[Difference]:
    """What keeps the window from vouching for this service: each a difference named "not verified: ..."."""
    found: list[Difference] = []
    lost = data.read.lost_within(data.since, data.until)
    if lost:
        found.append(
            Difference(
                f"{NOT_VERIFIED}: lost events",
                "none",
                f"{len(lost)} lost-events messages",
                sides=("expected", "found"),
                note=f"Hubble dropped events, so flows may be missing; first: {'; '.join(lost[:EXAMPLES])}",
            )
        )
    if data.read.unavailable_nodes:
        found.append(
            Difference(
                f"{NOT_VERIFIED}: unavailable nodes",
                "none",
                ", ".join(data.read.unavailable_nodes),
                sides=("expected", "found"),
                note="flows from these nodes are missing from the window",
            )
        )
    gap, gap_from, gap_to = largest_gap(counts.gateway_times, data.since, data.until)
    if gap > max_gap:
        ring = ""
        status = data.read.status
        if status.get("max_flows"):
            ring = (
                f"; Hubble Relay keeps only the nodes' ring buffers ({status['max_flows']} flows in all), "
                "so a live query returns minutes or hours: collect the window with a follow-mode collector "
                "or the flow exporter and pass the files with --hubble-flows"
            )
        found.append(
            Difference(
                f"{NOT_VERIFIED}: Gateway flows to {counts.service}",
                f"no gap over {_hours(max_gap)}",
                f"{len(counts.gateway_times)} flows, a gap of {_hours(gap)} ({_iso(gap_from)} .. {_iso(gap_to)})",
                sides=("expected", "found"),
                note=f"{source} returned flows over {data.seen}, for a window of {window_text}{ring}",
            )
        )
    return found
