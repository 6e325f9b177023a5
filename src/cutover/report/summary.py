"""summary.json, the run directory under reports/, and merging several runs into one page."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

from cutover.errors import InputError
from cutover.report.html import render_page
from cutover.report.verdict import CheckResult, decide

__all__ = ["load_summary", "merge_summaries", "next_run_directory", "refresh_latest", "write_summary"]

_TICKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def next_run_directory(reports: Path, started: dt.datetime, ticket: str | None) -> Path:
    """The directory this run will write to (created only when something is written)."""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{ticket}" if ticket else stamp
    directory = reports / name
    suffix = 1
    while directory.exists():
        suffix += 1
        directory = reports / f"{name}.{suffix}"
    return directory


def check_ticket(ticket: str | None) -> str | None:
    if ticket is None:
        return None
    if not _TICKET.match(ticket):
        raise InputError(f"{ticket!r} is not a ticket id such as CHG-1234", field="--ticket")
    return ticket


def write_summary(directory: Path, summary: dict[str, Any]) -> Path:
    """Written whole or not at all: a run stopped mid-write must not leave half a verdict."""
    path = directory / "summary.json"
    partial = directory / ".summary.json.tmp"
    partial.write_text(json.dumps(summary, indent=2, sort_keys=False, default=str))
    partial.replace(path)
    return path


def refresh_latest(reports: Path, directory: Path) -> Path:
    """reports/latest/ holds copies of the newest run's files (copies attach anywhere)."""
    latest = reports / "latest"
    staging = reports / ".latest.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(directory, staging)
    shutil.rmtree(latest, ignore_errors=True)
    staging.rename(latest)
    return latest


def load_summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror}", file=str(path)) from None
    except ValueError as exc:
        raise InputError(f"is not valid JSON: {exc}", file=str(path)) from None
    if not isinstance(data, dict) or "verdict" not in data or not isinstance(data.get("checks"), list):
        raise InputError("is not a cutover summary (no verdict or checks)", file=str(path), field="verdict")
    return data


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary from several runs (e.g. the nightly runs of each wave): checks side by side,
    the verdict decided again over all of them."""
    if len(summaries) == 1:
        return summaries[0]
    checks: list[dict[str, Any]] = []
    for summary in summaries:
        checks.extend(summary.get("checks") or [])
    broken = [s for s in summaries if s.get("complete") is False]
    incomplete = (
        f"{len(broken)} of the {len(summaries)} runs are incomplete ({broken[0].get('incomplete_reason')})"
        if broken
        else None
    )
    verdict = decide([CheckResult.from_dict(c) for c in checks], incomplete)
    first = summaries[0]

    def union(key: str) -> list[Any]:
        seen: list[Any] = []
        for summary in summaries:
            for item in summary.get(key) or []:
                if item not in seen:
                    seen.append(item)
        return seen

    tickets = sorted({s["ticket"] for s in summaries if s.get("ticket")})
    return {
        **first,
        "verdict": verdict.label,
        "reason": verdict.reason,
        "counts": verdict.counts,
        "complete": verdict.complete,
        "incomplete_reason": incomplete,
        "ticket": ", ".join(tickets) or None,
        "waves": sorted(union("waves")),
        "services": union("services"),
        "checks": checks,
        "waivers": union("waivers"),
        "warnings": union("warnings"),
        "notes": union("notes"),
        "started": min(str(s.get("started")) for s in summaries),
        "finished": max(str(s.get("finished")) for s in summaries),
        "selection": "; ".join(str(s.get("selection") or "-") for s in summaries),
        "merged_from": len(summaries),
    }


def render_reports(paths: list[Path], output: Path) -> tuple[Path, str]:
    summaries = [load_summary(p) for p in paths]
    merged = merge_summaries(summaries)
    # Only once every input is read: a bad input leaves no empty output folder behind.
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_page(merged, [str(p) for p in paths]))
    return output, str(merged["verdict"])
