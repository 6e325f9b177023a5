"""The timeout and SSE checks through pytest, as a user runs them: test manifests with a 6 s
proxy-read-timeout (tests/test_limits_real.py), once as correctly mapped (no route timeout:
GO) and once with timeouts.request copied from proxy-read-timeout (a total limit: NO-GO,
the long stream cut, with the mapping explained in the failure)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import run_checks
from tests.test_limits_real import _manifests


def _run(manifests: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_checks("-m", "timeouts or sse", "--manifests", str(manifests), "--no-go-report", *extra, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    manifests = _manifests(tmp_path_factory.mktemp("limits") / "llm")
    with ThreadPoolExecutor(2) as pool:
        clean = pool.submit(_run, manifests)
        naive = pool.submit(_run, manifests, "--fault", "request-timeout-as-read-timeout")
        return {"clean": clean.result(), "naive": naive.result()}


def test_the_correct_mapping_is_go(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = runs["clean"]
    assert result.returncode == 0, result.stdout[-3000:]
    assert "4 passed" in result.stdout  # silent 4s, beyond 6s, sse outlast 9s, sse silent 4s


def test_request_timeout_from_read_timeout_is_no_go(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = runs["naive"]
    assert result.returncode == 1, result.stdout[-3000:]
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "test_sse[llm-gateway[sse outlast 9s]]" in failed[0], failed
    assert "timeouts.request is a total duration: it cut the stream at 6." in result.stdout
    assert "remove timeouts.request (and backendRequest) or set it above the longest stream" in result.stdout
