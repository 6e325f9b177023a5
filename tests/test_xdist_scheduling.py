"""The README's `pytest tests -n 3 --dist loadgroup`: tests that share a module-scoped fixture run
on one worker, so the fixture is set up once, while the other tests spread over both workers
(tests/xdist_groups.py; xdist's own grouping is lost under pytest 9.2, pytest-dev/pytest-xdist#1386)."""

from __future__ import annotations

import os
import re

import pytest

from tests.conftest import ROOT

SUITE = """
import os
import time

import pytest


@pytest.fixture(scope="module")
def shared_setup():
    with open("setups.txt", "a") as log:
        log.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")


@pytest.mark.parametrize("n", range(6))
def test_shared(shared_setup, n):
    time.sleep(0.1)


@pytest.mark.parametrize("n", range(6))
def test_alone(n):
    time.sleep(0.3)
"""


def _workers(output: str, test: str) -> set[str]:
    return set(re.findall(rf"^\[(gw\d)\] .*PASSED test_suite\.py::{test}\[", output, re.MULTILINE))


@pytest.mark.parametrize("dist", ["loadgroup", "load"])
def test_a_module_scoped_setup_runs_once(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dist: str) -> None:
    # The inner run gets its own groups directory, and imports the hooks from this checkout.
    monkeypatch.setenv("CUTOVER_TEST_XDIST_GROUPS", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    pytester.makeconftest("from tests.xdist_groups import pytest_collection_modifyitems, pytest_xdist_make_scheduler\n")
    pytester.makepyfile(test_suite=SUITE)
    # A plain suite: the plugins this project's runs load (cutover, kmock, ...) are not needed here.
    plugins = [f"-pno:{name}" for name in ("cutover", "kmock", "kubernetes", "anyio", "asyncio", "html", "metadata")]
    result = pytester.runpytest_subprocess("-n", "2", "--dist", dist, "-v", "-p", "no:cacheprovider", *plugins)
    result.assert_outcomes(passed=12)
    output = result.stdout.str()
    setups = (pytester.path / "setups.txt").read_text().split()
    if dist == "loadgroup":
        assert len(setups) == 1 and _workers(output, "test_shared") == set(setups), output
        assert _workers(output, "test_alone") == {"gw0", "gw1"}, output
    else:
        # The control: without the grouping, the shared tests spread and the setup runs on each worker.
        assert sorted(setups) == ["gw0", "gw1"], output
