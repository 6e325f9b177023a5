"""`cutover lab up / status / down` and bad input: one line, exit 2, nothing left running."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cutover.lab.process import ManagedProcess, alive
from tests.conftest import CORRECTED, METALKUBE, ROOT

CUTOVER = [sys.executable, "-m", "cutover.cli"]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CUTOVER, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})}
    )


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z" and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def test_up_status_down_leaves_no_process(tmp_path: Path) -> None:
    state = tmp_path / "lab"
    up = run("lab", "up", "--state", str(state), "--manifests", str(METALKUBE))
    assert up.returncode == 0, up.stderr
    assert "targets:" in up.stdout
    recorded = [ManagedProcess(**p) for p in json.loads((state / "state.json").read_text())["processes"]]
    # One process serves every Service's probe backend.
    assert sorted(p.name for p in recorded) == ["backends", "envoy", "nginx"]
    try:
        # The processes outlive the command that started them.
        assert all(alive(p) for p in recorded)
        status = run("lab", "status", "--state", str(state))
        assert status.returncode == 0 and "NOT RUNNING" not in status.stdout
        assert (state / "targets.yaml").is_file()
    finally:
        down = run("lab", "down", "--state", str(state))
    assert down.returncode == 0, down.stderr
    assert not any(alive(p) for p in recorded), "a lab process survived `cutover lab down`"
    assert processes_mentioning(str(state)) == []
    assert run("lab", "status", "--state", str(state)).returncode == 1


def test_second_up_on_the_same_state_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "lab"
    assert run("lab", "up", "--state", str(state), "--manifests", str(CORRECTED)).returncode == 0
    try:
        again = run("lab", "up", "--state", str(state))
        assert again.returncode == 2
        assert "already running" in again.stderr
    finally:
        run("lab", "down", "--state", str(state))


MISSING_FIELD = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: web}
spec:
  listeners: [{name: http, port: 80, protocol: HTTP}]
"""


WRONG_TYPE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: web}
spec:
  gatewayClassName: cilium
  listeners:
    - {name: http, port: 80, protocol: HTTP}
    - {name: other, port: eighty, protocol: HTTP}
"""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("kind: [unclosed\n", ["bad.yaml", "is not valid YAML at line"]),
        (MISSING_FIELD, ["bad.yaml", "Gateway web/gw", "spec.gatewayClassName", "is missing"]),
        (WRONG_TYPE, ["bad.yaml:8: Gateway web/gw: spec.listeners[1].port: must be a port number"]),
    ],
    # A route naming an unknown Gateway is refused by Cilium, not a broken folder: see
    # tests/test_gateway_references.py::test_a_route_naming_an_unknown_gateway_is_refused_alone.
    ids=["invalid-yaml", "missing-field", "wrong-type"],
)
def test_bad_manifests(tmp_path: Path, content: str, expected: list[str]) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "bad.yaml").write_text(content)
    state = tmp_path / "state"
    result = run("lab", "up", "--manifests", str(manifests), "--state", str(state))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in expected:
        assert fragment in lines[0]
    assert processes_mentioning(str(state)) == []


def test_unknown_profile(tmp_path: Path) -> None:
    result = run("lab", "up", "--profile", "cilium-0.9", "--state", str(tmp_path))
    assert result.returncode == 2 and "invalid choice: 'cilium-0.9'" in result.stderr


def test_busy_port(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run("lab", "up", "--ports", str(port), "--state", str(tmp_path / "state"))
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is busy" in result.stderr
    assert processes_mentioning(str(tmp_path / "state")) == []


@pytest.mark.parametrize("tool", ["nginx", "envoy"])
def test_tool_not_installed(tmp_path: Path, tool: str) -> None:
    result = run(
        "lab", "up", "--state", str(tmp_path / "state"), env={f"CUTOVER_{tool.upper()}": "/nonexistent/" + tool}
    )
    assert result.returncode == 2
    assert f"{tool} is not installed" in result.stderr
    assert processes_mentioning(str(tmp_path / "state")) == []


def test_attached_lab_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """The pytest fixture's lab cannot outlive a crashed session (PR_SET_PDEATHSIG)."""
    script = textwrap.dedent(
        f"""
        import json, sys, time
        from pathlib import Path
        from cutover.lab import Lab, LabOptions
        lab = Lab(LabOptions(manifests=Path({str(METALKUBE)!r}), state_dir=Path({str(tmp_path)!r}), detach=False))
        lab.prepare(); lab.start()
        print(json.dumps([p.to_dict() for p in lab.processes]), flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert parent.stdout is not None
    recorded = [ManagedProcess(**p) for p in json.loads(parent.stdout.readline())]
    assert all(alive(p) for p in recorded)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in recorded):
        time.sleep(0.1)
    assert [p.name for p in recorded if alive(p)] == []


def test_interrupted_pytest_run_stops_its_lab(tmp_path: Path) -> None:
    """Ctrl-C during `pytest -m wave2` leaves no lab process behind."""
    state = tmp_path / "lab"
    output = tmp_path / "output.txt"
    run_checks = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests_migration",
            "-m",
            "wave2 and timeouts",
            "--lab-state",
            str(state),
            "--report-dir",
            str(tmp_path / "reports"),
            "-q",
        ],
        cwd=ROOT,
        stdout=output.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(processes_mentioning(str(state))) < 3:
        time.sleep(0.1)
    assert processes_mentioning(str(state)), "the lab did not start"
    time.sleep(1.0)
    run_checks.send_signal(signal.SIGINT)
    try:
        run_checks.wait(timeout=30)
    except subprocess.TimeoutExpired:
        run_checks.kill()
        run_checks.wait()
        pytest.fail(f"the run did not exit within 30 s of Ctrl-C; it printed:\n{output.read_text()[-3000:]}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and processes_mentioning(str(state)):
        time.sleep(0.1)
    assert processes_mentioning(str(state)) == []


def test_a_wrong_typed_overlay_setting_is_one_line_with_its_line(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    overlay = manifests / "cutover.yaml"
    overlay.write_text(overlay.read_text().replace("lab:\n", "lab:\n  stream_idle_timeout: five minutes\n", 1))
    line = overlay.read_text().splitlines().index("  stream_idle_timeout: five minutes") + 1
    state = tmp_path / "state"
    result = run("lab", "up", "--manifests", str(manifests), "--state", str(state))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"cutover: error: {overlay}:{line}: overlay: lab.stream_idle_timeout: "
        "must be a number of seconds >= 0, got 'five minutes'"
    )
    assert processes_mentioning(str(state)) == []
