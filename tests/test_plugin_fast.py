"""The plugin driven fast: two tiny HTTP servers stand in for nginx and the Gateway (no nginx,
no Envoy), each naming the backend that answered in a header (`identity`). Selection by
marker, readable ids, opt-in deselection, exit status, the verdict line and independence from
pytest's rootdir, in seconds, before the lab tests would show a plugin regression."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import UNUSED_PLUGINS


def _side(backend_for: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    class Side(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").split(":")[0]
            backend = backend_for.get(host)
            body = b"ok" if backend else b"no such host"
            self.send_response(200 if backend else 404)
            if backend:
                self.send_header("X-Served-By", backend)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Side


@pytest.fixture
def sides() -> Iterator[dict[str, dict[str, str]]]:
    """Two stand-ins; `sides[name]` is the host -> backend map each one serves (editable)."""
    maps: dict[str, dict[str, str]] = {"nginx": {}, "gateway": {}}
    servers = {name: ThreadingHTTPServer(("127.0.0.1", 0), _side(backends)) for name, backends in maps.items()}
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers.values()]
    for thread in threads:
        thread.start()
    maps["ports"] = {name: str(server.server_address[1]) for name, server in servers.items()}
    yield maps
    for server in servers.values():
        server.shutdown()
        server.server_close()
    for thread in threads:
        thread.join()


def _targets(path: Path, ports: dict[str, str]) -> Path:
    def endpoint(name: str) -> dict[str, Any]:
        return {"address": "127.0.0.1", "http_port": int(ports[name]), "https_port": int(ports[name])}

    data = {
        "endpoints": {"nginx": endpoint("nginx"), "gateway": endpoint("gateway")},
        "identity": {"header": "X-Served-By"},
        "vantage_points": {},
        "services": [
            {
                "name": "web",
                "host": "web.example",
                "wave": 1,
                "scheme": "http",
                "checks": ["paths"],
                "paths": [{"path": "/", "type": "Prefix", "backend": "demo/web"}],
            },
            {
                "name": "api",
                "host": "api.example",
                "wave": 2,
                "scheme": "http",
                "checks": ["paths"],
                "paths": [{"path": "/", "type": "Prefix", "backend": "demo/api"}],
            },
        ],
    }
    path.write_text(yaml.safe_dump(data))
    return path


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *UNUSED_PLUGINS, *args)


def test_selection_ids_and_a_go(pytester: pytest.Pytester, sides: dict[str, dict[str, str]]) -> None:
    for side in ("nginx", "gateway"):
        sides[side].update({"web.example": "demo/web", "api.example": "demo/api"})
    targets = _targets(pytester.path / "targets.yaml", sides["ports"])
    reports = pytester.path / "reports"
    result = _run(pytester, "-m", "wave1 and paths", "--targets", str(targets), "--report-dir", str(reports), "-v")
    assert result.ret == 0, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["*test_paths?web?GET /?? PASSED*", "*test_paths?web?GET //cutover-probe?? PASSED*"])
    assert "api[" not in result.stdout.str()  # wave 2 is not selected
    lines = [line for line in result.stdout.lines if line.strip()]
    assert lines[-2].startswith("cutover: GO - all ") and lines[-1].startswith("cutover report: ")
    summary = json.loads((reports / "latest" / "summary.json").read_text())
    assert summary["verdict"] == "GO" and {c["service"] for c in summary["checks"]} == {"web"}


def test_a_wrong_backend_that_also_answers_is_no_go(
    pytester: pytest.Pytester, sides: dict[str, dict[str, str]]
) -> None:
    sides["nginx"].update({"web.example": "demo/web"})
    sides["gateway"].update({"web.example": "demo/web-canary"})  # also answers 200
    targets = _targets(pytester.path / "targets.yaml", sides["ports"])
    result = _run(pytester, "-m", "wave1 and paths", "--targets", str(targets), "--report-dir", "reports")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["cutover: NO-GO - 1 finding - path matching differs (web)"])
    assert "backend: nginx demo/web, gateway demo/web-canary" in result.stdout.str()


def test_opt_in_kinds_are_deselected_unless_named(pytester: pytest.Pytester, sides: dict[str, dict[str, str]]) -> None:
    targets = _targets(pytester.path / "targets.yaml", sides["ports"])
    result = _run(pytester, "--targets", str(targets), "--collect-only", "-q", "-m", "wave1")
    text = result.stdout.str()
    assert "test_paths.py::test_paths[web[GET /]]" in text
    assert "test_load" not in text and "test_soak" not in text and "test_phase3" not in text


def test_the_rootdir_does_not_matter(
    pytester: pytest.Pytester, sides: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for side in ("nginx", "gateway"):
        sides[side].update({"web.example": "demo/web"})
    elsewhere = pytester.mkdir("elsewhere")
    targets = _targets(pytester.path / "targets.yaml", sides["ports"])
    monkeypatch.chdir(elsewhere)  # no test paths, no ini: the packaged suite, reports here
    result = _run(pytester, "-m", "wave1 and paths", "--targets", str(targets))
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert (elsewhere / "reports" / "latest" / "summary.json").is_file()
