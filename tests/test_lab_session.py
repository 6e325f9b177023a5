"""The lab of a pytest run leaves nothing behind: its folder (with the lab's private keys) is
removed, a failed run keeps its logs and configurations beside its report, without the keys,
and names them, and `--lab-state` keeps the whole folder, one per xdist worker."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cutover.plugin import LOGS_NOT_KEPT
from tests.conftest import CORRECTED, METALKUBE, run_checks

NAMED = re.compile(r"^cutover: the run failed; the lab's logs and configurations: (\S+)$", re.MULTILINE)


@pytest.fixture
def temp(tmp_path: Path) -> Path:
    """The temporary directory of the run under test, to see what it leaves there."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    return directory


def run_in(temp: Path, manifests: Path, selection: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A cutover run on the lab of `manifests`, its temporary directory `temp`."""
    return run_checks("--manifests", str(manifests), "-m", selection, *args, env={"TMPDIR": str(temp), **env})


def left_in(temp: Path) -> list[Path]:
    """cutover's folders in the temporary directory (pytest under xdist makes its own there)."""
    return [p for p in temp.iterdir() if p.name.startswith("cutover")]


def keys_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix in (".key", ".pem") or "PRIVATE KEY" in _text(p)]


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def test_a_go_run_leaves_no_lab_folder(tmp_path: Path, temp: Path) -> None:
    reports = tmp_path / "reports"
    result = run_in(temp, CORRECTED, "wave1 and redirects", "--report-dir", str(reports))
    assert result.returncode == 0, result.stdout[-2000:]
    assert left_in(temp) == []
    assert not list(reports.glob("*/lab*")) and NAMED.search(result.stdout) is None


def test_a_failed_run_keeps_the_logs_beside_its_report_without_the_keys(tmp_path: Path, temp: Path) -> None:
    # The plan as written: no redirect route for llm-gateway and qdrant, so the run is NO-GO.
    reports = tmp_path / "reports"
    result = run_in(temp, METALKUBE, "wave2 and redirects", "--report-dir", str(reports))
    assert result.returncode == 1, result.stdout[-2000:]
    [run] = [p for p in reports.iterdir() if p.name != "latest"]
    named = NAMED.search(result.stdout)
    assert named is not None and Path(named.group(1)) == run / "lab", result.stdout[-2000:]
    kept = run / "lab"
    for name in ("logs/envoy.log", "logs/nginx.log", "nginx/nginx.conf", "nginx/access.log", "envoy/envoy.yaml"):
        assert (kept / name).is_file(), name
    # The nginx access log holds the failing probe: the logs explain the finding.
    assert "/cutover-redirect" in (kept / "nginx" / "access.log").read_text()
    assert keys_in(kept) == [] and not (kept / "pki").exists()
    assert left_in(temp) == []


def test_without_a_report_nothing_stays_and_the_run_says_how_to_keep_the_logs(temp: Path) -> None:
    result = run_in(temp, METALKUBE, "wave2 and redirects", "--no-go-report")
    assert result.returncode == 1, result.stdout[-2000:]
    assert left_in(temp) == [] and NAMED.search(result.stdout) is None
    assert "cutover: the run failed; the lab's logs were not kept (no report folder): rerun with --lab-state DIR" in (
        result.stdout
    )


def test_a_lab_that_does_not_start_names_its_logs(tmp_path: Path, temp: Path) -> None:
    # An Envoy that exits at once: the error names the log, which can still be read after the run.
    result = run_in(
        temp, CORRECTED, "wave1 and redirects", "--report-dir", str(tmp_path / "reports"), CUTOVER_ENVOY="/bin/false"
    )
    assert result.returncode not in (0, 1)
    [line] = [line for line in result.stderr.splitlines() if line.startswith("ERROR: envoy exited during start-up")]
    [run] = list((tmp_path / "reports").iterdir())
    assert line.endswith(f"(the lab's logs and configurations: {run / 'lab'})")
    assert (run / "lab" / "logs" / "envoy.stdout.log").is_file() and keys_in(run / "lab") == []
    assert left_in(temp) == []


def test_xdist_workers_keep_their_logs_beside_the_controllers_report(tmp_path: Path, temp: Path) -> None:
    reports = tmp_path / "reports"
    result = run_in(temp, METALKUBE, "wave2 and redirects", "-n", "2", "--report-dir", str(reports))
    assert result.returncode == 1, result.stdout[-2000:]
    [run] = [p for p in reports.iterdir() if p.name != "latest"]
    kept = sorted(run.glob("lab-gw*"))
    # Each worker with a failure keeps its lab's logs; the controller names them.
    assert kept and [Path(m) for m in NAMED.findall(result.stdout)] == kept, result.stdout[-2000:]
    assert all((folder / "logs" / "envoy.log").is_file() and keys_in(folder) == [] for folder in kept)
    assert left_in(temp) == []


def test_lab_state_keeps_the_whole_folder_one_per_worker(tmp_path: Path, temp: Path) -> None:
    state = tmp_path / "state"
    result = run_in(
        temp,
        METALKUBE,
        "wave2 and redirects",
        "-n",
        "2",
        "--lab-state",
        str(state),
        "--report-dir",
        str(tmp_path / "reports"),
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert sorted(p.name for p in state.iterdir()) == ["gw0", "gw1"]
    assert all((state / worker / "pki" / "ca.pem").is_file() for worker in ("gw0", "gw1"))
    assert left_in(temp) == []


def test_xdist_go_with_a_waived_finding_keeps_no_logs(tmp_path: Path, temp: Path) -> None:
    # The worker sees its test fail; only the controller applies the waiver and says GO.
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    overlay = yaml.safe_load((manifests / "cutover.yaml").read_text())
    overlay["waivers"] = [
        {"check": "redirects", "service": "grafana", "owner": "o", "reason": "r", "expires": "2099-06-30"}
    ]
    (manifests / "cutover.yaml").write_text(yaml.safe_dump(overlay))
    reports = tmp_path / "reports"
    result = run_in(
        temp,
        manifests,
        "wave1 and redirects",
        "-k",
        "grafana",
        "--fault",
        "no-redirect-route",
        "-n",
        "2",
        "--report-dir",
        str(reports),
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "cutover: GO" in result.stdout and "the run failed" not in result.stdout
    assert not list(reports.glob("*/lab*")) and left_in(temp) == []


def test_xdist_without_a_report_says_the_logs_were_not_kept(temp: Path) -> None:
    result = run_in(temp, METALKUBE, "wave2 and redirects", "-n", "2", "--no-go-report")
    assert result.returncode == 1, result.stdout[-2000:]
    assert f"cutover: the run failed; {LOGS_NOT_KEPT}" in result.stdout
    assert left_in(temp) == []
