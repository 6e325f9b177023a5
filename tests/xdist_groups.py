"""xdist scheduling for cutover's own tests, imported by tests/conftest.py (and by the test of it,
tests/test_xdist_scheduling.py, which is why it imports nothing of cutover)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

# -- xdist: one worker per module-scoped setup ---------------------------------------------------
# Under `pytest tests -n 3 --dist loadgroup` (the README's test command), the tests that share a
# module-scoped fixture (a lab of their own, a batch of runs) go to one worker, so that fixture runs
# once; every other test is scheduled on its own. xdist 3.8 passes a test's group to its scheduler
# by appending it to the nodeid, which pytest 9.2 no longer lets a plugin change (the suffix is
# silently dropped: pytest-dev/pytest-xdist#1386), so the workers hand their groups over in a file
# and the scheduler below reads them; explicit `xdist_group` marks count as before.
_GROUPS_ENV = "CUTOVER_TEST_XDIST_GROUPS"
if not os.environ.get(_GROUPS_ENV):  # the workers inherit the controller's
    _groups_dir = tempfile.mkdtemp(prefix="cutover-test-xdist-groups-")
    atexit.register(shutil.rmtree, _groups_dir, True)
    os.environ[_GROUPS_ENV] = _groups_dir


def xdist_group(item: pytest.Item) -> str | None:
    """The group a test is scheduled with: its xdist_group mark, else its module when it uses a
    module-scoped fixture, else none."""
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    fixture_info = getattr(item, "_fixtureinfo", None)
    definitions = fixture_info.name2fixturedefs.values() if fixture_info is not None else []
    if any(d.scope == "module" for defs in definitions for d in defs):
        return item.nodeid.split("::")[0]
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Only in a worker (not in a pytest a test started from one, which inherits its environment);
    # xdist sets a worker's own --dist to "no" and keeps "loadgroup" as this flag.
    worker_input, directory = getattr(config, "workerinput", None), os.environ.get(_GROUPS_ENV)
    if worker_input is None or not directory or not getattr(config.option, "loadgroup", False):
        return
    worker = worker_input["workerid"]
    groups = {item.nodeid: group for item in items if (group := xdist_group(item)) is not None}
    staging = Path(directory) / f".{worker}.json"
    staging.write_text(json.dumps(groups))
    staging.rename(Path(directory) / f"{worker}.json")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist", "no") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleSetupScheduling(LoadGroupScheduling):
        """loadgroup, with the groups the workers wrote (they have collected before any test is scheduled)."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = {}
                for path in Path(os.environ[_GROUPS_ENV]).glob("gw*.json"):
                    self.groups.update(json.loads(path.read_text()))
            group = self.groups.get(nodeid)
            return f"group {group}" if group is not None else str(super()._split_scope(nodeid))

    return ModuleSetupScheduling(config, log)
