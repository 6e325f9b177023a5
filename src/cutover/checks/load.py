"""Load parity for streaming routes: N concurrent SSE streams plus a steady rate of short
requests, the same load through each side (one after the other), error rates and tails compared.

nginx is the reference: it must carry the whole load (every stream completed, every short
request answered 2xx/3xx), or the case is an error (`Outcome.baseline`), not a pass. The Gateway
fails on any stream nginx completed and it did not, on a short-request error rate above nginx's
(plus `tolerance.error_rate`), on a short request answered by a backend that never answered
through nginx (where the answer names it: the lab's probe backend), on a p99 beyond nginx's by
more than the tolerance, and on a p99 it cannot even report because nothing succeeded.

Runs only when asked (`-m load`): it loads the machine and would skew other probes.
"""

from __future__ import annotations

from typing import Any

from cutover.checks.base import Case, CheckInfo, Difference, Outcome, ProbeContext, not_applicable
from cutover.checks.sse import stream_query
from cutover.facts.annotations import verified_by
from cutover.load.engine import LoadSpec, run_load
from cutover.targets import ServiceTarget, Targets

__all__ = ["DEFAULTS", "INFO", "cases"]

INFO = CheckInfo(
    kind="load",
    title="Load parity",
    description="Concurrent SSE streams and short requests through both sides: every stream nginx completes "
    "completes through the Gateway, the Gateway's short-request error rate is no higher than nginx's, and its "
    "p99 stays within tolerance of nginx's.",
    protects=(*verified_by("load"), "upstream keepalive"),
    marker="concurrent load parity on streaming routes (runs only when -m names it)",
    opt_in=True,
    finding="behaviour under load differs",
    settings="sse.load",
)
DEFAULTS: dict[str, Any] = {
    "streams": 50,
    "rate": 20.0,
    "duration": 10.0,
    "request_connections": 4,
    "stream": {"events": 10, "interval": 0.5},
    "tolerance": {"ratio": 0.20, "ms": 50.0, "error_rate": 0.0},
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


def _baseline(nginx: dict[str, Any], service: ServiceTarget) -> str | None:
    """Why nginx's run cannot serve as the reference, or None when it carried the whole load."""
    problems = []
    if nginx["completed"] < nginx["streams"]:
        problems.append(f"{nginx['completed']}/{nginx['streams']} streams completed ({nginx['stream_errors']})")
    if not nginx["requests"]:
        problems.append("no short request was sent")
    elif nginx["requests_ok"] < nginx["requests"]:
        problems.append(
            f"{nginx['requests_ok']}/{nginx['requests']} short requests answered ({nginx['request_errors']})"
        )
    if not problems:
        return None
    return f"nginx did not carry the load on {service.host}: {'; '.join(problems)}; the baseline is broken"


def _rate(summary: dict[str, Any]) -> str:
    failed = summary["requests"] - summary["requests_ok"]
    rate = failed / summary["requests"] if summary["requests"] else 1.0
    return f"{failed}/{summary['requests']} failed ({rate:.1%})"


def _run(case: Case, context: ProbeContext) -> Outcome:
    load = case.params["load"]
    results = {
        side: run_load(_spec(context, side, case.service, load), side, context.progress).summary()
        for side in ("nginx", "gateway")
    }
    nginx, gateway = results["nginx"], results["gateway"]
    evidence: dict[str, Any] = {"nginx": nginx, "gateway": gateway, "load": load}
    baseline = _baseline(nginx, case.service)
    if baseline is not None:
        return Outcome(evidence=evidence, baseline=baseline)
    differences = _failure_differences(nginx, gateway, float(load["tolerance"].get("error_rate", 0.0)))
    latency, evidence["ratios"] = _latency_differences(
        nginx, gateway, float(load["tolerance"]["ratio"]), float(load["tolerance"]["ms"])
    )
    return Outcome(differences=[*differences, *latency], evidence=evidence)


def _failure_differences(nginx: dict[str, Any], gateway: dict[str, Any], allowed_errors: float) -> list[Difference]:
    """Streams and requests that fail through the Gateway and not through nginx, and answers from
    a backend nginx never sent the load to."""
    differences: list[Difference] = []
    lost = gateway["streams"] - gateway["completed"] - (nginx["streams"] - nginx["completed"])
    if lost > 0:
        differences.append(
            Difference(
                "completed streams",
                f"{nginx['completed']}/{nginx['streams']}",
                f"{gateway['completed']}/{gateway['streams']}",
                note=f"{lost} streams failed through the Gateway that nginx completed; "
                f"gateway errors: {gateway['stream_errors']}",
            )
        )
    nginx_rate = nginx["request_error_rate"] or 0.0
    gateway_rate = 1.0 if not gateway["requests"] else gateway["request_error_rate"]
    if gateway_rate > nginx_rate + allowed_errors:
        differences.append(
            Difference(
                "short requests",
                _rate(nginx),
                _rate(gateway),
                note=f"the Gateway's error rate is above nginx's (tolerance {allowed_errors:.1%}); "
                f"gateway errors: {gateway['request_errors']}",
            )
        )
    strangers = {name: count for name, count in gateway["backends"].items() if name not in nginx["backends"]}
    if nginx["backends"] and strangers:
        differences.append(
            Difference(
                "backend (short requests)",
                nginx["backends"],
                gateway["backends"],
                note=f"{sum(strangers.values())} sampled answers through the Gateway came from "
                f"{', '.join(sorted(strangers))}, which never answered through nginx",
            )
        )
    return differences


def _latency_differences(
    nginx: dict[str, Any], gateway: dict[str, Any], ratio: float, slack: float
) -> tuple[list[Difference], dict[str, float | None]]:
    """Each metric's p99 against nginx's (within ratio and slack), and every percentile's ratio."""
    differences: list[Difference] = []
    ratios: dict[str, float | None] = {}
    for metric in ("first_event", "stream_total", "request_latency"):
        for pct in ("p50", "p95", "p99"):
            old, new = nginx[metric][pct], gateway[metric][pct]
            ratios[f"{metric}.{pct}"] = round(new / old, 3) if old and new else None
        old, new = nginx[metric]["p99"], gateway[metric]["p99"]
        if old is not None and new is None:
            differences.append(
                Difference(
                    f"{metric} p99",
                    f"{old:.1f} ms",
                    None,
                    note="undefined through the Gateway: nothing succeeded there to measure",
                )
            )
        elif old is not None and new is not None and new > old * (1 + ratio) + slack:
            differences.append(
                Difference(
                    f"{metric} p99",
                    f"{old:.1f} ms",
                    f"{new:.1f} ms",
                    note=f"over nginx's p99 by more than {ratio:.0%} + {slack:g} ms",
                )
            )
    return differences, ratios
