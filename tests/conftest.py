"""Fixtures for cutover's own tests: labs started once per configuration, real processes."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.lab import Lab, LabOptions
from cutover.probe import Endpoint, ProbeResult, fetch
from cutover.targets import Targets, parse_targets

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
METALKUBE = ROOT / "fixtures" / "metalkube"
CORRECTED = ROOT / "fixtures" / "metalkube-corrected"
OFFICE = "127.0.10.5"
OUTSIDE = "127.0.99.5"


_REPORTS: list[Path] = []


def _scratch_reports() -> Path:
    """Where runs without a --report-dir of their own write: never the checkout's reports/."""
    if not _REPORTS:
        _REPORTS.append(Path(tempfile.mkdtemp(prefix="cutover-test-reports-")))
        atexit.register(shutil.rmtree, _REPORTS[0], True)
    return _REPORTS[0]


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
            lab.start()
            started[key] = RunningLab(lab, targets)
        return started[key]

    yield start
    for running in started.values():
        running.lab.stop_started()
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def metalkube_lab(start_lab: Callable[..., RunningLab]) -> RunningLab:
    return start_lab(METALKUBE)
