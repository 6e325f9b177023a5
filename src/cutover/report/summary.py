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


def next_run_directory(reports: Path, started: dt.datetime, ticket: str | None, suffix: str | None = None) -> Path:
    """The directory this run will write to (created only when something is written)."""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    name = "-".join(part for part in (stamp, ticket, suffix) if part)
    directory = reports / name
    number = 1
    while directory.exists():
        number += 1
        directory = reports / f"{name}.{number}"
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


def _run_key(summary: dict[str, Any]) -> tuple[str, str, str, str]:
    # The shard too: an Indexed Job starts every shard at the same second, with the same selection.
    return (
        str(summary.get("started")),
        str(summary.get("selection")),
        str(summary.get("environment")),
        str(summary.get("shard")),
    )


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary from several runs (e.g. the nightly runs of each wave). The same run given
    twice (reports/latest is a copy of a run directory) counts once; where two runs checked
    the same thing (check id and kind), the later run's result stands and the earlier one is
    kept as history; the verdict is decided again over what stands."""
    unique: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for summary in summaries:
        unique.setdefault(_run_key(summary), summary)
    runs = sorted(unique.values(), key=lambda s: str(s.get("started")))
    if len(runs) == 1:
        return runs[0]
    standing: dict[tuple[str, str], dict[str, Any]] = {}
    superseded: list[dict[str, Any]] = []
    for summary in runs:
        for check in summary.get("checks") or []:
            key = (str(check.get("id")), str(check.get("kind")))
            if key in standing:
                superseded.append(standing[key])
            standing[key] = {**check, "run": summary.get("started")}
    checks = list(standing.values())
    broken = [s for s in runs if s.get("complete") is False]
    incomplete = (
        f"{len(broken)} of the {len(runs)} runs are incomplete ({broken[0].get('incomplete_reason')})"
        if broken
        else None
    )
    verdict = decide([CheckResult.from_dict(c) for c in checks], incomplete)
    first = runs[0]

    def union(key: str) -> list[Any]:
        seen: list[Any] = []
        for summary in runs:
            for item in summary.get(key) or []:
                if item not in seen:
                    seen.append(item)
        return seen

    tickets = sorted({s["ticket"] for s in runs if s.get("ticket")})
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
        "superseded": superseded,
        "waivers": union("waivers"),
        "warnings": union("warnings"),
        "notes": union("notes"),
        "started": min(str(s.get("started")) for s in runs),
        "finished": max(str(s.get("finished")) for s in runs),
        "selection": "; ".join(str(s.get("selection") or "-") for s in runs),
        "runs": [
            {
                "started": s.get("started"),
                "selection": s.get("selection"),
                "environment": s.get("environment"),
                "lab_profile": s.get("lab_profile"),
                "endpoints": s.get("endpoints"),
                "ticket": s.get("ticket"),
                "verdict": s.get("verdict"),
                "complete": s.get("complete"),
            }
            for s in runs
        ],
        "merged_from": len(runs),
    }


def render_reports(paths: list[Path], output: Path) -> tuple[Path, str]:
    summaries = [load_summary(p) for p in paths]
    merged = merge_summaries(summaries)
    # Only once every input is read: a bad input leaves no empty output folder behind.
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_page(merged, [str(p) for p in paths]))
    return output, str(merged["verdict"])
