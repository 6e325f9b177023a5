"""One registry for check kinds: a toy kind added through the registry alone is selectable by
its marker, lands in summary.json, in the verdict's words and in the report's matrix."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.registry import kinds, parity_kinds
from tests.conftest import UNUSED_PLUGINS

TOY_CONFTEST = """
import types

from cutover.checks.base import Case, CheckInfo, Difference, Outcome
from cutover.registry import register_check_module

toy = types.ModuleType("toy")
toy.INFO = CheckInfo("toy", "Toy", "a toy check", marker="toy checks", finding="toy differs")


def _run(case, context):
    if case.service.name == "a":
        return Outcome(differences=[Difference("colour", "blue", "green")])
    return Outcome()


toy.cases = lambda targets: [Case(toy.INFO, s, "GET /", {}, _run) for s in targets.services]
register_check_module(toy)
"""
TOY_TEST = """
CHECK_KIND = "toy"


def test_toy(cutover_case, cutover_check):
    cutover_check(cutover_case)
"""


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_every_kind_is_described_once() -> None:
    registered = kinds()
    assert list(registered)[:7] == ["paths", "timeouts", "sse", "source_ip", "backend_tls", "redirects", "headers"]
    assert {"unmodelled", "load", "phase0", "phase1", "coverage", "phase3", "soak"} <= set(registered)
    assert {k for k, info in registered.items() if info.opt_in} == {"load", "phase3", "soak"}
    assert all(info.finding for info in registered.values()), [k for k, i in registered.items() if not i.finding]
    assert "load" not in parity_kinds() and "paths" in parity_kinds()


def run_toy(pytester: pytest.Pytester, port: int, services: list[dict[str, Any]]) -> tuple[pytest.RunResult, Path]:
    """`pytest -m toy` with the toy kind registered by a conftest, both sides answering on
    `port`, one toy check per service; returns the run and its reports folder."""
    pytester.makeconftest(TOY_CONFTEST)
    pytester.makepyfile(test_toy=TOY_TEST)
    side = {"address": "127.0.0.1", "http_port": port, "https_port": port}
    targets = {"endpoints": {"nginx": side, "gateway": side}, "services": services}
    (pytester.path / "targets.yaml").write_text(yaml.safe_dump(targets))
    reports = pytester.path / "reports"
    args = ("test_toy.py", "-m", "toy", "--targets", "targets.yaml", "--report-dir", str(reports))
    return pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", *UNUSED_PLUGINS), reports


def test_a_toy_kind_added_through_the_registry_alone(pytester: pytest.Pytester, endpoint: int) -> None:
    services = [
        {"name": name, "host": f"{name}.example", "wave": 1, "scheme": "http", "checks": ["toy"]} for name in ("a", "b")
    ]
    result, reports = run_toy(pytester, endpoint, services)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["cutover: NO-GO - 1 finding - toy differs (a)"])
    [summary_path] = [p for p in reports.glob("*/summary.json") if p.parent.name != "latest"]
    summary = json.loads(summary_path.read_text())
    assert {(c["service"], c["kind"], c["outcome"]) for c in summary["checks"]} == {
        ("a", "toy", "failed"),
        ("b", "toy", "passed"),
    }
    page = (summary_path.parent / "go-no-go.html").read_text()
    assert "<th>toy</th>" in page
    markers = pytester.runpytest_subprocess("--markers", *UNUSED_PLUGINS)
    markers.stdout.fnmatch_lines(["@pytest.mark.toy: toy checks"])
