"""summary.json, the run directory under reports/, and merging several runs into one page."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cutover import __version__
from cutover.errors import InputError
from cutover.report.html import render_page
from cutover.report.verdict import PASSING, CheckResult, decide
from cutover.targets import Targets, Waiver

__all__ = [
    "RunFacts",
    "build_summary",
    "digest_check",
    "dump_summary",
    "load_summary",
    "merge_summaries",
    "next_run_directory",
    "refresh_latest",
    "write_summary",
]

_TICKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class RunFacts:
    """What summary.json is assembled from; the report's pytest hooks gather it."""

    verdict: str
    reason: str
    counts: dict[str, int]
    incomplete: str | None
    results: list[CheckResult]
    selected: int
    shard: str | None
    ticket: str | None
    change_note: str | None
    targets: Targets | None
    waivers: list[Waiver]
    cluster_context: str | None
    selection: str
    started: dt.datetime
    xdist: bool
    environment_table: dict[str, Any]
    path_bases: tuple[Path, ...]


def shown_path(path: object, bases: tuple[Path, ...]) -> str:
    """A path as it may be attached to a ticket: relative to the first base it lies under, or
    its name alone, never this machine's absolute layout."""
    if path is None:
        return "-"
    resolved = Path(str(path)).resolve()
    for base in bases:
        if resolved.is_relative_to(base.resolve()):
            return str(resolved.relative_to(base.resolve())) or "."
    return resolved.name


def _environment(facts: RunFacts) -> str:
    targets = facts.targets
    source = targets.source if targets else {}
    if source.get("kind") == "lab":
        environment = f"embedded lab, profile {source.get('profile')}, manifests {shown_path(source.get('manifests'), facts.path_bases)}"
        environment += f", faults: {', '.join(source.get('faults') or [])}" if source.get("faults") else ""
        if source.get("nginx_config"):
            environment += f", nginx controller settings: {source['nginx_config']}"
        if facts.xdist:
            environment += " (one lab per xdist worker: endpoints differ per worker)"
        return environment
    if targets is not None:
        return f"targets {shown_path(targets.path, facts.path_bases)}" + (
            f" ({source.get('context')})" if source.get("context") else ""
        )
    return "-"


def _waiver_rows(facts: RunFacts) -> list[dict[str, str]]:
    rows = []
    for waiver in facts.waivers:
        problem = waiver.problem(facts.started.date())
        rows.append(
            {
                "check": waiver.check,
                "service": waiver.service,
                "owner": waiver.owner,
                "reason": waiver.reason,
                "expires": str(waiver.expires),
                "status": "valid" if problem is None else f"refused: {problem}",
            }
        )
    return rows


def build_summary(facts: RunFacts) -> dict[str, Any]:
    """summary.json of one run: the verdict, what was selected and where, every check's result."""
    targets = facts.targets
    checks = [r for r in facts.results if r.kind != "other"]
    checked = {r.service for r in checks}
    return {
        "verdict": facts.verdict,
        "reason": facts.reason,
        "complete": facts.incomplete is None,
        "incomplete_reason": facts.incomplete,
        "counts": facts.counts,
        "selected": facts.selected,
        "shard": facts.shard,
        "ticket": facts.ticket,
        "change_note": facts.change_note,
        "waves": sorted({r.wave for r in checks if r.wave is not None}),
        "services": list(dict.fromkeys(r.service for r in checks)),
        "namespaces": {
            service.name: service.namespace
            for service in (targets.services if targets else [])
            if service.namespace and service.name in checked
        },
        "selection": facts.selection or "all",
        "targets": shown_path(targets.path, facts.path_bases) if targets and targets.path else None,
        "environment": _environment(facts),
        "lab_profile": (targets.source if targets else {}).get("profile"),
        "cluster_context": facts.cluster_context,
        "endpoints": {
            name: {"address": e.address, "http_port": e.http_port, "https_port": e.https_port}
            for name, e in (targets.endpoints.items() if targets else [])
        },
        "started": facts.started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "suite_version": __version__,
        "checks": [digest_check(r.to_dict()) for r in facts.results],
        "waivers": _waiver_rows(facts),
        "warnings": [w for r in facts.results for w in r.warnings],
        "notes": list(targets.notes) if targets else [],
        "environment_table": facts.environment_table,
    }


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
    partial.write_text(dump_summary(summary))
    partial.replace(path)
    return path


# Lists written one entry per line: at 500 services an indented summary.json is mostly blanks.
_ONE_PER_LINE = ("checks", "superseded", "warnings")


def dump_summary(summary: dict[str, Any]) -> str:
    """summary.json's text: one top-level key per line, and one check per line (grep finds a
    check with its whole result; `jq` reads it as any JSON)."""

    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), default=str)

    lines = []
    for key, value in summary.items():
        if key in _ONE_PER_LINE and isinstance(value, list) and value:
            text = "[\n" + ",\n".join("    " + compact(item) for item in value) + "\n  ]"
        else:
            text = compact(value)
        lines.append(f"  {compact(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


# Kinds whose passing evidence is a chart on the page (stream timelines, timeout bars, latency
# curves): the chart's inputs stay, the bodies and header dumps go.
CHARTED = ("sse", "timeouts", "load")
_BULKY = ("body", "response", "upstream", "headers")
# What a passing result keeps of each side's evidence: enough to say what answered and how.
_SIDE_DIGEST = ("status", "error", "served_by", "backend")


def digest_check(check: dict[str, Any]) -> dict[str, Any]:
    """A passing (or n/a) result as summary.json keeps it at scale: kind, service, outcome and
    differences whole; the evidence as a digest (each side's status, backend and timing, every
    attempt counted per side by status and backend), bodies, header dumps and attempt lists
    left out; empty fields dropped. Anything else (failed, error, not run, not verified,
    waived) is returned as it is: what blocks GO keeps all of its evidence."""
    if check.get("outcome") not in PASSING:
        return check
    evidence = dict(check.get("evidence") or {})
    attempts = evidence.pop("attempts", None)
    if isinstance(attempts, list):
        counts: dict[str, dict[str, int]] = {}
        for attempt in attempts:
            tally = counts.setdefault(str(attempt.get("side")), {})
            key = f"{attempt.get('status') or attempt.get('error')} {attempt.get('backend') or '-'}"
            tally[key] = tally.get(key, 0) + 1
        evidence["attempt_counts"] = counts
    charted = check.get("kind") in CHARTED
    for key, value in list(evidence.items()):
        if key in ("nginx", "gateway") and isinstance(value, dict):
            if charted:
                evidence[key] = {k: v for k, v in value.items() if k not in _BULKY}
            elif "attempt_counts" in evidence:
                # Every attempt's status and backend are counted: the shown one says no more.
                del evidence[key]
            else:
                evidence[key] = _side_digest(value)
        elif not charted and (key == "shown_attempt" or (key != "attempt_counts" and isinstance(value, dict | list))):
            # Inventories, vantage points, rule lists: the manifests and targets hold them.
            del evidence[key]
    digested: dict[str, Any] = {
        "id": check.get("id"),
        "service": check.get("service"),
        "wave": check.get("wave"),
        "kind": check.get("kind"),
        "outcome": check.get("outcome"),
        "message": check.get("message") or "",
        "probe": check.get("probe") or "",
        "duration": round(float(check.get("duration") or 0.0), 3),
        "differences": [_lean_difference(d) for d in check.get("differences") or []],
        "evidence": evidence,
    }
    for key, value in check.items():
        # Fields this digest does not know (a later run's or another tool's) are kept if set;
        # not the nodeid (pytest's name for the check: its kind's test and this id) nor the
        # warnings (the differences of severity "warn", listed once at the top of summary.json).
        if key not in digested and key not in ("nodeid", "warnings") and value not in (None, "", [], {}):
            digested[key] = value
    return digested


def _side_digest(side: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in side.items() if k in _SIDE_DIGEST and v is not None}
    served_by, backend = kept.get("served_by"), kept.get("backend")
    if served_by and backend and str(served_by).startswith(str(backend)):
        del kept["backend"]  # "ns/svc" says nothing "ns/svc:8080" does not
    return kept


def _lean_difference(difference: dict[str, Any]) -> dict[str, Any]:
    lean = {k: v for k, v in difference.items() if not (k in ("expected", "reviewed", "note") and v in (None, ""))}
    if tuple(lean.get("sides") or ()) == ("nginx", "gateway"):
        del lean["sides"]
    return lean


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
        "namespaces": {k: v for s in runs for k, v in (s.get("namespaces") or {}).items()},
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
