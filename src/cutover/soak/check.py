"""The 48-hour soak: Hubble flows of the migrated services over a window, failing on
DROPPED verdicts, ERROR verdicts, or HTTP 5xx on the Gateway's routes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cutover.checks.base import Case, CheckInfo, Difference, Outcome, ProbeContext, not_configured
from cutover.soak.hubble import parse_time
from cutover.targets import ServiceTarget

__all__ = ["INFO", "ServiceFlows", "analyse", "soak_cases"]

INFO = CheckInfo(
    kind="soak",
    title="Soak (Hubble)",
    description="No DROPPED or ERROR verdicts and no HTTP 5xx on the Gateway's routes for the migrated services "
    "over the window (default 48 h).",
    protects=("the 48 h of stable operation before ingress-nginx is removed",),
)
INGRESS_LABEL = "reserved:ingress"
EXAMPLES = 3


@dataclass
class ServiceFlows:
    service: str
    flows: int = 0
    dropped: int = 0
    errors: int = 0
    http_5xx: int = 0
    examples: list[str] = field(default_factory=list)

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


def soak_cases(
    services: list[ServiceTarget], source: str | None, read: Any, window: dt.timedelta, until: dt.datetime | None
) -> list[Case]:
    """One case per migrated service; `read(since, until)` returns the flows (called once)."""
    if source is None:
        return [
            not_configured(INFO, s, "no Hubble source: pass --hubble-relay HOST:PORT or --hubble-flows FILE")
            for s in services
        ]
    cache: dict[str, Any] = {}

    def results() -> dict[str, Any]:
        if not cache:
            flows = list(read())
            end = until or max(
                (parse_time(str(f["time"])) for f in flows if f.get("time")), default=dt.datetime.now(dt.UTC)
            )
            start = end - window
            cache["per_service"], cache["total"] = analyse(flows, services, start, end)
            cache["window"] = f"{start.isoformat(timespec='seconds')} .. {end.isoformat(timespec='seconds')}"
        return cache

    hours = window.total_seconds() / 3600
    cases = []
    for service in services:

        def run(case: Case, context: ProbeContext, name: str = service.name) -> Outcome:
            data = results()
            counts: ServiceFlows = data["per_service"][name]
            window_text = f"{hours:g} h ({data['window']})"
            differences = []
            if data["total"] == 0:
                differences.append(
                    Difference(
                        "flows in the window",
                        "some",
                        0,
                        sides=("expected", "found"),
                        note=f"Hubble returned no flows from {source} over {window_text}",
                    )
                )
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
            return Outcome(
                differences=differences,
                evidence={
                    "source": source,
                    "window": window_text,
                    "flows": counts.flows,
                    "dropped": counts.dropped,
                    "errors": counts.errors,
                    "http_5xx": counts.http_5xx,
                    "examples": counts.examples,
                },
            )

        cases.append(Case(INFO, service, f"hubble {hours:g}h", {}, run))
    return cases
