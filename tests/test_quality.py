"""Lint and types as part of the test run: ruff on everything, mypy strict on src/."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_ruff() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "tests", "tests_migration", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_mypy_strict_on_the_package() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_public_names_are_locked() -> None:
    import cutover
    import cutover.lab
    import cutover.probe
    import cutover.report

    assert cutover.__all__ == [
        "CutoverError",
        "InputError",
        "LabError",
        "ManifestSet",
        "PortBusyError",
        "ToolMissingError",
        "__version__",
        "load_manifests",
    ]
    assert sorted(cutover.probe.__all__) == ["Endpoint", "ProbeResult", "fetch"]
    assert "Lab" in cutover.lab.__all__ and "render_page" in cutover.report.__all__
