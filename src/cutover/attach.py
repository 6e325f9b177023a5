"""`cutover attach`: put the go/no-go report on the change ticket.

Jira first (REST: attachments, then a one-line comment), a generic webhook (multipart POST)
second. Credentials come from the environment only and are never printed or written
anywhere; a failure says what the server answered and that the report is still on disk.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from cutover.errors import CutoverError, InputError

__all__ = ["AttachResult", "attach_jira", "attach_webhook", "check_attachable", "load_report"]

FILES = ("go-no-go.html", "summary.json")


@dataclass
class AttachResult:
    target: str
    files: list[str]
    comment: str


def _safe_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_attachable(summary: dict[str, object], ticket: str, report: Path, force: bool = False) -> None:
    """Refuse to post a verdict that does not stand: an incomplete run, or another ticket's."""
    if force:
        return
    if summary.get("complete") is not True:
        why = summary.get("incomplete_reason") or "summary.json does not say the run was complete"
        raise CutoverError(f"the run in {report} is incomplete ({why}); run the checks again, or pass --force")
    if summary.get("ticket") != ticket:
        theirs = summary.get("ticket") or "no ticket"
        raise CutoverError(f"the run in {report} was made for {theirs}, not {ticket}; pass --force to attach it anyway")


def load_report(directory: Path) -> tuple[dict[str, object], list[Path]]:
    files = [directory / name for name in FILES]
    for path in files:
        if not path.is_file():
            raise InputError(
                "is missing: run the checks first or point --report at a run directory",
                file=str(path),
                field="--report",
            )
    try:
        summary = json.loads(files[1].read_text())
    except ValueError as exc:
        raise InputError(f"is not valid JSON: {exc}", file=str(files[1])) from None
    return summary, files


def _comment(summary: dict[str, object]) -> str:
    return f"cutover: {summary.get('verdict')} - {summary.get('reason')} (report attached: go-no-go.html)"


def _explain(status: int, service: str, ticket: str, url: str, body: str, kept: Path) -> CutoverError:
    if status in (401, 403) and "XSRF" not in body:
        why = f"{service} refused the credentials ({status}): check the token in the environment"
    elif status == 404:
        why = f"ticket {ticket} was not found at {url} (404)"
    elif status == 413:
        why = f"{service} refused the attachment as too large (413)"
    else:
        why = f"{service} answered {status}: {body[:200].strip()}"
    return CutoverError(f"{why}; the report is kept at {kept}")


def _client(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)


def attach_jira(
    report: Path, ticket: str, environ: dict[str, str] | None = None, timeout: float = 60.0, force: bool = False
) -> AttachResult:
    env = dict(os.environ if environ is None else environ)
    base = env.get("JIRA_URL", "").rstrip("/")
    if not base:
        raise InputError("is not set", field="JIRA_URL", hint="the Jira base URL, e.g. https://jira.example.com")
    user, token, bearer = env.get("JIRA_USER"), env.get("JIRA_API_TOKEN"), env.get("JIRA_BEARER_TOKEN")
    headers: dict[str, str] = {}
    auth: httpx.Auth = httpx.Auth()  # no authentication of its own
    if bearer:
        headers = {"Authorization": f"Bearer {bearer}"}
    elif user and token:
        auth = httpx.BasicAuth(user, token)
    else:
        raise InputError("are not set", field="JIRA_USER and JIRA_API_TOKEN (or JIRA_BEARER_TOKEN)")
    summary, files = load_report(report)
    check_attachable(summary, ticket, report, force)
    issue = f"{base}/rest/api/2/issue/{quote(ticket)}"
    shown = _safe_url(issue)
    with _client(timeout) as client:
        try:
            response = client.post(
                f"{issue}/attachments",
                auth=auth,
                headers={**headers, "X-Atlassian-Token": "no-check"},
                files=[("file", (path.name, path.read_bytes(), _mime(path))) for path in files],
            )
            if response.status_code >= 300:
                raise _explain(response.status_code, "Jira", ticket, shown, response.text, report)
            comment = _comment(summary)
            response = client.post(f"{issue}/comment", auth=auth, headers=headers, json={"body": comment})
            if response.status_code >= 300:
                raise _explain(response.status_code, "Jira", ticket, shown, response.text, report)
        except httpx.HTTPError as exc:
            raise CutoverError(
                f"Jira at {_safe_url(base)} could not be reached ({type(exc).__name__}); the report is kept at {report}"
            ) from None
    return AttachResult(f"Jira {ticket}", [p.name for p in files], comment)


def attach_webhook(
    report: Path, ticket: str, environ: dict[str, str] | None = None, timeout: float = 60.0, force: bool = False
) -> AttachResult:
    env = dict(os.environ if environ is None else environ)
    url = env.get("CUTOVER_WEBHOOK_URL", "")
    if not url:
        raise InputError("is not set", field="CUTOVER_WEBHOOK_URL")
    headers = {"Authorization": f"Bearer {env['CUTOVER_WEBHOOK_TOKEN']}"} if env.get("CUTOVER_WEBHOOK_TOKEN") else {}
    summary, files = load_report(report)
    check_attachable(summary, ticket, report, force)
    comment = _comment(summary)
    with _client(timeout) as client:
        try:
            response = client.post(
                url,
                headers=headers,
                data={"ticket": ticket, "verdict": str(summary.get("verdict")), "comment": comment},
                files=[("file", (path.name, path.read_bytes(), _mime(path))) for path in files],
            )
        except httpx.HTTPError as exc:
            raise CutoverError(
                f"the webhook at {_safe_url(url)} could not be reached ({type(exc).__name__}); "
                f"the report is kept at {report}"
            ) from None
    if response.status_code >= 300:
        raise _explain(response.status_code, "the webhook", ticket, _safe_url(url), response.text, report)
    return AttachResult(f"webhook {_safe_url(url)}", [p.name for p in files], comment)


def _mime(path: Path) -> str:
    return "text/html" if path.suffix == ".html" else "application/json"
