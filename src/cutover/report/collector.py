"""The go/no-go report as a pytest plugin object: collect each check's result while the run
goes, decide the verdict at the end, write summary.json, junit.xml and go-no-go.html.

A verdict is only as good as the run behind it. A run is *complete* when pytest ended with
"ok" or "tests failed", nothing failed to collect, and every selected check has a result;
anything else (Ctrl-C, an internal error, a usage error, collection errors, nothing selected,
`-x`) is written as NO-GO with `complete: false` and never replaces reports/latest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import pytest

from cutover.checks import Case
from cutover.report.html import check_extra, fragments, render_page
from cutover.report.record import CheckRecord, record_of
from cutover.report.summary import (
    CHARTED,
    RunFacts,
    build_summary,
    check_ticket,
    next_run_directory,
    refresh_latest,
    write_summary,
)
from cutover.report.verdict import BLOCKING, PASSING, CheckResult, decide, finding, waiver_for
from cutover.suite import SUITE_DIR
from cutover.targets import Targets, Waiver

__all__ = ["GoNoGoReport", "case_of"]

_EXIT_REASONS = {
    pytest.ExitCode.INTERRUPTED: "the run was interrupted",
    pytest.ExitCode.INTERNAL_ERROR: "pytest stopped on an internal error",
    pytest.ExitCode.USAGE_ERROR: "pytest stopped on a usage error",
    pytest.ExitCode.NO_TESTS_COLLECTED: "no check was selected",
}
# Outcomes a waiver can turn into "waived": a finding, or a behaviour the lab could not verify.
_WAIVABLE = ("failed", "not verified")
# Above this many selected tests the page is cutover's own, not pytest-html's: pytest-html
# keeps a row of about 650 bytes per test (10,000 tests at 500 services: 6.5 MB of rows no one
# reads); cutover's page lists every service in one line under its namespace.
PYTEST_HTML_LIMIT = 400
# The terminal's findings: at most this many lines per finding, then a count.
TERMINAL_LINES = 5


class RunState(Protocol):
    """What the report reads of the run (the plugin provides it): the report depends on this,
    not on the plugin, so the two modules do not import each other."""

    shard: tuple[int, int] | None
    records: dict[str, CheckRecord]

    @property
    def loaded_targets(self) -> Targets | None: ...

    def waivers(self) -> list[Waiver]: ...

    def cluster_description(self) -> str | None: ...


# (manifests, failed checks as dicts, lab profile name) -> each failed check's remedies by (kind, id):
# cutover.fix.remedies_by_check, which stands above the report and is handed in by the plugin.
RemedyPlanner = Callable[[Path, list[dict[str, Any]], str | None], dict[tuple[str, str], list[dict[str, Any]]]]


def case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    case = callspec.params.get("cutover_case")
    return case if isinstance(case, Case) else None


class GoNoGoReport:
    """Collects every check's result and writes the verdict.

    Active from the start when the run is predictably a cutover run (the page is then
    pytest-html's, with the verdict added through its hooks); otherwise it wakes up when
    collection finds cutover checks, and writes its own page (no pytest-html, no junit).
    """

    def __init__(
        self, config: pytest.Config, session_plugin: RunState, active: bool, plan_remedies: RemedyPlanner | None = None
    ) -> None:
        self.config = config
        self.session_plugin = session_plugin
        self.plan_remedies = plan_remedies
        self.started = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.ticket = check_ticket(config.getoption("--ticket"))
        self.change_note = config.getoption("--change-note")
        self.reports = _reports_dir(config)
        # The plugin has parsed --shard already: (index from 0, count).
        shard = session_plugin.shard
        self.shard = f"{shard[0] + 1}/{shard[1]}" if shard is not None else None
        suffix = f"shard-{shard[0] + 1}-of-{shard[1]}" if shard is not None else None
        self.directory = next_run_directory(self.reports, self.started, self.ticket, suffix)
        self.active = active
        self.own_page = False
        # The page is pytest-html's because this object asked for it (not the user's --html).
        self.html_ours = False
        if active:
            if not config.option.htmlpath:
                config.option.htmlpath = str(self.directory / "go-no-go.html")
                config.option.self_contained_html = True
                self.html_ours = True
            if not getattr(config.option, "xmlpath", None):
                config.option.xmlpath = str(self.directory / "junit.xml")
        self.cases: dict[str, Case] = {}
        self.selected: list[str] = []
        self.results: dict[str, CheckResult] = {}
        self.collect_errors: list[str] = []
        self.summary: dict[str, Any] | None = None
        self.latest: Path | None = None
        self.environment_table: dict[str, Any] = {}

    def pytest_metadata(self, metadata: dict[str, Any], config: pytest.Config) -> None:
        """pytest-html's environment box would come before the verdict: its facts move into a
        collapsed section at the end of the page instead."""
        self.environment_table = {str(k): v for k, v in metadata.items()}
        metadata.clear()

    # -- collection ------------------------------------------------------------------
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            lines = [line.strip() for line in report.longreprtext.splitlines() if line.startswith("E ")]
            cause = lines[-1].removeprefix("E").strip() if lines else "see the pytest output"
            self.collect_errors.append(f"{report.nodeid or 'the test session'}: {cause}")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            case = case_of(item)
            if case is not None:
                self.cases[item.nodeid] = case
        self.selected = [item.nodeid for item in items]
        if self.cases and not self.active and not self.config.option.collectonly:
            # Cutover checks collected from a path the plugin could not foresee: the verdict
            # is written all the same, with the package's own page instead of pytest-html's.
            self.active = True
            self.own_page = not self.config.option.htmlpath
        self._page_for_scale()

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under xdist the controller collects nothing: the workers say what was selected."""
        if not self.selected:
            self.selected = list(ids)
            self._page_for_scale()

    def _page_for_scale(self) -> None:
        """A large selection gets cutover's own page instead of the pytest-html one this object
        asked for (a --html the user gave is left alone)."""
        if not (self.active and self.html_ours) or len(self.selected) <= PYTEST_HTML_LIMIT:
            return
        try:
            from pytest_html.basereport import BaseReport
        except ImportError:  # pragma: no cover - pytest-html is a dependency
            return
        for plugin in self.config.pluginmanager.get_plugins():
            if isinstance(plugin, BaseReport):
                self.config.pluginmanager.unregister(plugin)
        self.html_ours = False
        self.own_page = True

    # -- results ---------------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.results[report.nodeid] = self._result(report)
        elif report.when == "teardown" and report.failed and report.nodeid in self.results:
            self.results[report.nodeid].outcome = "error"
            self.results[report.nodeid].message = _first_lines(report.longreprtext)

    def _result(self, report: pytest.TestReport) -> CheckResult:
        record = record_of(report.user_properties)
        if record is None:
            outcome = "passed" if report.passed else "n/a" if report.skipped else "error"
            return CheckResult(
                report.nodeid,
                "-",
                None,
                "other",
                outcome,
                _first_lines(report.longreprtext),
                nodeid=report.nodeid,
                duration=report.duration,
            )
        differences = record.differences
        result = CheckResult(
            id=record.id,
            service=record.service,
            wave=record.wave,
            kind=record.kind,
            outcome="passed",
            probe=record.probe,
            nodeid=report.nodeid,
            duration=float(record.duration or report.duration),
            differences=differences,
            evidence=record.evidence,
            warnings=record.warnings,
        )
        if report.skipped:
            result.outcome = record.skip_kind or "not run"
            result.message = record.skip_reason or _skip_reason(report)
        elif report.failed:
            # A parity failure is a finding; anything else (a crash, a fixture error, a broken
            # baseline) is an error.
            result.outcome = "failed" if record.parity_failed and report.when == "call" else "error"
            if result.outcome == "failed" and result.evidence.get("verdict") == "not verified":
                # The soak check could not see the whole window (gaps, lost events, nodes down).
                result.outcome = "not verified"
            result.message = _first_lines(report.longreprtext)
        else:
            reviewed = [d["reviewed"] for d in differences if d.get("expected") and d.get("reviewed")]
            if reviewed:
                # Passing only because of reviewed differences: shown as waived, never as passed.
                result.outcome = "waived"
                result.waiver = reviewed[0]
                result.message = "; ".join(f"{d['field']}: {d['expected']}" for d in differences if d.get("expected"))
        if result.outcome in _WAIVABLE:
            waiver, refused = waiver_for(
                self.session_plugin.waivers(), record.kind, record.service, self.started.date()
            )
            if waiver is not None:
                result.outcome = "waived"
                result.waiver = {"owner": waiver.owner, "reason": waiver.reason, "expires": str(waiver.expires)}
            elif refused:
                result.message += "\n" + "; ".join(refused)
        return result

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report = outcome.get_result()
        if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            # pytest keeps (file, line, reason); the page shows only the reason, not the tuple.
            report.longrepr = _SkipReason(report.longrepr)
        if self.own_page or (report.when != "call" and not (report.when == "setup" and report.skipped)):
            return
        record = record_of(report.user_properties) or self.session_plugin.records.get(item.nodeid)
        if record is None or not (record.evidence or record.differences):
            return
        if report.passed and record.kind not in CHARTED:
            # A passing short check's evidence stays in summary.json; the page of a 500-service
            # estate would otherwise carry every probe's headers and bodies.
            return
        try:
            from pytest_html import extras
        except ImportError:  # pragma: no cover - pytest-html is a dependency
            return
        shown = {**asdict(record), "outcome": report.outcome}
        report.extras = [*getattr(report, "extras", []), extras.html(check_extra(shown))]

    # -- the verdict -----------------------------------------------------------------------
    def incomplete_reason(self, exitstatus: int) -> str | None:
        """Why this run's results cannot carry a verdict, or None when it is complete."""
        if self.collect_errors:
            count = len(self.collect_errors)
            return f"{count} collection error{'s' if count != 1 else ''} (first: {self.collect_errors[0]})"
        if exitstatus in _EXIT_REASONS:
            return _EXIT_REASONS[pytest.ExitCode(exitstatus)]
        if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return f"pytest ended with exit status {exitstatus}"
        missing = [nodeid for nodeid in self.selected if nodeid not in self.results]
        if missing:
            return f"{len(missing)} of {len(self.selected)} selected checks have no result (first: {missing[0]})"
        if not self.cases and all(r.kind == "other" for r in self.results.values()):
            return "no cutover check was collected"
        return None

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.active:
            return
        results = [self.results[n] for n in self.selected if n in self.results]
        self._attach_remedies(results)
        incomplete = self.incomplete_reason(exitstatus)
        verdict = decide(results, incomplete)
        self.summary = self._summary(session, results, verdict.label, verdict.reason, verdict.counts, incomplete)
        self.directory.mkdir(parents=True, exist_ok=True)
        write_summary(self.directory, self.summary)
        if self.own_page:
            (self.directory / "go-no-go.html").write_text(render_page(self.summary))
        if incomplete is None and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = pytest.ExitCode.OK if verdict.go else pytest.ExitCode.TESTS_FAILED
        elif session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _attach_remedies(self, results: list[CheckResult]) -> None:
        """Each failed check's remedy (cutover.fix, handed in by the plugin), planned from the
        manifests of this run. A planner that cannot read them leaves the findings without one;
        it never breaks the report."""
        failed = [r for r in results if r.outcome == "failed"]
        targets = self.session_plugin.loaded_targets
        source = targets.source if targets else {}
        manifests = self.config.getoption("--manifests") or source.get("manifests")
        if not failed or not manifests or self.plan_remedies is None:
            return
        try:
            by_check = self.plan_remedies(
                Path(str(manifests)), [r.to_dict() for r in failed], str(source.get("profile") or "") or None
            )
        except Exception:  # the remedy is an aid: whatever the manifests hold, the verdict is written
            return
        for result in failed:
            result.remedy = by_check.get((result.kind, result.id)) or None

    def _summary(
        self,
        session: pytest.Session,
        results: list[CheckResult],
        label: str,
        reason: str,
        counts: dict[str, int],
        incomplete: str | None,
    ) -> dict[str, Any]:
        """What pytest knows of the run, handed to report/summary.py, which assembles summary.json."""
        plugin = self.session_plugin
        waivers = plugin.waivers()  # under xdist, the controller reads the targets only now
        option = session.config.option
        selection = " ".join(
            part
            for part in (
                f"-m {option.markexpr}" if option.markexpr else "",
                f"-k {option.keyword}" if option.keyword else "",
            )
            if part
        )
        return build_summary(
            RunFacts(
                verdict=label,
                reason=reason,
                counts=counts,
                incomplete=incomplete,
                results=results,
                selected=len(self.selected),
                shard=self.shard,
                ticket=self.ticket,
                change_note=self.change_note,
                targets=plugin.loaded_targets,
                waivers=waivers,
                cluster_context=plugin.cluster_description(),
                selection=selection,
                started=self.started,
                xdist=self.config.pluginmanager.has_plugin("dsession"),
                environment_table=self.environment_table,
                # Paths as they may be attached to a ticket: relative to where pytest was started
                # (or to the cutover checkout), never this machine's absolute layout.
                path_bases=(self.config.invocation_params.dir, SUITE_DIR.parents[2]),
            )
        )

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "cutover go/no-go" + (f" - {self.ticket}" if self.ticket else "")

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        if self.summary is not None:
            prefix.extend(fragments(self.summary))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """A cutover section: findings grouped, warnings grouped, passing services counted."""
        if self.summary is None:
            return
        lines = findings_lines(self.summary)
        if lines:
            terminalreporter.write_sep("-", "cutover findings")
            for line in lines:
                terminalreporter.write_line(line)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The verdict is the last thing on the terminal, right after pytest's tally."""
        if self.summary is None:
            return
        if self.summary.get("complete"):
            # Only a complete run may become reports/latest: `cutover attach` reads it. Done
            # here, after pytest-html has written the page.
            self.latest = refresh_latest(self.reports, self.directory)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        go = self.summary["verdict"] == "GO"
        reporter.write_line(
            f"cutover: {self.summary['verdict']} - {self.summary['reason']}", green=go, red=not go, bold=True
        )
        latest = (
            f"reports/latest refreshed: {self.latest}"
            if self.latest is not None
            else "reports/latest not replaced: this run is incomplete"
        )
        reporter.write_line(f"cutover report: {self.directory / 'go-no-go.html'} ({latest})")


def findings_lines(summary: dict[str, Any], per_group: int = TERMINAL_LINES) -> list[str]:
    """The terminal's cutover section, short at any scale: each finding once with its first
    checks (one line each) and a count of the rest; services with the same warnings on one
    line; refused waivers; and how many services passed, never their list."""
    checks = [c for c in summary.get("checks") or [] if c.get("kind") != "other"]
    lines: list[str] = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for check in checks:
        if check["outcome"] in BLOCKING:
            groups.setdefault(finding(CheckResult.from_dict(check)), []).append(check)
    for name, own in groups.items():
        services = list(dict.fromkeys(str(c["service"]) for c in own))
        lines.append(f"{name} - {_count(len(services), 'service')}:")
        for check in own[:per_group]:
            lines.append(
                f"  {check['service']}: {check['outcome'].upper()} {check['kind']} {check['probe']}: {_headline(check)}"
            )
        if len(own) > per_group:
            lines.append(f"  and {_count(len(own) - per_group, 'more check')} (the report lists every one)")
    warned: dict[tuple[str, ...], list[str]] = {}
    for service in dict.fromkeys(str(c["service"]) for c in checks):
        fields = tuple(
            dict.fromkeys(
                str(d.get("field"))
                for c in checks
                if c["service"] == service
                for d in c.get("differences") or []
                if d.get("severity") == "warn" and not d.get("expected")
            )
        )
        if fields:
            warned.setdefault(fields, []).append(service)
    for fields, services in warned.items():
        shown = ", ".join(services[:per_group]) + (
            f" and {len(services) - per_group} more" if len(services) > per_group else ""
        )
        lines.append(f"warnings (do not block GO): {', '.join(fields)} - {_count(len(services), 'service')}: {shown}")
    for waiver in summary.get("waivers") or []:
        if waiver.get("status") != "valid":
            lines.append(f"waiver {waiver['check']}/{waiver['service']} {waiver['status']}")
    if lines:
        troubled = {str(c["service"]) for c in checks if c["outcome"] not in PASSING}
        services = list(dict.fromkeys(str(c["service"]) for c in checks))
        passing = [s for s in services if s not in troubled]
        lines.append(f"passed: {len(passing)} of {_count(len(services), 'service')} with every check passed or n/a")
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _headline(check: dict[str, Any]) -> str:
    failing = [
        d for d in check.get("differences") or [] if d.get("severity", "fail") == "fail" and not d.get("expected")
    ]
    if failing:
        first = failing[0]
        left, right = first.get("sides") or ("nginx", "gateway")
        more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
        return (
            f"{first.get('field')}: {left} {_short(first.get('nginx'))}, {right} {_short(first.get('gateway'))}{more}"
        )
    message = (check.get("message") or "").strip().splitlines()
    return message[0] if message else str(check["outcome"])


def _short(value: Any) -> str:
    text = "(none)" if value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _SkipReason(tuple):  # type: ignore[type-arg]
    """A skip's (file, line, reason) that prints as its reason alone."""

    def __str__(self) -> str:
        return str(self[2]).removeprefix("Skipped: ")


def _reports_dir(config: pytest.Config) -> Path:
    """Where runs are written: --report-dir (relative to where pytest was started), the ini
    setting (relative to the ini file), else ./reports where pytest was started. Never the
    rootdir: a path-valued option can move it anywhere."""
    option = config.getoption("--report-dir")
    if option:
        path = Path(str(option)).expanduser()
        return path if path.is_absolute() else config.invocation_params.dir / path
    ini = config.getini("cutover_report_dir") if config.inipath else ""
    if ini:
        path = Path(str(ini))
        return path if path.is_absolute() else Path(str(config.inipath)).parent / path
    return config.invocation_params.dir / "reports"


def _first_lines(text: str, count: int = 12) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    parity = [line for line in lines if line.lstrip().startswith("E ")]
    chosen = parity or lines[-count:]
    return "\n".join(line.strip().removeprefix("E").strip() for line in chosen[:count])


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)
