"""cutover's pytest plugin: options, markers, the lab session, and the check fixtures.

The only pytest-facing module: tests_migration/ modules declare `CHECK_KIND` and one test
taking `cutover_case` and `cutover_check`; everything else lives in the package.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cutover.checks import CHECK_MODULES, Case, Outcome, ParityFailure, ProbeContext
from cutover.errors import CutoverError
from cutover.lab import PROFILES, Lab, LabOptions
from cutover.lab.faults import FAULTS
from cutover.paths import default_manifests
from cutover.targets import Targets, load_targets, parse_targets

__all__ = ["CutoverPlugin", "CutoverWarning"]

WAVE_MARKERS = range(1, 10)
CHECK_MARKERS = {
    "paths": "path matching parity (trailing slash, prefix, regex, case)",
    "timeouts": "requests slower than 15 s succeed on both sides",
    "sse": "SSE streams complete, in order, unbuffered",
    "source_ip": "client source IP and allowlist parity",
    "backend_tls": "TLS to the backend (BackendTLSPolicy or option B)",
    "redirects": "HTTP to HTTPS redirects",
    "headers": "response and upstream request headers",
}
OTHER_MARKERS = {
    "load": "concurrent load parity (run only when asked)",
    "phase0": "cluster inventory checks",
    "phase1": "Gateway API readiness checks",
    "coverage": "Ingress to HTTPRoute coverage checks",
    "phase3": "decommission checks",
    "soak": "Hubble soak checks",
    "k8s": "pytest-kubernetes cluster fixture (registered so --strict-markers holds)",
}


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
    parser.addini("cutover_targets", "targets YAML used when --targets is not given", default="")
    parser.addini("cutover_manifests", "manifests directory for the embedded lab", default="")
    parser.addini("cutover_attempts", "consecutive agreeing attempts before judging", default="3")


def pytest_configure(config: pytest.Config) -> None:
    for wave in WAVE_MARKERS:
        config.addinivalue_line("markers", f"wave{wave}: checks of services migrating in wave {wave}")
    for name, text in {**CHECK_MARKERS, **OTHER_MARKERS}.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if not config.pluginmanager.has_plugin("cutover-session"):
        config.pluginmanager.register(CutoverPlugin(config), "cutover-session")


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

    def context(self) -> ProbeContext:
        return ProbeContext(self.targets, attempts=self.attempts, max_attempts=self.attempts + 5)

    # -- collection ----------------------------------------------------------------
    @pytest.hookimpl
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "cutover_case" not in metafunc.fixturenames:
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

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        cases = [_case_of(item) for item in session.items]
        wanted = [case for case in cases if case is not None and case.runner is not None]
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
        self.records[nodeid] = {
            "id": case.id,
            "service": case.service.name,
            "wave": case.service.wave,
            "kind": case.info.kind,
            "probe": case.probe,
            "skipped": skipped,
            "differences": [d.to_dict() for d in outcome.differences] if outcome else [],
            "evidence": outcome.evidence if outcome else {},
            "attempts": outcome.attempts if outcome else 0,
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
def cutover_check(request: pytest.FixtureRequest, cutover_lab: Lab | None) -> Any:
    """Run one case (or collect its prefetched outcome), record the evidence, judge it."""
    plugin = _plugin(request.config)

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
            raise ParityFailure(case, outcome)
        return outcome

    return check
