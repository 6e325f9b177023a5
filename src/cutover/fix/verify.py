"""Prove a remedy in the lab: run the same selection on the patched copy and judge each finding.

A finding is *fixed* only when the check that found it passes on the patched copy (for a
headers field: the field no longer differs); a check that fails, errs or cannot run there is
*not fixed*, with the evidence. Findings the patched copy has that the original did not are
listed as new: a remedy must not trade one finding for another.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cutover.errors import LabError
from cutover.fix.remedies import FIXABLE, NEEDS_PROFILE, NOT_FIXABLE, Finding, FixPlan, findings_of
from cutover.report.verdict import BLOCKING, OUTCOMES

__all__ = [
    "FIXABLE",
    "FIXED",
    "NEW",
    "NOT_FIXED",
    "STATUSES",
    "FindingResult",
    "Selection",
    "judge",
    "run_suite",
    "write_fix_report",
]

FIXED = "fixed (verified)"
NOT_FIXED = "not fixed"
NEW = "new on the patched copy"
_REPORT_LINE = re.compile(r"^cutover report: (.+)/go-no-go\.html", re.MULTILINE)


@dataclass
class Selection:
    """What a run selects and how its lab is started; the same for the run before and after."""

    markexpr: str = ""
    keyword: str = ""
    profile: str | None = None
    faults: list[str] = field(default_factory=list)

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> Selection:
        """The selection a summary.json recorded (`-m EXPR -k EXPR`, or `all`) and its lab profile."""
        text = str(summary.get("selection") or "")
        markexpr = keyword = ""
        if text and text != "all":
            head, _, tail = text.partition(" -k ")
            if head.startswith("-k "):
                keyword = head[3:]
            else:
                markexpr = head.removeprefix("-m ")
                keyword = tail
        return cls(markexpr, keyword, summary.get("lab_profile"))

    def args(self) -> list[str]:
        args: list[str] = []
        if self.markexpr:
            args += ["-m", self.markexpr]
        if self.keyword:
            args += ["-k", self.keyword]
        if self.profile:
            args += ["--profile", self.profile]
        for fault in self.faults:
            args += ["--fault", fault]
        return args


def run_suite(manifests: Path, report_dir: Path, selection: Selection, timeout: float = 1800) -> dict[str, Any]:
    """The packaged suite on `manifests` in the embedded lab, in a fresh pytest process (as a user
    runs it); returns the run's summary.json. Never touches a cluster: no --kubeconfig, no --targets."""
    report_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        *selection.args(),
        "--manifests",
        str(manifests.resolve()),
        "--report-dir",
        str(report_dir.resolve()),
    ]
    completed = subprocess.run(
        command, cwd=report_dir, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    match = _REPORT_LINE.search(completed.stdout)
    run_dir = Path(match.group(1)) if match else None
    if run_dir is None or not (run_dir / "summary.json").is_file():
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-15:])
        raise LabError(f"the lab run on {manifests} wrote no summary (exit {completed.returncode}):\n{tail}")
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    summary["_run_dir"] = str(run_dir)
    if not summary.get("complete"):
        errors = [line for line in (completed.stdout + completed.stderr).splitlines() if line.startswith("ERROR")]
        summary["_errors"] = errors[-3:]
    return summary


@dataclass
class FindingResult:
    finding: Finding
    status: str  # FIXED, NOT_FIXED, NOT_FIXABLE, NEEDS_PROFILE, NEW
    remedy: str
    detail: str
    after: str  # the check's outcome on the patched copy

    def to_dict(self) -> dict[str, Any]:
        return {
            "finding": self.finding.to_dict(),
            "status": self.status,
            "remedy": self.remedy,
            "detail": self.detail,
            "after": self.after,
        }


def _failing_fields(check: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in check.get("differences") or [] if d.get("severity", "fail") == "fail" and not d.get("expected")]


def _evidence(check: dict[str, Any]) -> str:
    failing = _failing_fields(check)
    if failing:
        return "; ".join(f"{d.get('field')}: nginx {d.get('nginx')}, gateway {d.get('gateway')}" for d in failing[:3])
    message = (check.get("message") or "").strip().splitlines()
    return message[-1] if message else check.get("outcome", "")


def judge(plan: FixPlan, after: dict[str, Any]) -> list[FindingResult]:
    """Each finding of the plan against the run on the patched copy, then the new findings."""
    checks = {(str(c["kind"]), str(c["id"])): c for c in after.get("checks") or []}
    results: list[FindingResult] = []
    for remedy in plan.remedies:
        for finding in remedy.findings:
            check = checks.get(finding.check_key)
            outcome = check["outcome"] if check else "absent"
            if remedy.status == NOT_FIXABLE:
                results.append(FindingResult(finding, NOT_FIXABLE, remedy.title, remedy.reason, outcome))
                continue
            if check is None:
                detail = "the check did not run on the patched copy: nothing proves the remedy"
                if after.get("complete") is False:
                    detail += f" (the run is incomplete: {after.get('incomplete_reason')}"
                    detail += "; " + "; ".join(after.get("_errors") or []) + ")"
                results.append(FindingResult(finding, NOT_FIXED, remedy.title, detail, outcome))
                continue
            closed = outcome in ("passed", "waived")
            if not closed and outcome == "failed" and finding.field is not None:
                closed = all(str(d.get("field")) != finding.field for d in _failing_fields(check))
            if closed:
                detail = (
                    "the check passes on the patched copy"
                    if outcome in ("passed", "waived")
                    else (f"{finding.field} no longer differs (the check still fails on: {_evidence(check)})")
                )
                results.append(FindingResult(finding, FIXED, remedy.title, detail, outcome))
            elif remedy.status == NEEDS_PROFILE:
                detail = f"{remedy.reason} On the patched copy: {_evidence(check)}"
                results.append(FindingResult(finding, NEEDS_PROFILE, remedy.title, detail, outcome))
            else:
                detail = f"still {outcome} on the patched copy: {_evidence(check)}"
                results.append(FindingResult(finding, NOT_FIXED, remedy.title, detail, outcome))
    known = {f.check_key for f in plan.findings}
    for finding in findings_of(list(checks.values())):
        if finding.check_key not in known:
            detail = f"the patched copy fails where the original did not: {finding.summary}"
            results.append(FindingResult(finding, NEW, "-", detail, "failed"))
    for check in checks.values():
        key = (str(check["kind"]), str(check["id"]))
        if check["outcome"] in BLOCKING and check["outcome"] != "failed" and key not in known:
            # An error or "not run" on the patched copy hides whatever it would have found.
            finding = Finding(
                f"{key[0]} {key[1]}",
                key[1],
                key[0],
                str(check["service"]),
                str(check.get("probe") or ""),
                None,
                _evidence(check),
            )
            if not any(r.finding.check_key == key for r in results):
                results.append(
                    FindingResult(finding, NEW, "-", f"{check['outcome']}: {_evidence(check)}", check["outcome"])
                )
    return results


def _worst(outcomes: list[str]) -> str:
    return min(outcomes, key=OUTCOMES.index) if outcomes else ""


def _matrix(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    kinds = list(dict.fromkeys(c["kind"] for c in [*before, *after] if c.get("kind") != "other"))
    services = list(dict.fromkeys(c["service"] for c in [*before, *after] if c.get("kind") != "other"))
    e = html.escape
    head = "".join(f"<th>{e(k)}</th>" for k in kinds)
    rows = []
    for service in services:
        cells = []
        for kind in kinds:
            old = _worst([c["outcome"] for c in before if c["service"] == service and c["kind"] == kind])
            new = _worst([c["outcome"] for c in after if c["service"] == service and c["kind"] == kind])
            css = "bad" if new in BLOCKING else "good" if new else ""
            text = f"{e(old or '-')} &rarr; {e(new or '-')}" if old != new else e(new or "-")
            cells.append(f'<td class="{css}">{text}</td>')
        rows.append(f"<tr><th>{e(service)}</th>{''.join(cells)}</tr>")
    return f'<table id="fix-matrix"><tr><th>service</th>{head}</tr>{"".join(rows)}</table>'


_CSS = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}"
    ".good{background:#d9f2d9}.bad{background:#f6d5d5}pre{white-space:pre-wrap;background:#f4f4f4;padding:6px}"
)


def write_fix_report(
    directory: Path,
    plan: FixPlan,
    results: list[FindingResult],
    before: dict[str, Any],
    after: dict[str, Any],
    manifests: str,
    out: str,
) -> tuple[Path, Path]:
    """fix.json and fix.html (the before/after matrix and each finding's remedy and verdict)."""
    e = html.escape
    data = {
        "manifests": manifests,
        "patched": out,
        "before": {"verdict": before.get("verdict"), "reason": before.get("reason"), "run": before.get("_run_dir")},
        "after": {"verdict": after.get("verdict"), "reason": after.get("reason"), "run": after.get("_run_dir")},
        "selection": after.get("selection"),
        "profile": after.get("lab_profile"),
        "remedies": [r.to_dict() for r in plan.remedies],
        "findings": [r.to_dict() for r in results],
    }
    json_path = directory / "fix.json"
    json_path.write_text(json.dumps(data, indent=2, default=str))
    rows = []
    for result in results:
        remedy = plan.remedy_of(result.finding.id)
        css = "good" if result.status == FIXED else "bad" if result.status in (NOT_FIXED, NEW) else ""
        snippet = (
            f"<details><summary>remedy YAML</summary><pre>{e(remedy.yaml)}</pre></details>"
            if remedy is not None and remedy.yaml
            else ""
        )
        rows.append(
            f'<tr class="{css}"><td>{e(result.finding.id)}</td><td>{e(result.finding.kind)}</td>'
            f"<td>{e(result.finding.summary)}</td><td>{e(result.remedy)}{snippet}</td>"
            f"<td><b>{e(result.status)}</b><br>{e(result.detail)}</td></tr>"
        )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>cutover fix</title><style>{_CSS}</style></head><body>"
        f"<h1>cutover fix: before and after</h1>"
        f"<p>Manifests {e(manifests)} &rarr; patched copy {e(out)}; selection {e(str(after.get('selection')))}, "
        f"profile {e(str(after.get('lab_profile')))}.</p>"
        f"<p>Before: <b>{e(str(before.get('verdict')))}</b> ({e(str(before.get('reason')))})<br>"
        f"After: <b>{e(str(after.get('verdict')))}</b> ({e(str(after.get('reason')))})</p>"
        f"<h2>Services &times; checks</h2>{_matrix(before.get('checks') or [], after.get('checks') or [])}"
        f'<h2>Findings</h2><table id="fix-findings"><tr><th>finding</th><th>check</th><th>before</th>'
        f"<th>remedy</th><th>after</th></tr>{''.join(rows)}</table></body></html>"
    )
    html_path = directory / "fix.html"
    html_path.write_text(page)
    return json_path, html_path


STATUSES = (FIXED, NOT_FIXED, NEEDS_PROFILE, NOT_FIXABLE, NEW)
