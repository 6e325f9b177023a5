"""Load parity for streaming routes: N concurrent SSE streams plus a steady rate of short
requests, the same load through each side (one after the other), tails compared.

Runs only when asked (`-m load`): it loads the machine and would skew other probes.
"""

from __future__ import annotations

from typing import Any

from cutover.checks.base import Case, CheckInfo, Difference, Outcome, ProbeContext, not_applicable
from cutover.checks.sse import stream_query
from cutover.load.engine import LoadSpec, run_load
from cutover.targets import ServiceTarget, Targets

__all__ = ["DEFAULTS", "INFO", "cases"]

INFO = CheckInfo(
    kind="load",
    title="Load parity",
    description="Concurrent SSE streams and short requests through both sides: every stream nginx completes "
    "completes through the Gateway, and the Gateway's p99 stays within tolerance of nginx's.",
    protects=("proxy-buffering", "proxy-read-timeout", "upstream keepalive"),
)
DEFAULTS: dict[str, Any] = {
    "streams": 50,
    "rate": 20.0,
    "duration": 10.0,
    "request_connections": 4,
    "stream": {"events": 10, "interval": 0.5},
    "tolerance": {"ratio": 0.20, "ms": 50.0},
}


def settings(service: ServiceTarget) -> dict[str, Any]:
    configured = dict(service.sse.get("load") or {})
    merged = {**DEFAULTS, **configured}
    merged["stream"] = {**DEFAULTS["stream"], **(configured.get("stream") or {})}
    merged["tolerance"] = {**DEFAULTS["tolerance"], **(configured.get("tolerance") or {})}
    return merged


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        if "sse" not in service.checks or not service.sse.get("path"):
            result.append(not_applicable(INFO, service, "the target declares no streaming route"))
            continue
        load = settings(service)
        probe = f"load {load['streams']} streams + {load['rate']:g} rps {load['duration']:g}s"
        result.append(Case(INFO, service, probe, {"load": load}, _run))
    return result


def _spec(context: ProbeContext, side: str, service: ServiceTarget, load: dict[str, Any]) -> LoadSpec:
    endpoint = context.targets.endpoints[side]
    path = str(service.sse.get("path", "/"))
    stream_path = f"{path}{'&' if '?' in path else '?'}{stream_query(load['stream'])}"
    request_path = str(load.get("request_path") or service.first_path)
    return LoadSpec(
        address=endpoint.address,
        port=endpoint.port(service.scheme),
        host=service.host,
        scheme=service.scheme,
        source=context.source(service),
        ca_bundle=context.targets.ca_bundle,
        stream_path=stream_path,
        streams=int(load["streams"]),
        request_path=request_path,
        rate=float(load["rate"]),
        request_connections=int(load["request_connections"]),
        duration=float(load["duration"]),
    )


def _run(case: Case, context: ProbeContext) -> Outcome:
    load = case.params["load"]
    results = {
        side: run_load(_spec(context, side, case.service, load), side, context.progress).summary()
        for side in ("nginx", "gateway")
    }
    nginx, gateway = results["nginx"], results["gateway"]
    differences: list[Difference] = []
    lost = gateway["streams"] - gateway["completed"] - (nginx["streams"] - nginx["completed"])
    if lost > 0:
        differences.append(
            Difference(
                "completed streams",
                f"{nginx['completed']}/{nginx['streams']}",
                f"{gateway['completed']}/{gateway['streams']}",
                note=f"{lost} streams failed through the Gateway that nginx completed; "
                f"gateway errors: {gateway['errors']}",
            )
        )
    ratio, slack = float(load["tolerance"]["ratio"]), float(load["tolerance"]["ms"])
    ratios: dict[str, float | None] = {}
    for metric in ("first_event", "stream_total", "request_latency"):
        for pct in ("p50", "p95", "p99"):
            old, new = nginx[metric][pct], gateway[metric][pct]
            ratios[f"{metric}.{pct}"] = round(new / old, 3) if old and new else None
        old, new = nginx[metric]["p99"], gateway[metric]["p99"]
        if old is not None and new is not None and new > old * (1 + ratio) + slack:
            differences.append(
                Difference(
                    f"{metric} p99",
                    f"{old:.1f} ms",
                    f"{new:.1f} ms",
                    note=f"over nginx's p99 by more than {ratio:.0%} + {slack:g} ms",
                )
            )
    return Outcome(
        differences=differences,
        evidence={"nginx": nginx, "gateway": gateway, "ratios": ratios, "load": load},
    )
