"""cutover's pytest plugin: options, markers, the check fixtures, and the hooks that wire the
package into pytest (the lab session is cutover.lab.session, the report cutover.report.collector,
shards cutover.shards, the probes' order cutover.scheduler).

The only pytest-facing module: tests_migration/ modules declare `CHECK_KIND` and one test
taking `cutover_case` and `cutover_check`; everything else lives in the package.
"""

from __future__ import annotations

import atexit
import contextlib
from pathlib import Path
from typing import Any

import pytest

from cutover.checks import Case, Outcome, ParityFailure, ProbeContext
from cutover.checks.base import BaselineError
from cutover.checks.preflight import preflight
from cutover.checks.unmodelled import uncovered_annotations
from cutover.cluster.checks import ClusterSettings, cluster_cases
from cutover.cluster.settings import ClusterOptions, cluster_settings, no_cluster_cases, read_cluster
from cutover.cluster.state import ClusterState
from cutover.errors import CutoverError, InputError
from cutover.fix import remedies_by_check
from cutover.lab import DEFAULT_PROFILE, PROFILES, Lab
from cutover.lab.faults import FAULTS
from cutover.lab.session import LabSession, judge_worker_logs
from cutover.locations import default_manifests
from cutover.registry import kinds, parity_modules
from cutover.report.collector import GoNoGoReport, case_of
from cutover.report.record import CheckRecord
from cutover.scheduler import ProbeScheduler
from cutover.shards import parse_shard, shard_of
from cutover.soak.source import cases_from_options
from cutover.soak.source import options_from as soak_options_from
from cutover.suite import SUITE_DIR
from cutover.targets import Targets, Waiver, load_targets

__all__ = ["CutoverPlugin", "GoNoGoReport"]

# Options that only a cutover run sets: with one of them (or a cutover marker in -m) and no
# test paths, the run collects the packaged suite whatever pytest's rootdir turned out to be.
_CUTOVER_OPTIONS = (
    "targets",
    "manifests",
    "profile",
    "fault",
    "lab_state",
    "kubeconfig",
    "context",
    "ticket",
    "change_note",
    "hubble_relay",
    "hubble_flows",
    "report_dir",
    "shard",
)

WAVE_MARKERS = range(1, 10)
LOGS_NOT_KEPT = "the lab's logs were not kept (no report folder): rerun with --lab-state DIR to keep them"

# Markers that are not check kinds (the kinds' own come from the registry).
OTHER_MARKERS = {"k8s": "pytest-kubernetes cluster fixture (registered so --strict-markers holds)"}


def _kind_markers() -> dict[str, str]:
    return {kind: info.marker or info.description for kind, info in kinds().items()}


def _opt_in_markers() -> tuple[str, ...]:
    return tuple(kind for kind, info in kinds().items() if info.opt_in)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cutover", "cutover: ingress-nginx to Gateway API parity")
    group.addoption("--targets", default=None, help="targets YAML (default: start the embedded lab)")
    group.addoption(
        "--manifests",
        default=None,
        help="manifests directory: the embedded lab's and the offline cluster checks' (default: fixtures/metalkube)",
    )
    group.addoption(
        "--profile",
        default=None,
        choices=sorted(PROFILES),
        help=f"the lab's Cilium profile (default: the overlay's lab.profile, else {DEFAULT_PROFILE})",
    )
    group.addoption(
        "--fault",
        action="append",
        default=[],
        choices=sorted(FAULTS),
        metavar="NAME",
        help="seed a lab fault (repeatable; `cutover lab faults` lists them)",
    )
    group.addoption("--lab-state", default=None, help="the lab's state directory (default: a temporary one)")
    group.addoption(
        "--nginx-config",
        default=None,
        metavar="FILE",
        help="lab: the ingress-nginx controller's ConfigMap (default: the one in --manifests, else its defaults)",
    )
    group.addoption(
        "--attempts",
        type=int,
        default=None,
        help="consecutive agreeing attempts before a short probe is judged (default: 3)",
    )
    group.addoption(
        "--kubeconfig", default=None, help="cluster checks: kubeconfig (default: in-cluster, then KUBECONFIG)"
    )
    group.addoption("--context", default=None, help="cluster checks: kubeconfig context")
    group.addoption(
        "--gateway-api-version", default="v1.2.1", help="the pinned Gateway API CRD bundle (phase1; default: v1.2.1)"
    )
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
    group.addoption(
        "--shard",
        default=None,
        metavar="K/N",
        help="run only shard K of N, services assigned stably by name; K may be `auto` "
        "(a Kubernetes Indexed Job's JOB_COMPLETION_INDEX + 1); merge the shards with `cutover report`",
    )
    group.addoption("--ticket", default=None, help="change ticket id (e.g. CHG-1234), shown in the report")
    group.addoption("--change-note", default=None, help="one line about the change, shown in the report")
    group.addoption(
        "--report-dir", default=None, help="where go/no-go reports go (default: ./reports where pytest was started)"
    )
    group.addoption(
        "--go-report",
        action="store_true",
        default=None,
        help="write the go/no-go report with pytest-html's page even outside the suite",
    )
    group.addoption("--no-go-report", action="store_false", dest="go_report", help="do not write the go/no-go report")
    parser.addini("cutover_targets", "targets YAML used when --targets is not given", default="")
    parser.addini("cutover_manifests", "manifests directory for the embedded lab", default="")
    parser.addini("cutover_attempts", "consecutive agreeing attempts before judging", default="3")
    parser.addini("cutover_report_dir", "where go/no-go reports go (default: ./reports)", default="")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for wave in WAVE_MARKERS:
        config.addinivalue_line("markers", f"wave{wave}: checks of services migrating in wave {wave}")
    for name, text in {**_kind_markers(), **OTHER_MARKERS}.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    _collect_packaged_suite(config)
    if _is_cutover_run(config):
        try:
            _check_input_paths(config)
        except CutoverError as exc:
            raise pytest.UsageError(str(exc)) from None
    if not config.pluginmanager.has_plugin("cutover-session"):
        # Every process runs checks: the one pytest process, or each xdist worker (each with its
        # own lab). The verdict is written by the process that receives the reports.
        config.pluginmanager.register(CutoverPlugin(config), "cutover-session")
    if hasattr(config, "workerinput"):
        return
    if config.getoption("go_report", None) is False or config.pluginmanager.has_plugin("cutover-report"):
        return
    try:
        reporter = GoNoGoReport(config, _plugin(config), active=_wants_report(config), plan_remedies=remedies_by_check)
    except CutoverError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(reporter, "cutover-report")


class PreflightError(Exception):
    """An endpoint did not answer before the probes started: nothing a probe says means anything."""


def _is_cutover_run(config: pytest.Config) -> bool:
    """A cutover option was given, or -m names a cutover marker."""
    if any(config.getoption(name, None) for name in _CUTOVER_OPTIONS):
        return True
    words = set((config.option.markexpr or "").replace("(", " ").replace(")", " ").split())
    known = {f"wave{w}" for w in WAVE_MARKERS} | set(kinds())
    return bool(words & known)


def _collect_packaged_suite(config: pytest.Config) -> None:
    """Without test paths and without a testpaths setting (a path-valued option such as
    `--targets /etc/x.yaml` moves pytest's rootdir away from pyproject.toml; or pytest runs
    from another directory), a cutover run collects the suite shipped in the package."""
    if config.args_source != pytest.Config.ArgsSource.INVOCATION_DIR or not _is_cutover_run(config):
        return
    config.args = [str(SUITE_DIR)]


def _check_input_paths(config: pytest.Config) -> None:
    """Files named on the command line exist: one line, once, before anything starts."""
    for option, kind in (("--targets", "file"), ("--manifests", "directory"), ("--kubeconfig", "file")):
        value = config.getoption(option)
        if not value:
            continue
        path = Path(str(value)).expanduser()
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        exists = path.is_file() if kind == "file" else path.exists()
        if not exists:
            raise InputError(f"{path} does not exist", field=option, hint=f"give an existing {kind}")


def _wants_report(config: pytest.Config) -> bool:
    """Foreseeably a run of the migration checks (the report also wakes up later, when
    collection finds cutover checks elsewhere)."""
    explicit = config.getoption("go_report", None)
    if explicit is not None:
        return bool(explicit)
    if config.option.collectonly:
        return False
    for arg in config.args:
        path = Path(str(arg).split("::")[0])
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        parts = path.resolve().parts
        if "tests_migration" in parts or path.resolve().is_relative_to(SUITE_DIR):
            return True
    return False


class CutoverPlugin:
    """Holds the run's targets, the lab it started, and the long probes running ahead."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        # Read once: the command line and ini do not change during the run.
        self.cluster_options = ClusterOptions.from_config(config)
        self._targets: Targets | None = None
        self.lab_session: LabSession | None = None
        # Where a failed run's lab logs can be read (named at the end of the run); under xdist,
        # the controller's list of its workers' folders, or that they had nowhere to go.
        self.lab_logs: Path | None = None
        self.worker_lab_logs: list[Path] = []
        self.worker_logs_dropped = False
        # Endpoints that did not answer before the probes started: every parity check is an error.
        self.preflight_problems: list[str] = []
        self.scheduler = ProbeScheduler(self.progress, self._terminal_is_tty)
        try:
            self.shard = parse_shard(config.getoption("--shard", None))
        except CutoverError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.records: dict[str, CheckRecord] = {}
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

    @property
    def loaded_targets(self) -> Targets | None:
        """The targets if this run has loaded them (never starts a lab)."""
        return self._targets

    def waivers(self) -> list[Waiver]:
        if self._targets is None and self.config.pluginmanager.has_plugin("dsession"):
            # The xdist controller runs no check but judges waivers: read the targets (a lab
            # is only rendered here, never started; each worker runs its own).
            return self.targets.waivers
        return self._targets.waivers if self._targets is not None else []

    def cluster_description(self) -> str | None:
        return self._cluster.description if self._cluster is not None else None

    def _load_targets(self) -> Targets:
        config = self.config
        path = config.getoption("--targets") or config.getini("cutover_targets")
        try:
            if path:
                targets = load_targets(Path(str(path)))
                self._mark_uncovered(targets)
                return targets
            manifests = config.getoption("--manifests") or config.getini("cutover_manifests")
            state = config.getoption("--lab-state")
            nginx_config = config.getoption("--nginx-config")
            # An xdist controller only renders the lab (its workers start their own): never in --lab-state.
            controller = self.config.pluginmanager.has_plugin("dsession")
            self.lab_session = LabSession.create(
                Path(str(manifests)) if manifests else default_manifests(),
                Path(state) if state and not controller else None,
                self.progress,
                profile=config.getoption("--profile"),
                faults=config.getoption("--fault"),
                nginx_config=Path(str(nginx_config)) if nginx_config else None,
                # From xdist's own worker input, not PYTEST_XDIST_WORKER: a run started by a test
                # under xdist inherits that variable without being a worker.
                worker=getattr(self.config, "workerinput", {}).get("workerid"),
            )
            return self.lab_session.prepare()
        except CutoverError as exc:
            raise pytest.UsageError(str(exc)) from None

    def _mark_uncovered(self, targets: Targets) -> None:
        """Real endpoints: with a cluster source, every annotation of a service's Ingress that
        no selected check covers is "not verified by cutover"."""
        cluster = self.cluster if self._cluster_source_kind() is not None else None
        if cluster is None:
            return
        protects = {kind: module.INFO.protects for kind, module in parity_modules().items()}
        for service in targets.services:
            service.unverified.extend(uncovered_annotations(service, cluster.manifests.ingresses, protects))

    @property
    def lab(self) -> Lab | None:
        return self.lab_session.lab if self.lab_session is not None else None

    def start_lab(self) -> None:
        session = self.lab_session
        if session is None or session.started:
            return
        profile = self._targets.source.get("profile") if self._targets else session.lab.options.profile
        try:
            # A retry after a port clash prepared the lab again on other ports: new targets.
            self._targets = session.start(str(profile)) or self._targets
        except CutoverError as exc:
            self.stop_lab(failed=True, keep_in=self._lab_logs_folder())
            raise pytest.UsageError(f"{exc}{self._lab_logs_note()}") from None

    def stop_lab(self, failed: bool = False, keep_in: Path | None = None) -> None:
        self.scheduler.stop()
        if self.lab_session is not None:
            self.lab_logs = self.lab_session.stop(failed, keep_in) or self.lab_logs

    def _lab_logs_note(self) -> str:
        if self.lab_logs is not None:
            return f" (the lab's logs and configurations: {self.lab_logs})"
        if self.lab_session is not None and self.lab_session.logs_dropped:
            return f" ({LOGS_NOT_KEPT})"
        return ""

    # -- soak -----------------------------------------------------------------------
    def _soak_cases(self) -> list[Case]:
        try:
            return cases_from_options(self.targets.services, soak_options_from(self.config.getoption))
        except CutoverError as exc:
            raise pytest.UsageError(str(exc)) from None

    # -- cluster --------------------------------------------------------------------
    @property
    def cluster(self) -> ClusterState | None:
        """The cluster state the cluster checks read, or None when this run has no cluster
        source (cutover.cluster.settings.ClusterOptions.source_kind)."""
        if self._cluster is None and self._cluster_source_kind() is not None:
            try:
                self._cluster = read_cluster(self.cluster_options)
            except CutoverError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._cluster

    def _cluster_source_kind(self) -> str | None:
        return self.cluster_options.source_kind

    def cluster_settings(self, cluster: ClusterState) -> ClusterSettings:
        return cluster_settings(self.cluster_options, cluster, lambda: self.targets)

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
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        """Read the targets (and a live cluster) once, before any module is collected: bad
        input is one line, not one collection error per test module."""
        if not (_is_cutover_run(self.config) or _wants_report(self.config)):
            return
        _ = self.targets
        if self._cluster_source_kind() == "api":
            _ = self.cluster

    @pytest.hookimpl
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "cutover_case" not in metafunc.fixturenames:
            return
        cluster_kind = getattr(metafunc.module, "CLUSTER_KIND", None)
        if cluster_kind is not None:
            cluster = self.cluster
            try:
                if cluster is None:
                    cases = no_cluster_cases(cluster_kind, lambda: self.targets.services)
                else:
                    cases = cluster_cases(cluster_kind, cluster, self.cluster_settings(cluster))
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
        modules = parity_modules()
        if kind not in modules:
            raise pytest.UsageError(f"{metafunc.module.__name__}: CHECK_KIND must be one of {sorted(modules)}")
        params = []
        for case in modules[kind].cases(self.targets):
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
        elsewhere: list[pytest.Item]
        opt_in_markers = _opt_in_markers()
        for item in items:
            opt_in = [m for m in opt_in_markers if item.get_closest_marker(m) is not None]
            (dropped if opt_in and not any(m in expression for m in opt_in) else keep).append(item)
        shard = self.shard
        if shard is not None:
            index, count = shard
            candidates = keep
            keep, elsewhere = [], []
            for item in candidates:
                case = case_of(item)
                (keep if case is None or shard_of(case.service.name, count) == index else elsewhere).append(item)
            dropped += elsewhere
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        # Load runs last, alone: it would skew the timing of every other probe.
        keep.sort(key=lambda item: item.get_closest_marker("load") is not None)
        items[:] = keep

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        cases = [case_of(item) for item in session.items]
        parity = parity_modules()
        wanted = [case for case in cases if case is not None and case.runner is not None and case.info.kind in parity]
        if wanted and not session.config.option.collectonly:
            self.start_lab()
            # Both endpoints must answer before any probe means anything: one line each if not.
            self.preflight_problems = preflight(self.targets)
            for problem in self.preflight_problems:
                self.progress(f"preflight: {problem}")
            if not self.preflight_problems:
                self.scheduler.start(wanted, self.context())
        yield

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Last: the verdict has set the exit status, and the report has made its folder.
        keep_in = self._lab_logs_folder()
        if hasattr(self.config, "workerinput"):
            # A worker cannot know the verdict (waivers, blocking skips are the controller's):
            # it hands its logs over whenever there is a report, and the controller keeps them
            # only if the run failed.
            self.stop_lab(failed=keep_in is not None, keep_in=keep_in)
            return
        failed = session.exitstatus != pytest.ExitCode.OK
        self.stop_lab(failed=failed, keep_in=keep_in)
        if self.config.pluginmanager.has_plugin("dsession"):
            self._judge_worker_logs(failed)

    def _judge_worker_logs(self, failed: bool) -> None:
        """xdist controller: keep the workers' lab logs beside a failed run's report, else remove
        them (and the folder, if they were all it held)."""
        directory = self._report_directory()
        if directory is not None and directory.is_dir():
            self.worker_lab_logs = judge_worker_logs(directory, keep=failed and self._report_active())
        elif failed and self.lab_session is not None:
            # The workers ran labs and had no report folder to hand their logs to.
            self.worker_logs_dropped = True

    def _report_directory(self) -> Path | None:
        """The folder this run's report is written to (the controller's, under xdist)."""
        directory = getattr(self.config.pluginmanager.get_plugin("cutover-report"), "directory", None)
        return directory if isinstance(directory, Path) else None

    def _report_active(self) -> bool:
        """Whether this run writes a report (its folder then exists by the session's end)."""
        return bool(getattr(self.config.pluginmanager.get_plugin("cutover-report"), "active", False))

    def _lab_logs_folder(self) -> Path | None:
        """Where a failed run copies its lab's logs: beside its report (`lab/`, or `lab-gw0/` from
        an xdist worker, in the folder its controller writes)."""
        worker_input = getattr(self.config, "workerinput", None)
        if worker_input is not None:
            folder = worker_input.get("cutover_report_dir")
            return Path(folder) / f"lab-{worker_input['workerid']}" if folder else None
        directory = self._report_directory()
        return directory / "lab" if directory is not None and self._report_active() else None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist: each worker learns the folder its controller's report goes to."""
        directory = self._report_directory()
        if directory is not None:
            node.workerinput["cutover_report_dir"] = str(directory)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        kept = [self.lab_logs] if self.lab_logs is not None else []
        for folder in kept + self.worker_lab_logs:
            terminalreporter.write_line(f"cutover: the run failed; the lab's logs and configurations: {folder}")
        if self.worker_logs_dropped or (self.lab_session is not None and self.lab_session.logs_dropped):
            terminalreporter.write_line(f"cutover: the run failed; {LOGS_NOT_KEPT}")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.stop_lab()

    # -- running ---------------------------------------------------------------------
    def outcome_of(self, case: Case) -> Outcome:
        return self.scheduler.outcome_of(case, self.context)

    def _terminal_is_tty(self) -> bool | None:
        """Whether the terminal reporter writes to a TTY; None without one."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        return None if reporter is None else bool(getattr(reporter, "isatty", False))

    def record(self, nodeid: str, case: Case, outcome: Outcome | None) -> CheckRecord:
        record = CheckRecord.of(case, outcome, self.targets.redact_headers)
        self.records[nodeid] = record
        return record

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """Every cutover check's report carries its record (an xdist worker's too)."""
        outcome = yield
        report = outcome.get_result()
        case = case_of(item)
        if case is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
            return
        record = self.records.get(item.nodeid) or CheckRecord.of(case)
        report.user_properties.append(record.to_property())


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
    parity = parity_modules()
    if isinstance(case_value, Case) and case_value.info.kind in parity and case_value.runner is not None:
        request.getfixturevalue("cutover_lab")  # parity checks need the endpoints up

    def check(case: Case) -> Outcome:
        __tracebackhide__ = True
        if case.skip_reason is not None:
            plugin.record(request.node.nodeid, case, None)
            pytest.skip(case.skip_reason)
        if plugin.preflight_problems and case.runner is not None and case.info.kind in parity:
            raise PreflightError("; ".join(plugin.preflight_problems))
        outcome = plugin.outcome_of(case)
        plugin.record(request.node.nodeid, case, outcome)
        if outcome.baseline is not None:
            raise BaselineError(case, outcome)
        if outcome.failures:
            plugin.records[request.node.nodeid].parity_failed = True
            raise ParityFailure(case, outcome)
        if outcome.not_run is not None:
            pytest.skip(f"not run: {case.id}: {outcome.not_run}")
        return outcome

    return check
