"""`cutover attach` against a local stand-in that checks requests the way Jira's REST API
does (auth, X-Atlassian-Token: no-check, the multipart field `file`), and its errors."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

USER, TOKEN = "release-bot@metalkube.internal", "s3cr3t-api-token-value"


class JiraStandIn(BaseHTTPRequestHandler):
    tickets = {"CHG-1234"}
    max_bytes = 10_000_000
    received: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._answer(401, {"errorMessages": ["You are not authenticated."]})
        parts = self.path.split("/")
        if len(parts) < 7 or parts[1:5] != ["rest", "api", "2", "issue"]:
            return self._answer(404, {"errorMessages": ["Not found"]})
        ticket, action = parts[5], parts[6]
        if ticket not in self.tickets:
            return self._answer(
                404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
            )
        if action == "attachments":
            if self.headers.get("X-Atlassian-Token") != "no-check":
                return self._answer(403, {"message": "XSRF check failed"})
            if length > self.max_bytes:
                return self._answer(413, {"errorMessages": ["The attachment is too large."]})
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
            )
            files = [
                (part.get_param("name", header="content-disposition"), part.get_filename())
                for part in message.iter_parts()
            ]
            if not files or any(name != "file" for name, _ in files):
                return self._answer(400, {"errorMessages": ["the multipart field must be named 'file'"]})
            self.received.append({"ticket": ticket, "files": [f for _, f in files]})
            return self._answer(200, [{"filename": f} for _, f in files])
        if action == "comment":
            self.received.append({"ticket": ticket, "comment": json.loads(body)["body"]})
            return self._answer(201, {"id": "10001"})
        return self._answer(404, {"errorMessages": ["Not found"]})


@pytest.fixture
def jira() -> Iterator[tuple[str, type[JiraStandIn]]]:
    handler = type("Handler", (JiraStandIn,), {"received": [], "max_bytes": JiraStandIn.max_bytes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def report(tmp_path: Path) -> Path:
    directory = tmp_path / "20261126T020000Z-CHG-1234"
    directory.mkdir()
    (directory / "go-no-go.html").write_text("<!DOCTYPE html><title>cutover</title>" + "x" * 5000)
    summary = {"verdict": "NO-GO", "reason": "2 checks failed", "complete": True, "ticket": "CHG-1234"}
    (directory / "summary.json").write_text(json.dumps(summary))
    return directory


def attach(report: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "CUTOVER_WEBHOOK"))}
    return subprocess.run(
        [sys.executable, "-m", "cutover.cli", "attach", "--ticket", "CHG-1234", "--report", str(report), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **env},
        timeout=60,
    )


def jira_env(url: str, token: str = TOKEN) -> dict[str, str]:
    return {"JIRA_URL": url, "JIRA_USER": USER, "JIRA_API_TOKEN": token}


def test_attach_uploads_both_files_and_comments(jira: tuple[str, type[JiraStandIn]], report: Path) -> None:
    url, handler = jira
    result = attach(report, jira_env(url))
    assert result.returncode == 0, result.stderr
    assert handler.received[0] == {"ticket": "CHG-1234", "files": ["go-no-go.html", "summary.json"]}
    assert handler.received[1]["comment"].startswith("cutover: NO-GO - 2 checks failed")
    assert "attached go-no-go.html, summary.json to Jira CHG-1234" in result.stdout
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        ("wrong-token", "Jira refused the credentials (401)"),
        ("unknown-ticket", "ticket CHG-1234 was not found at"),
        ("too-large", "Jira refused the attachment as too large (413)"),
    ],
)
def test_attach_errors_are_clear(jira: tuple[str, type[JiraStandIn]], report: Path, setup: str, fragment: str) -> None:
    url, handler = jira
    env = jira_env(url)
    if setup == "wrong-token":
        env = jira_env(url, token="not-the-right-token")
    elif setup == "unknown-ticket":
        handler.tickets = {"CHG-9999"}
    else:
        handler.max_bytes = 1000
    result = attach(report, env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert f"the report is kept at {report}" in lines[0]
    assert (report / "go-no-go.html").is_file()
    assert "not-the-right-token" not in result.stderr and TOKEN not in result.stderr
    assert handler.received == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"complete": False, "incomplete_reason": "the run was interrupted"}, "is incomplete (the run was interrupted)"),
        ({"complete": None}, "summary.json does not say the run was complete"),
        ({"ticket": "CHG-9999"}, "was made for CHG-9999, not CHG-1234"),
        ({"ticket": None}, "was made for no ticket, not CHG-1234"),
    ],
)
def test_attach_refuses_incomplete_or_foreign_runs(
    jira: tuple[str, type[JiraStandIn]], report: Path, change: dict[str, Any], fragment: str
) -> None:
    url, handler = jira
    summary = json.loads((report / "summary.json").read_text())
    (report / "summary.json").write_text(json.dumps({**summary, **change}))
    refused = attach(report, jira_env(url))
    assert refused.returncode == 1 and fragment in refused.stderr and "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert handler.received == []
    forced = attach(report, jira_env(url), "--force")
    assert forced.returncode == 0, forced.stderr
    assert handler.received[0]["files"] == ["go-no-go.html", "summary.json"]


def test_missing_credentials_and_report(tmp_path: Path, report: Path) -> None:
    result = attach(report, {"JIRA_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2 and "JIRA_USER and JIRA_API_TOKEN" in result.stderr
    missing = attach(tmp_path / "nothing", jira_env("http://127.0.0.1:9"))
    assert missing.returncode == 2 and "go-no-go.html: --report: is missing" in missing.stderr


def test_unreachable_jira(report: Path) -> None:
    result = attach(report, jira_env(f"http://{USER.split('@')[0]}:{TOKEN}@127.0.0.1:9"))
    assert result.returncode == 1 and "could not be reached" in result.stderr
    assert TOKEN not in result.stderr


def test_webhook(jira: tuple[str, type[JiraStandIn]], report: Path, tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
            )
            fields = {
                p.get_param("name", header="content-disposition"): p.get_filename() or p.get_content()
                for p in message.iter_parts()
            }
            received.append({"auth": self.headers.get("Authorization"), **fields})
            status = 200 if self.path == "/ok" else 500
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        ok = attach(report, {"CUTOVER_WEBHOOK_URL": base + "/ok", "CUTOVER_WEBHOOK_TOKEN": "hook-token-123"})
        assert ok.returncode == 0, ok.stderr
        assert received[0]["auth"] == "Bearer hook-token-123"
        assert received[0]["ticket"] == "CHG-1234" and received[0]["verdict"] == "NO-GO"
        assert received[0]["file"] in ("go-no-go.html", "summary.json")
        failed = attach(report, {"CUTOVER_WEBHOOK_URL": base + "/broken"}, "--to", "webhook")
        assert failed.returncode == 1 and "the webhook answered 500" in failed.stderr
        assert "hook-token-123" not in ok.stdout + failed.stderr
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
