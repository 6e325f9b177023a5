"""Sharding for the nightly job: `--shard K/N` runs a stable share of the services, and the
shards merged with `cutover report` give the same verdict and results as one run."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cutover.errors import InputError
from cutover.shards import parse_shard, shard_of
from tests.conftest import CORRECTED, run_checks

SELECTION = ("--manifests", str(CORRECTED), "--fault", "no-redirect-route", "-m", "wave1 and (paths or redirects)")


def _results(summary: dict[str, object]) -> list[tuple[str, str, str]]:
    checks = summary["checks"]
    assert isinstance(checks, list)
    return sorted((c["id"], c["kind"], c["outcome"]) for c in checks)


def test_two_shards_merge_into_the_verdict_of_one_run(tmp_path: Path) -> None:
    # The whole run and the two shards are independent runs (each its own lab): run them at once.
    with ThreadPoolExecutor(3) as pool:
        whole_run = pool.submit(run_checks, *SELECTION, "--report-dir", str(tmp_path / "whole"))
        shard_runs = [
            pool.submit(run_checks, *SELECTION, "--shard", f"{k}/2", "--report-dir", str(tmp_path / f"shard-{k}"))
            for k in (1, 2)
        ]
    whole = whole_run.result()
    assert whole.returncode == 1, whole.stdout[-2000:]
    one_run = json.loads((tmp_path / "whole" / "latest" / "summary.json").read_text())
    shards = []
    for k, shard_run in zip((1, 2), shard_runs, strict=True):
        result = shard_run.result()
        assert result.returncode in (0, 1), result.stdout[-2000:]
        [directory] = [p for p in (tmp_path / f"shard-{k}").iterdir() if p.name.endswith(f"-shard-{k}-of-2")]
        shards.append(directory / "summary.json")
    services = [{c["service"] for c in json.loads(p.read_text())["checks"]} for p in shards]
    assert services[0] and services[1] and not services[0] & services[1]  # a real split, no overlap
    merged_page = tmp_path / "merged.html"
    merged = subprocess.run(
        [sys.executable, "-m", "cutover.cli", "report", *map(str, shards), "-o", str(merged_page)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert merged.returncode == 1 and merged.stdout.startswith("NO-GO")
    from cutover.report.summary import load_summary, merge_summaries

    combined = merge_summaries([load_summary(p) for p in shards])
    assert combined["verdict"] == one_run["verdict"] == "NO-GO"
    assert _results(combined) == _results(one_run)
    assert combined["complete"] is True


def test_shard_assignment_is_stable_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [shard_of(name, 4) for name in ("grafana", "mlflow", "qdrant")] == [
        shard_of(name, 4) for name in ("grafana", "mlflow", "qdrant")
    ]
    assert parse_shard("2/3") == (1, 3)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "3")
    assert parse_shard("auto/4") == (3, 4)
    for bad in ("0/2", "3/2", "x/2", "2"):
        with pytest.raises(InputError, match="--shard"):
            parse_shard(bad)
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    with pytest.raises(InputError, match="Indexed Job"):
        parse_shard("auto/4")


def test_shards_started_in_the_same_second_are_two_runs() -> None:
    """An Indexed Job starts every shard at once: same start second, selection and environment."""
    from cutover.report.summary import merge_summaries

    def shard(k: int, service: str) -> dict[str, object]:
        check = {"id": f"{service}[GET /]", "service": service, "wave": 1, "kind": "paths", "outcome": "passed"}
        return {
            "verdict": "GO",
            "complete": True,
            "started": "2026-11-27T02:00:00+00:00",
            "selection": "-m wave1",
            "environment": "targets staging.yaml",
            "shard": f"{k}/2",
            "checks": [check],
        }

    one, two = shard(1, "grafana"), shard(2, "mlflow")
    assert _results(merge_summaries([one, two])) == [
        ("grafana[GET /]", "paths", "passed"),
        ("mlflow[GET /]", "paths", "passed"),
    ]
    # The same run given twice (a run directory and its reports/latest copy) still counts once.
    assert _results(merge_summaries([one, dict(one)])) == [("grafana[GET /]", "paths", "passed")]
