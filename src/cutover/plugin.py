"""cutover's pytest plugin: options, markers, the lab session, and the check fixtures.

The only pytest-facing module: tests_migration/ modules declare `CHECK_KIND` and one test
taking `cutover_case` and `cutover_check`; everything else lives in the package.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import shutil
import tempfile
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cutover import __version__
from cutover.checks import CHECK_MODULES, Case, Outcome, ParityFailure, ProbeContext
from cutover.cluster.checks import ClusterSettings, cluster_cases
from cutover.cluster.source import ClusterSource, ManifestSource, connect
from cutover.cluster.state import ClusterState, read_state
from cutover.errors import CutoverError
from cutover.lab import DEFAULT_PROFILE, PROFILES, Lab, LabOptions, get_profile, load_overlay
from cutover.lab.faults import FAULTS
from cutover.paths import default_manifests
from cutover.report import CheckResult, check_extra, decide, fragments, redact
from cutover.report.summary import check_ticket, refresh_latest, run_directory, write_summary
from cutover.report.verdict import waiver_for
from cutover.soak.check import SoakOptions, cases_from_options
from cutover.soak.hubble import RelayTLS
from cutover.targets import Targets, load_targets, parse_targets

__all__ = ["CutoverPlugin", "CutoverWarning", "GoNoGoReport"]

WAVE_MARKERS = range(1, 10)
CHECK_MARKERS = {
    "paths": "path matching parity (trailing slash, prefix, regex, case)",
    "timeouts": "requests slower than 15 s succeed on both sides",
    "sse": "SSE streams complete, in order, unbuffered",
    "source_ip": "client source IP and allowlist parity",
    "backend_tls": "TLS to the backend (BackendTLSPolicy or option B)",
    "redirects": "HTTP to HTTPS redirects",
    "headers": "response and upstream request headers",
    "load": "concurrent load parity on streaming routes (runs only when -m names it)",
}
OTHER_MARKERS = {
    "phase0": "cluster inventory checks",
    "phase1": "Gateway API readiness checks",
    "coverage": "Ingress to HTTPRoute coverage checks",
    "phase3": "decommission checks",
    "soak": "Hubble soak checks over a window (runs only when -m names soak or phase3)",
    "k8s": "pytest-kubernetes cluster fixture (registered so --strict-markers holds)",
}


OPT_IN_MARKERS = ("phase3", "load", "soak")


class CutoverWarning(UserWarning):
    """A difference that does not block GO but should be seen."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cutover", "cutover: ingress-nginx to Gateway API parity")
    group.addoption("--targets", default=None, help="targets YAML (default: start the embedded lab)")
    group.addoption("--manifests", default=None, help="manifests directory for the embedded lab")
    group.addoption("--profile", default=None, choices=sorted(PROFILES), help="the lab's gateway profile")
    group.addoption("--fault", action="append", default=[], choices=sorted(FAULTS), help="seed a lab fault")
    group.addoption("--lab-state", default=None, help="the lab's state directory (default: a temporary one)")
    group.addoption("--attempts", type=int, default=None, help="consecutive agreeing attempts before judging")
    group.addoption(
        "--kubeconfig", default=None, help="cluster checks: kubeconfig (default: in-cluster, then KUBECONFIG)"
    )
    group.addoption("--context", default=None, help="cluster checks: kubeconfig context")
    group.addoption("--gateway-api-version", default="v1.2.1", help="the pinned Gateway API CRD bundle (phase1)")
    group.addoption("--cilium-version", default=None, help="cluster checks: the Cilium version, when no agent pod says")
    group.addoption("--hubble-relay", default=None, metavar="HOST:PORT", help="soak: Hubble Relay's gRPC address")
    group.addoption("--hubble-tls-ca", default=None, help="soak: CA bundle for a TLS Hubble Relay")
    group.addoption(
        "--hubble-tls-server-name",
        default=None,
        help="soak: the name Relay's certificate is checked against (e.g. relay.hubble-relay.cilium.io)",
    )
    group.addoption("--hubble-tls-cert", default=None, help="soak: client certificate for mTLS to Hubble Relay")
    group.addoption("--hubble-tls-key", default=None, help="soak: the client certificate's private key")
    group.addoption(
        "--hubble-flows",
        default=None,
        metavar="PATH",
        help="soak: `hubble observe -o jsonpb` output or flow exporter file, or a directory of them",
    )
    group.addoption("--soak-window", default="48h", help="soak: how far back to look (default 48h)")
    group.addoption(
        "--soak-max-gap",
        default="1h",
        help="soak: the longest stretch without Gateway flows to a service (default 1h)",
    )
    group.addoption(
        "--soak-until",
        default=None,
        help="soak: end of the window, ISO time (default: now; for a file, its newest flow)",
    )
    group.addoption("--ticket", default=None, help="change ticket id (e.g. CHG-1234), shown in the report")
    group.addoption("--change-note", default=None, help="one line about the change, shown in the report")
    group.addoption("--report-dir", default=None, help="where go/no-go reports go (default: reports/)")
    group.addoption("--go-report", action="store_true", default=None, help="write the go/no-go report")
    group.addoption("--no-go-report", action="store_false", dest="go_report", help="do not write it")
    parser.addini("cutover_targets", "targets YAML used when --targets is not given", default="")
    parser.addini("cutover_manifests", "manifests directory for the embedded lab", default="")
    parser.addini("cutover_attempts", "consecutive agreeing attempts before judging", default="3")
    parser.addini("cutover_report_dir", "where go/no-go reports go", default="reports")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for wave in WAVE_MARKERS:
        config.addinivalue_line("markers", f"wave{wave}: checks of services migrating in wave {wave}")
    for name, text in {**CHECK_MARKERS, **OTHER_MARKERS}.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if not config.pluginmanager.has_plugin("cutover-session"):
        config.pluginmanager.register(CutoverPlugin(config), "cutover-session")
    if _wants_report(config) and not hasattr(config, "workerinput"):
        try:
            reporter = GoNoGoReport(config, _plugin(config))
        except CutoverError as exc:
            raise pytest.UsageError(str(exc)) from None
        config.pluginmanager.register(reporter, "cutover-report")


def _wants_report(config: pytest.Config) -> bool:
    """The report is written for runs of the migration checks, or when asked for."""
    explicit = config.getoption("go_report", None)
    if explicit is not None:
        return bool(explicit)
    if config.option.collectonly:
        return False
    return any("tests_migration" in Path(str(arg).split("::")[0]).resolve().parts for arg in config.args)


class CutoverPlugin:
    """Holds the run's targets, the lab it started, and the long probes running ahead."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._targets: Targets | None = None
        self.lab: Lab | None = None
        self.lab_started = False
        self._state_dir: Path | None = None
        self._owns_state_dir = False
        self.prefetched: dict[str, Future[Outcome]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self.records: dict[str, dict[str, Any]] = {}
        self._cluster: ClusterState | None = None
        attempts = config.getoption("--attempts") or int(config.getini("cutover_attempts") or 3)
        self.attempts = max(1, attempts)
        atexit.register(self.stop_lab)

    # -- targets and lab ---------------------------------------------------------
    @property
    def targets(self) -> Targets:
        if self._targets is None:
            self._targets = self._load_targets()
        return self._targets

    def _load_targets(self) -> Targets:
        config = self.config
        path = config.getoption("--targets") or config.getini("cutover_targets")
        try:
            if path:
                return load_targets(Path(str(path)))
            manifests = config.getoption("--manifests") or config.getini("cutover_manifests")
            state = config.getoption("--lab-state")
            if state:
                self._state_dir = Path(state)
            else:
                self._state_dir = Path(tempfile.mkdtemp(prefix="cutover-lab-"))
                self._owns_state_dir = True
            self.lab = Lab(
                LabOptions(
                    manifests=Path(str(manifests)) if manifests else default_manifests(),
                    state_dir=self._state_dir,
                    profile=config.getoption("--profile"),
                    faults=list(config.getoption("--fault") or []),
                    detach=False,
                )
            )
            return parse_targets(self.lab.prepare(), str(self._state_dir / "targets.yaml"))
        except CutoverError as exc:
            raise pytest.UsageError(str(exc)) from None

    def start_lab(self) -> None:
        if self.lab is not None and not self.lab_started:
            try:
                self.lab.start()
            except CutoverError as exc:
                raise pytest.UsageError(str(exc)) from None
            self.lab_started = True
            # A retry after a port clash moves the endpoints: read them again.
            self._targets = parse_targets(self.lab.targets(), str(self.lab.state_dir / "targets.yaml"))

    def stop_lab(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self.lab is not None and self.lab_started:
            self.lab.stop_started()
            self.lab_started = False
        if self._owns_state_dir and self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._owns_state_dir = False

    # -- soak -----------------------------------------------------------------------
    def _soak_cases(self) -> list[Case]:
        option = self.config.getoption
        options = SoakOptions(
            relay=option("--hubble-relay"),
            flows=option("--hubble-flows"),
            window=str(option("--soak-window")),
            until=option("--soak-until"),
            max_gap=str(option("--soak-max-gap")),
            tls=RelayTLS(
                ca=option("--hubble-tls-ca"),
                server_name=option("--hubble-tls-server-name"),
                cert=option("--hubble-tls-cert"),
                key=option("--hubble-tls-key"),
            ),
        )
        try:
            return cases_from_options(self.targets.services, options)
        except CutoverError as exc:
            raise pytest.UsageError(str(exc)) from None

    # -- cluster --------------------------------------------------------------------
    @property
    def cluster(self) -> ClusterState:
        if self._cluster is None:
            self._cluster = self._read_cluster()
        return self._cluster

    def _read_cluster(self) -> ClusterState:
        config = self.config
        kubeconfig, context = config.getoption("--kubeconfig"), config.getoption("--context")
        shared = config.getoption("k8s_kubeconfig", None)
        if kubeconfig is None and shared:
            # pytest-kubernetes' cluster: read from a throwaway copy, since its teardown can
            # delete the kubeconfig file it was handed.
            copy = Path(tempfile.mkdtemp(prefix="cutover-kubeconfig-")) / "config"
            shutil.copyfile(str(shared), copy)
            kubeconfig = str(copy)
        try:
            source: ClusterSource
            if kubeconfig or context or os.environ.get("KUBERNETES_SERVICE_HOST"):
                source = connect(kubeconfig, context)
            else:
                source = ManifestSource(self._manifests_dir())
            return read_state(source)
        except CutoverError as exc:
            raise pytest.UsageError(str(exc)) from None

    def _manifests_dir(self) -> Path:
        manifests = self.config.getoption("--manifests") or self.config.getini("cutover_manifests")
        return Path(str(manifests)) if manifests else default_manifests()

    def cluster_settings(self) -> ClusterSettings:
        config = self.config
        settings = ClusterSettings(bundle_version=config.getoption("--gateway-api-version"))
        settings.cilium_version = config.getoption("--cilium-version")
        overlay: dict[str, Any] = {}
        if not self.cluster.live:
            overlay = load_overlay(self._manifests_dir())
            if settings.cilium_version is None:
                # Offline, the lab profile stands for the Cilium the manifests will meet.
                lab = overlay.get("lab") or {}
                name = config.getoption("--profile") or lab.get("profile") or DEFAULT_PROFILE
                settings.cilium_version = get_profile(str(name)).cilium_version
        if config.getoption("--targets") or not self.cluster.live:
            settings.target_hosts = {s.host for s in self.targets.services}
        if config.getoption("--targets"):
            settings.option_b = {s.name for s in self.targets.services if s.backend_tls.get("mode") == "B"}
        else:
            for name, service in (overlay.get("services") or {}).items():
                if ((service or {}).get("backend_tls") or {}).get("mode") == "B":
                    settings.option_b.add(str(name))
        return settings

    def context(self) -> ProbeContext:
        return ProbeContext(
            self.targets, attempts=self.attempts, max_attempts=self.attempts + 5, progress=self.progress
        )

    def progress(self, line: str) -> None:
        """Progress of a long load run, on the terminal while it runs."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        # The test's output is captured at the file descriptor: step outside it to be seen.
        suspended = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
        with suspended:
            reporter.write_line(f"cutover: {line}")

    # -- collection ----------------------------------------------------------------
    @pytest.hookimpl
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "cutover_case" not in metafunc.fixturenames:
            return
        cluster_kind = getattr(metafunc.module, "CLUSTER_KIND", None)
        if cluster_kind is not None:
            try:
                cases = cluster_cases(cluster_kind, self.cluster, self.cluster_settings())
            except CutoverError as exc:
                raise pytest.UsageError(str(exc)) from None
            cluster_params = []
            for case in cases:
                marks = [getattr(pytest.mark, cluster_kind)]
                if case.service.wave:
                    marks.append(getattr(pytest.mark, f"wave{case.service.wave}"))
                cluster_params.append(pytest.param(case, id=case.id, marks=marks))
            metafunc.parametrize("cutover_case", cluster_params or [pytest.param(None, id="nothing")])
            return
        if getattr(metafunc.module, "SOAK_CHECK", False):
            params = [
                pytest.param(
                    case,
                    id=case.id,
                    marks=[pytest.mark.soak, pytest.mark.phase3, getattr(pytest.mark, f"wave{case.service.wave}")],
                )
                for case in self._soak_cases()
            ]
            metafunc.parametrize("cutover_case", params or [pytest.param(None, id="no-services")])
            return
        kind = getattr(metafunc.module, "CHECK_KIND", None)
        if kind not in CHECK_MODULES:
            raise pytest.UsageError(f"{metafunc.module.__name__}: CHECK_KIND must be one of {sorted(CHECK_MODULES)}")
        params = []
        for case in CHECK_MODULES[kind].cases(self.targets):
            marks = [getattr(pytest.mark, f"wave{case.service.wave}"), getattr(pytest.mark, kind)]
            params.append(pytest.param(case, id=case.id, marks=marks))
        if not params:
            params.append(pytest.param(None, id="no-services", marks=[getattr(pytest.mark, kind)]))
        metafunc.parametrize("cutover_case", params)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        # Decommission and load checks run only when asked for by name (-m phase3, -m load):
        # before the cut-over, "ingress-nginx is gone" is meant to fail.
        expression = config.option.markexpr or ""
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            opt_in = [m for m in OPT_IN_MARKERS if item.get_closest_marker(m) is not None]
            (dropped if opt_in and not any(m in expression for m in opt_in) else keep).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        # Load runs last, alone: it would skew the timing of every other probe.
        keep.sort(key=lambda item: item.get_closest_marker("load") is not None)
        items[:] = keep

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        cases = [_case_of(item) for item in session.items]
        wanted = [
            case for case in cases if case is not None and case.runner is not None and case.info.kind in CHECK_MODULES
        ]
        if wanted and not session.config.option.collectonly:
            self.start_lab()
            slow = [case for case in wanted if case.slow]
            if slow:
                # Long probes (delays, streams) run ahead, overlapping: the run takes about as
                # long as its longest probe, not the sum.
                context = self.context()
                self._pool = ThreadPoolExecutor(max_workers=min(32, len(slow)), thread_name_prefix="cutover-probe")
                for case in slow:
                    self.prefetched[case.id + case.info.kind] = self._pool.submit(case.run, context)
        yield

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.stop_lab()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.stop_lab()

    # -- running ---------------------------------------------------------------------
    def outcome_of(self, case: Case) -> Outcome:
        future = self.prefetched.pop(case.id + case.info.kind, None)
        if future is not None:
            return future.result()
        return case.run(self.context())

    def record(self, nodeid: str, case: Case, outcome: Outcome | None, skipped: str | None = None) -> None:
        redact_names = self.targets.redact_headers
        self.records[nodeid] = {
            "differences": redact([d.to_dict() for d in outcome.differences], redact_names) if outcome else [],
            "evidence": redact(outcome.evidence, redact_names) if outcome else {},
            "attempts": outcome.attempts if outcome else 0,
            "duration": round(outcome.duration, 3) if outcome else 0.0,
            "warnings": [f"{case.id}: {d.line()}" for d in outcome.warnings] if outcome else [],
        }


def _case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    case = callspec.params.get("cutover_case")
    return case if isinstance(case, Case) else None


def _plugin(config: pytest.Config) -> CutoverPlugin:
    plugin = config.pluginmanager.get_plugin("cutover-session")
    assert isinstance(plugin, CutoverPlugin)
    return plugin


@pytest.fixture(scope="session")
def cutover_targets(pytestconfig: pytest.Config) -> Targets:
    """The targets of this run (the embedded lab's, unless --targets was given)."""
    return _plugin(pytestconfig).targets


@pytest.fixture(scope="session")
def cutover_lab(pytestconfig: pytest.Config) -> Lab | None:
    """The embedded lab, started once for the session and stopped at its end (None with --targets)."""
    plugin = _plugin(pytestconfig)
    _ = plugin.targets
    plugin.start_lab()
    return plugin.lab


@pytest.fixture
def cutover_case(request: pytest.FixtureRequest) -> Case:
    case = request.param
    if case is None:
        pytest.skip("Skipping: the targets declare no service")
    assert isinstance(case, Case)
    return case


@pytest.fixture
def cutover_check(request: pytest.FixtureRequest) -> Any:
    """Run one case (or collect its prefetched outcome), record the evidence, judge it."""
    plugin = _plugin(request.config)
    case_param = getattr(request.node, "callspec", None)
    case_value = case_param.params.get("cutover_case") if case_param else None
    if isinstance(case_value, Case) and case_value.info.kind in CHECK_MODULES and case_value.runner is not None:
        request.getfixturevalue("cutover_lab")  # parity checks need the endpoints up

    def check(case: Case) -> Outcome:
        __tracebackhide__ = True
        if case.skip_reason is not None:
            plugin.record(request.node.nodeid, case, None, skipped=case.skip_reason)
            pytest.skip(case.skip_reason)
        outcome = plugin.outcome_of(case)
        plugin.record(request.node.nodeid, case, outcome)
        for difference in outcome.warnings:
            warnings.warn(CutoverWarning(f"{case.id}: {difference.line()}"), stacklevel=1)
        if outcome.failures:
            plugin.records[request.node.nodeid]["parity_failed"] = True
            raise ParityFailure(case, outcome)
        return outcome

    return check


class GoNoGoReport:
    """Collects every check's result and writes the verdict: summary.json, junit.xml and
    the self-contained go-no-go.html (pytest-html 4, with the verdict added through its hooks)."""

    def __init__(self, config: pytest.Config, session_plugin: CutoverPlugin) -> None:
        self.config = config
        self.session_plugin = session_plugin
        self.started = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.ticket = check_ticket(config.getoption("--ticket"))
        self.change_note = config.getoption("--change-note")
        reports = config.getoption("--report-dir") or config.getini("cutover_report_dir") or "reports"
        self.reports = Path(str(reports))
        if not self.reports.is_absolute():
            self.reports = Path(str(config.rootpath)) / self.reports
        self.directory = run_directory(self.reports, self.started, self.ticket)
        if not config.option.htmlpath:
            config.option.htmlpath = str(self.directory / "go-no-go.html")
            config.option.self_contained_html = True
        if not getattr(config.option, "xmlpath", None):
            config.option.xmlpath = str(self.directory / "junit.xml")
        self.cases: dict[str, Case] = {}
        self.selected: list[str] = []
        self.results: dict[str, CheckResult] = {}
        self.others: dict[str, CheckResult] = {}
        self.summary: dict[str, Any] | None = None
        self.latest: Path | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            case = _case_of(item)
            if case is not None:
                self.cases[item.nodeid] = case
        self.selected = [item.nodeid for item in items]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.results[report.nodeid] = self._result(report)
        elif report.when == "teardown" and report.failed and report.nodeid in self.results:
            self.results[report.nodeid].outcome = "error"
            self.results[report.nodeid].message = _first_lines(report.longreprtext)

    def _result(self, report: pytest.TestReport) -> CheckResult:
        case = self.cases.get(report.nodeid)
        record = self.session_plugin.records.get(report.nodeid, {})
        if case is None:
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
        result = CheckResult(
            id=case.id,
            service=case.service.name,
            wave=case.service.wave,
            kind=case.info.kind,
            outcome="passed",
            probe=case.probe,
            nodeid=report.nodeid,
            duration=float(record.get("duration") or report.duration),
            differences=record.get("differences") or [],
            evidence=record.get("evidence") or {},
            warnings=record.get("warnings") or [],
        )
        if report.skipped:
            result.outcome = case.skip_kind or "not run"
            result.message = case.skip_reason or _skip_reason(report)
        elif report.failed:
            # A parity failure is a finding; anything else (a crash, a fixture error) is an error.
            result.outcome = "failed" if record.get("parity_failed") and report.when == "call" else "error"
            result.message = _first_lines(report.longreprtext)
            today = self.started.date()
            waiver, refused = waiver_for(self.session_plugin.targets.waivers, case.info.kind, case.service.name, today)
            if waiver is not None and result.outcome == "failed":
                result.outcome = "waived"
                result.waiver = {"owner": waiver.owner, "reason": waiver.reason, "expires": str(waiver.expires)}
            elif refused:
                result.message += "\n" + "; ".join(refused)
        return result

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report = outcome.get_result()
        if report.when != "call" and not (report.when == "setup" and report.skipped):
            return
        case = self.cases.get(item.nodeid)
        record = self.session_plugin.records.get(item.nodeid)
        if case is None or not record or not (record.get("evidence") or record.get("differences")):
            return
        try:
            from pytest_html import extras
        except ImportError:  # pragma: no cover - pytest-html is a dependency
            return
        shown = {"id": case.id, "kind": case.info.kind, "outcome": report.outcome, **record}
        report.extras = [*getattr(report, "extras", []), extras.html(check_extra(shown))]

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        results = [self.results[n] for n in self.selected if n in self.results]
        verdict = decide(results)
        targets = self.session_plugin._targets
        source = targets.source if targets else {}
        if source.get("kind") == "lab":
            environment = f"embedded lab, profile {source.get('profile')}, manifests {source.get('manifests')}" + (
                f", faults: {', '.join(source.get('faults') or [])}" if source.get("faults") else ""
            )
        elif targets is not None:
            environment = f"targets {targets.path}" + (f" ({source.get('context')})" if source.get("context") else "")
        else:
            environment = "-"
        checks = [r for r in results if r.kind != "other"]
        waivers = []
        if targets is not None:
            for waiver in targets.waivers:
                problem = waiver.problem(self.started.date())
                waivers.append(
                    {
                        "check": waiver.check,
                        "service": waiver.service,
                        "owner": waiver.owner,
                        "reason": waiver.reason,
                        "expires": str(waiver.expires),
                        "status": "valid" if problem is None else f"refused: {problem}",
                    }
                )
        self.summary = {
            "verdict": verdict.label,
            "reason": verdict.reason,
            "counts": verdict.counts,
            "ticket": self.ticket,
            "change_note": self.change_note,
            "waves": sorted({r.wave for r in checks if r.wave is not None}),
            "services": list(dict.fromkeys(r.service for r in checks)),
            "selection": " ".join(
                part
                for part in (
                    f"-m {session.config.option.markexpr}" if session.config.option.markexpr else "",
                    f"-k {session.config.option.keyword}" if session.config.option.keyword else "",
                )
                if part
            )
            or "all",
            "targets": str(targets.path) if targets and targets.path else None,
            "environment": environment,
            "lab_profile": source.get("profile"),
            "cluster_context": self.session_plugin._cluster.description if self.session_plugin._cluster else None,
            "endpoints": {
                name: {"address": e.address, "http_port": e.http_port, "https_port": e.https_port}
                for name, e in (targets.endpoints.items() if targets else [])
            },
            "started": self.started.isoformat(),
            "finished": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "suite_version": __version__,
            "checks": [r.to_dict() for r in results],
            "waivers": waivers,
            "warnings": [w for r in results for w in r.warnings],
            "notes": list(targets.notes) if targets else [],
        }
        write_summary(self.directory, self.summary)
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.OK if verdict.go else pytest.ExitCode.TESTS_FAILED

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "cutover go/no-go" + (f" - {self.ticket}" if self.ticket else "")

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        if self.summary is not None:
            prefix.extend(fragments(self.summary))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.summary is None:
            return
        self.latest = refresh_latest(self.reports, self.directory)
        terminalreporter.write_sep(
            "=",
            f"cutover: {self.summary['verdict']} - {self.summary['reason']}",
            green=self.summary["verdict"] == "GO",
            red=self.summary["verdict"] != "GO",
        )
        for name in ("go-no-go.html", "summary.json", "junit.xml"):
            if (self.directory / name).exists():
                terminalreporter.write_line(f"cutover report: {self.directory / name}")
        terminalreporter.write_line(f"cutover latest: {self.latest}")


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
