"""Fixtures for cutover's own tests: labs started once per configuration, real processes."""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from cutover.lab import Lab, LabOptions
from cutover.probe import Endpoint, ProbeResult, fetch
from cutover.targets import Targets, parse_targets

# The README's `pytest tests -n 3 --dist loadgroup`: the tests that share a module-scoped fixture run
# on one worker (tests/xdist_groups.py).
from tests.xdist_groups import pytest_collection_modifyitems, pytest_xdist_make_scheduler  # noqa: F401

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
METALKUBE = ROOT / "fixtures" / "metalkube"
CORRECTED = ROOT / "fixtures" / "metalkube-corrected"
OFFICE = "127.0.10.5"
OUTSIDE = "127.0.99.5"


def _keep_bytecode_outside_the_checkout() -> None:
    """The suite starts well over a hundred Python processes (pytest runs, xdist workers, lab
    backends); without a bytecode cache each compiles cutover and has pytest rewrite its modules
    again (about 0.6 CPU-s a pytest run). Cache it under a temporary prefix that every process of
    this run shares and that is removed at exit: never in the checkout, and also where the
    environment sets PYTHONDONTWRITEBYTECODE (nothing outlives the run)."""
    if os.environ.get("PYTHONPYCACHEPREFIX"):
        return  # set by the user, or by the process that started this one (an xdist worker)
    prefix = tempfile.mkdtemp(prefix="cutover-test-pycache-")
    atexit.register(shutil.rmtree, prefix, True)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


_keep_bytecode_outside_the_checkout()

# The pytest plugins of kmock and anyio serve no test here and cost each pytest process about
# 0.3 CPU-s. pyproject.toml blocks them for runs in the checkout; runs elsewhere (another working
# directory) read this variable, and pytester's runs, which clear it, take the arguments.
UNUSED_PLUGINS = ("-p", "no:kmock", "-p", "no:anyio")
if "no:kmock" not in os.environ.get("PYTEST_ADDOPTS", ""):
    os.environ["PYTEST_ADDOPTS"] = " ".join((os.environ.get("PYTEST_ADDOPTS", ""), *UNUSED_PLUGINS)).strip()

_REPORTS: list[Path] = []


def _scratch_reports() -> Path:
    """Where runs without a --report-dir of their own write: never the checkout's reports/."""
    if not _REPORTS:
        _REPORTS.append(Path(tempfile.mkdtemp(prefix="cutover-test-reports-")))
    return _REPORTS[0]


@pytest.fixture(scope="session", autouse=True)
def _remove_scratch_reports() -> Iterator[None]:
    # At the session's end, not at exit: xdist workers leave without running atexit handlers.
    yield
    for directory in _REPORTS:
        shutil.rmtree(directory, ignore_errors=True)
    _REPORTS.clear()


def run_checks(*args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pytest tests_migration ...` in a fresh process from the project root, as a user runs it."""
    if "--report-dir" not in args and "--no-go-report" not in args:
        args = (*args, "--report-dir", str(_scratch_reports()))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests_migration", "-p", "no:cacheprovider", "-q", "-rf", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@functools.cache
def bench_estate() -> ModuleType:
    """bench/estate.py (its generator: write_estate, service_name, namespace_of), imported by path:
    bench/ is not a package."""
    spec = importlib.util.spec_from_file_location("cutover_bench_estate", ROOT / "bench" / "estate.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


class RunningLab:
    """A started lab and a way to send one request through either side."""

    def __init__(self, lab: Lab, targets: Targets) -> None:
        self.lab = lab
        self.targets = targets

    @property
    def nginx(self) -> Endpoint:
        return self.targets.nginx

    @property
    def gateway(self) -> Endpoint:
        return self.targets.gateway

    def get(self, side: str, host: str, path: str, **kwargs: Any) -> ProbeResult:
        kwargs.setdefault("source", OFFICE)
        kwargs.setdefault("ca_bundle", self.targets.ca_bundle)
        kwargs.setdefault("timeout", 10.0)
        return fetch(self.targets.endpoints[side], host, path, **kwargs)


@pytest.fixture(scope="session")
def start_lab() -> Iterator[Callable[..., RunningLab]]:
    """Start (once per configuration) an attached lab; every lab is stopped at the end."""
    started: dict[tuple[Any, ...], RunningLab] = {}
    directories: list[Path] = []

    def start(manifests: Path = METALKUBE, profile: str | None = None, faults: tuple[str, ...] = ()) -> RunningLab:
        key = (str(manifests), profile, faults)
        if key not in started:
            state = Path(tempfile.mkdtemp(prefix="cutover-test-lab-"))
            directories.append(state)
            lab = Lab(
                LabOptions(manifests=manifests, state_dir=state, profile=profile, faults=list(faults), detach=False)
            )
            targets = parse_targets(lab.prepare())
            layout = lab.layout
            lab.start()
            if lab.layout is not layout:  # a taken port made the lab choose its ports again
                targets = parse_targets(lab.targets())
            started[key] = RunningLab(lab, targets)
        return started[key]

    yield start
    for running in started.values():
        running.lab.stop_started()
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


# The corrected fixture's llm-gateway streams and load, scaled down for self-tests: the same
# checks and mechanisms as the main job's 18 s stream and 10 s load, in a few seconds each.
QUICK_LLM_GATEWAY = {
    "sse": {
        "streams": [
            {"name": "long", "events": 6, "interval": 1.0},
            {"name": "gap", "events": 4, "interval": 0.5, "gap_after": 2, "gap": 3.0},
        ],
        # 150 short requests: a tenth failing is missed by all of them with probability 0.9**150 < 2e-7.
        # The latency slack is wide: these runs are about errors, backends and the baseline, on a shared machine.
        "load": {
            "streams": 10,
            "rate": 50.0,
            "duration": 3.0,
            "request_connections": 2,
            "stream": {"events": 4, "interval": 0.25},
            "tolerance": {"ratio": 0.2, "ms": 500.0, "error_rate": 0.0},
        },
    }
}


def quick_copy(manifests: Path, directory: Path) -> Path:
    """A copy of manifests whose overlay (cutover.yaml) gives llm-gateway the short streams and load above."""
    shutil.copytree(manifests, directory)
    overlay_path = directory / "cutover.yaml"
    overlay = yaml.safe_load(overlay_path.read_text()) if overlay_path.exists() else {}
    overlay.setdefault("services", {})["llm-gateway"] = QUICK_LLM_GATEWAY
    overlay_path.write_text(yaml.safe_dump(overlay))
    return directory


@pytest.fixture(scope="session")
def quick_corrected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fixtures/metalkube-corrected with llm-gateway's streams and load of a few seconds."""
    return quick_copy(CORRECTED, tmp_path_factory.mktemp("quick") / "metalkube-corrected")


@pytest.fixture(scope="session")
def metalkube_lab(start_lab: Callable[..., RunningLab]) -> RunningLab:
    return start_lab(METALKUBE)
