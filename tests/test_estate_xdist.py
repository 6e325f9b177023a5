"""A 30-service estate (bench/estate.py's generator) through the plugin, serially and under
`pytest -n 2`: one verdict, the same results (same ids, same outcomes). The selection is each
service's `GET /` probes of the paths and headers checks (60 short probes), so the three runs take
seconds; one service's HTTPRoute sends to a neighbour that also answers 200, so the results hold
passes and failures, and a clean estate shows the comparison sees that one service. Sharding is
proven the same way in tests/test_shards.py."""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bench_estate, run_checks

SERVICES = 30
SELECTION = ("-m", "paths or headers", "-k", "not cutover")  # GET / only: the /cutover-probe paths are left out
WRONG, NEIGHBOUR = 4, 5  # the same namespace: the route's backendRef is allowed, and the neighbour answers 200


@dataclass
class EstateRun:
    process: subprocess.CompletedProcess[str]
    summary: dict[str, Any]

    @property
    def results(self) -> list[tuple[str, str, str]]:
        return sorted((c["id"], c["kind"], c["outcome"]) for c in self.summary["checks"])


def _estate(directory: Path, wrong_backend: bool) -> Path:
    estate = bench_estate()
    estate.write_estate(directory, SERVICES)
    if wrong_backend:
        routes = directory / "httproutes.yaml"
        wrong, neighbour = estate.service_name(WRONG), estate.service_name(NEIGHBOUR)
        old = f"backendRefs: [{{name: {wrong}, port: 8080}}]"
        assert routes.read_text().count(old) == 1
        routes.write_text(routes.read_text().replace(old, f"backendRefs: [{{name: {neighbour}, port: 8080}}]"))
    return directory


def _run(manifests: Path, reports: Path, *extra: str) -> EstateRun:
    process = run_checks("--manifests", str(manifests), *SELECTION, *extra, "--report-dir", str(reports), timeout=300)
    summary = json.loads((reports / "latest" / "summary.json").read_text())
    return EstateRun(process, summary)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EstateRun]:
    base = tmp_path_factory.mktemp("estate-xdist")
    faulty = _estate(base / "faulty", wrong_backend=True)
    clean = _estate(base / "clean", wrong_backend=False)
    # Independent runs, each with its own labs (one per xdist worker): at once. -vv names the worker per test.
    with ThreadPoolExecutor(3) as pool:
        started = {
            "serial": pool.submit(_run, faulty, base / "serial"),
            "xdist": pool.submit(_run, faulty, base / "xdist", "-n", "2", "-v", "-v"),
            "clean": pool.submit(_run, clean, base / "clean-reports"),
        }
        return {name: future.result() for name, future in started.items()}


def test_xdist_gives_the_verdict_and_results_of_a_serial_run(runs: dict[str, EstateRun]) -> None:
    serial, xdist = runs["serial"], runs["xdist"]
    assert serial.process.returncode == xdist.process.returncode == 1, xdist.process.stdout[-3000:]
    for field in ("verdict", "reason", "complete", "counts", "selected"):
        assert xdist.summary[field] == serial.summary[field], (
            f"{field}: serial {serial.summary[field]}, xdist {xdist.summary[field]}"
        )
    assert xdist.results == serial.results
    assert len(serial.results) == 2 * SERVICES and len({r[0] for r in serial.results}) == SERVICES


def test_the_wrong_backend_fails_for_the_right_reason(runs: dict[str, EstateRun]) -> None:
    estate = bench_estate()
    wrong = estate.service_name(WRONG)
    for name in ("serial", "xdist"):
        failed = [c for c in runs[name].summary["checks"] if c["outcome"] != "passed"]
        assert sorted((c["kind"], c["id"]) for c in failed) == [
            ("headers", f"{wrong}[GET /]"),
            ("paths", f"{wrong}[GET /]"),
        ]
        for check in failed:
            blocking = [d for d in check["differences"] if d["severity"] == "fail"]
            assert [(d["field"], d["nginx"], d["gateway"]) for d in blocking] == [
                (
                    "backend",
                    f"{estate.namespace_of(WRONG)}/{wrong}:8080",
                    f"{estate.namespace_of(NEIGHBOUR)}/{estate.service_name(NEIGHBOUR)}:8080",
                )
            ], (name, check["kind"], blocking)


def test_both_workers_ran_checks(runs: dict[str, EstateRun]) -> None:
    output = runs["xdist"].process.stdout
    assert "2 workers [60 items]" in output, output[-3000:]
    workers = re.findall(r"^\[(gw\d+)\] \[ *\d+%\] (?:PASSED|FAILED) tests_migration/", output, re.MULTILINE)
    assert len(workers) == 2 * SERVICES and set(workers) == {"gw0", "gw1"}, sorted(set(workers))


def test_the_comparison_sees_one_service_among_thirty(runs: dict[str, EstateRun]) -> None:
    """The clean estate is GO; its results differ from the faulty run's in the wrong service's alone."""
    clean, faulty = runs["clean"], runs["serial"]
    assert clean.process.returncode == 0 and clean.summary["verdict"] == "GO", clean.process.stdout[-3000:]
    wrong = bench_estate().service_name(WRONG)
    changed = sorted(set(clean.results) ^ set(faulty.results))
    assert changed == [
        (f"{wrong}[GET /]", "headers", "failed"),
        (f"{wrong}[GET /]", "headers", "passed"),
        (f"{wrong}[GET /]", "paths", "failed"),
        (f"{wrong}[GET /]", "paths", "passed"),
    ]
