"""The load engine and the load check: percentiles, real streams and requests through the
lab, and the opt-in marker (`-m load` only)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Callable
from pathlib import Path

from cutover.checks import load
from cutover.checks.base import Outcome, ProbeContext
from cutover.load.engine import LoadSpec, percentile, run_load_async
from cutover.probe import Endpoint
from cutover.targets import Targets
from tests.conftest import CORRECTED, OFFICE, RunningLab, run_checks


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile([3.0], 99) == 3.0 and percentile([], 50) is None


def test_engine_streams_and_requests_through_both_sides(start_lab: Callable[..., RunningLab]) -> None:
    lab = start_lab(CORRECTED)
    for side in ("nginx", "gateway"):
        endpoint = lab.targets.endpoints[side]
        spec = LoadSpec(
            address=endpoint.address,
            port=endpoint.https_port,
            host="api.metalkube.internal",
            source=OFFICE,
            ca_bundle=lab.targets.ca_bundle,
            stream_path="/v1/chat/completions?stream=true&events=3&interval=0.1",
            streams=10,
            request_path="/healthz",
            rate=50,
            request_connections=2,
            duration=1.0,
        )
        result = asyncio.run(run_load_async(spec, side))
        summary = result.summary()
        assert summary["completed"] == 10, summary["errors"]
        assert summary["requests_ok"] == summary["requests"] > 20
        assert summary["first_event"]["p99"] is not None and summary["stream_total"]["p50"] >= 150


def test_engine_counts_refused_connections() -> None:
    spec = LoadSpec(
        address="127.0.0.1",
        port=9,
        host="nothing.invalid",
        scheme="http",
        streams=3,
        rate=10,
        request_connections=1,
        duration=0.3,
    )
    result = asyncio.run(run_load_async(spec, "nowhere"))
    assert result.errors().get("refused", 0) >= 3


def test_load_runs_only_when_asked() -> None:
    plain = run_checks("--collect-only", "--manifests", str(CORRECTED))
    assert "test_load.py" not in plain.stdout
    asked = run_checks("--collect-only", "-m", "load", "--manifests", str(CORRECTED))
    assert "test_load[llm-gateway[load 50 streams + 20 rps 10s]]" in asked.stdout


def test_clean_load_parity_passes(quick_corrected: Path) -> None:
    # The load is scaled down from the main job's 10 s (tests/conftest.py): the check and its
    # pytest wiring are the same; the full load belongs to `pytest -m load` and the benches.
    result = run_checks("-m", "load", "--manifests", str(quick_corrected), "--no-go-report", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "cutover: load gateway: 10/10 streams done" in result.stdout


# -- the load check judged through the lab, with small loads --------------------------------------

SMALL_LOAD = {
    "streams": 5,
    "rate": 50.0,
    "duration": 2.0,
    "request_connections": 2,
    "stream": {"events": 3, "interval": 0.1},
    # A wide latency slack: these tests are about error rates and the baseline, on a shared machine.
    "tolerance": {"ratio": 0.2, "ms": 500.0, "error_rate": 0.0},
}


def run_small_load(targets: Targets) -> Outcome:
    (case,) = [c for c in load.cases(targets) if c.service.name == "llm-gateway"]
    case.params["load"] = SMALL_LOAD
    return case.run(ProbeContext(targets))


def test_small_clean_load_passes(start_lab: Callable[..., RunningLab]) -> None:
    outcome = run_small_load(start_lab(CORRECTED).targets)
    assert outcome.baseline is None and outcome.failures == [], [d.line() for d in outcome.failures]
    assert outcome.evidence["gateway"]["request_error_rate"] == 0.0
    # The backend comparison is live: both sides' answers named their backend.
    requests = outcome.evidence["nginx"]["requests"]
    assert outcome.evidence["nginx"]["backends"] == {"inference/llm-gateway": requests}
    assert outcome.evidence["gateway"]["backends"] == {"inference/llm-gateway": outcome.evidence["gateway"]["requests"]}


def test_a_tenth_of_short_requests_failing_on_the_gateway_fails(start_lab: Callable[..., RunningLab]) -> None:
    outcome = run_small_load(start_lab(CORRECTED, faults=("gateway-short-request-errors",)).targets)
    assert outcome.baseline is None
    # The streams are untouched: only the short requests fail.
    (difference,) = [d for d in outcome.failures if d.field in ("short requests", "completed streams")]
    assert difference.field == "short requests"
    assert difference.nginx.startswith("0/") and difference.nginx.endswith("failed (0.0%)")
    assert "gateway errors: {'503':" in difference.note
    assert 0 < outcome.evidence["gateway"]["request_error_rate"] < 0.3


def test_a_gateway_with_no_successful_short_request_fails_without_percentiles(
    start_lab: Callable[..., RunningLab],
) -> None:
    outcome = run_small_load(start_lab(CORRECTED, faults=("gateway-fails-short-requests",)).targets)
    assert outcome.evidence["gateway"]["request_latency"]["p99"] is None
    lines = {d.field: d.line() for d in outcome.failures}
    assert {"short requests", "request_latency p99"} <= set(lines) and "completed streams" not in lines
    assert lines["short requests"].endswith(
        "(100.0%) (the Gateway's error rate is above nginx's (tolerance 0.0%); "
        f"gateway errors: {{'503': {outcome.evidence['gateway']['requests']}}})"
    )
    assert (
        "gateway (none) (undefined through the Gateway: nothing succeeded there to measure)"
        in (lines["request_latency p99"])
    )


def test_nginx_not_carrying_the_load_is_a_broken_baseline(start_lab: Callable[..., RunningLab]) -> None:
    targets = start_lab(CORRECTED).targets
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    closed = dataclasses.replace(
        targets, endpoints={**targets.endpoints, "nginx": Endpoint("nginx", "127.0.0.1", port, port)}
    )
    outcome = run_small_load(closed)
    assert outcome.failures == []
    assert outcome.baseline is not None
    assert outcome.baseline.startswith("nginx did not carry the load on api.metalkube.internal: 0/5 streams completed")
    assert outcome.baseline.endswith("the baseline is broken")


def test_a_tenth_of_the_traffic_on_another_backend_fails(start_lab: Callable[..., RunningLab]) -> None:
    outcome = run_small_load(start_lab(CORRECTED, faults=("gateway-split-llm",)).targets)
    assert outcome.baseline is None
    (difference,) = [d for d in outcome.failures if d.field == "backend (short requests)"]
    assert difference.nginx == {"inference/llm-gateway": outcome.evidence["nginx"]["requests"]}
    assert set(difference.gateway) == {"inference/llm-gateway", "inference/qdrant"}
    assert "which never answered through nginx" in difference.note
    # Both backends answer 200: the error rates alone would call this parity.
    assert outcome.evidence["gateway"]["request_error_rate"] == 0.0
