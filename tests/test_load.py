"""The load engine and the load check: percentiles, real streams and requests through the
lab, and the opt-in marker (`-m load` only)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from cutover.load.engine import LoadSpec, percentile, run_load_async
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


def test_clean_load_parity_passes() -> None:
    result = run_checks("-m", "load", "--manifests", str(CORRECTED), "--no-go-report", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "cutover: load gateway: 50/50 streams done" in result.stdout
