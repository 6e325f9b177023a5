"""No GO without evidence: the verdict holds whatever pytest's rootdir and working directory,
an interrupted or empty run never leaves a GO behind, reviewed differences count as waived,
cluster checks need a cluster source, and what the lab cannot model is "not verified"."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.errors import InputError
from cutover.targets import parse_targets
from tests.conftest import CORRECTED, ROOT, RunningLab

PYTEST = str(Path(sys.executable).parent / "pytest")


def run_from(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`<venv>/bin/pytest ARGS` started in `cwd`, as a user types it."""
    return subprocess.run(
        [PYTEST, "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def summaries(reports: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(reports.glob("*/summary.json")) if p.parent.name != "latest"]


@pytest.fixture(scope="module")
def corrected_targets(start_lab: Callable[..., RunningLab], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A targets file for a running lab of the corrected fixture, as a user would hand it in."""
    running = start_lab(CORRECTED)
    path = tmp_path_factory.mktemp("targets") / "staging.yaml"
    path.write_text(yaml.safe_dump(running.lab.targets()))
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory outside the checkout, with nothing of cutover's in it."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


# -- 1. the verdict does not depend on pytest's rootdir ---------------------------------------------
def test_targets_file_outside_the_checkout_still_gives_a_verdict(corrected_targets: Path, outside: Path) -> None:
    # The README's staging form: a space-separated, absolute --targets outside the checkout.
    result = run_from(outside, "-m", "wave1 and redirects", "--targets", str(corrected_targets))
    assert result.returncode == 0, result.stdout[-3000:]
    lines = result.stdout.splitlines()
    assert any(line.startswith("cutover: GO - all ") for line in lines[-3:]), lines[-8:]
    [summary] = summaries(outside / "reports")
    assert summary["verdict"] == "GO" and summary["complete"] is True
    assert (outside / "reports" / "latest" / "go-no-go.html").is_file()
    assert {c["service"] for c in summary["checks"]} == {"grafana", "mlflow", "ml-serving"}


def test_readme_main_command_from_another_directory(outside: Path) -> None:
    # Command 1 of the README with absolute paths, from a directory outside the checkout. The
    # selection is narrowed with -k only to keep the long probes out of the self-tests.
    command = f"{ROOT}/scripts/setup.sh && {ROOT}/.venv/bin/pytest -m wave2 -k 'not sse and not timeouts'"
    if not (ROOT / ".venv" / "bin" / "pytest").exists():
        pytest.skip("Skipping: the checkout has no .venv (scripts/setup.sh was not run here)")
    checkout_reports = sorted((ROOT / "reports").iterdir())
    result = subprocess.run(["bash", "-c", command], cwd=outside, capture_output=True, text=True, timeout=600)
    # The plan as written: NO-GO for the right reasons, exit 1, and a complete report here.
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    [summary] = summaries(outside / "reports")
    assert summary["verdict"] == "NO-GO" and summary["complete"] is True
    failed = {(c["service"], c["kind"]) for c in summary["checks"] if c["outcome"] == "failed"}
    assert ("qdrant", "source_ip") in failed and ("llm-gateway", "redirects") in failed
    assert summary["lab_profile"] == "cilium-1.17"
    assert "cutover: NO-GO" in result.stdout
    assert sorted((ROOT / "reports").iterdir()) == checkout_reports


def test_manifests_outside_the_checkout(outside: Path) -> None:
    manifests = outside.parent / "gitops"
    shutil.copytree(CORRECTED, manifests)
    result = run_from(outside, "-m", "wave1 and paths", "--manifests", str(manifests))
    assert result.returncode == 0, result.stdout[-3000:]
    [summary] = summaries(outside / "reports")
    # The attached report names the folder, not this machine's absolute layout.
    assert summary["verdict"] == "GO" and "manifests gitops," in summary["environment"]


def test_other_directory_without_cutover_options_is_left_alone(outside: Path) -> None:
    # A plain pytest run elsewhere is not hijacked: cutover only collects its suite for a cutover run.
    (outside / "test_mine.py").write_text("def test_mine():\n    assert True\n")
    result = run_from(outside, "-q")
    assert result.returncode == 0 and "1 passed" in result.stdout
    assert not (outside / "reports").exists()


# -- 2 and 3. incomplete runs ------------------------------------------------------------------------
def _interrupt_after(seconds: float, reports: Path, cwd: Path) -> tuple[int, str]:
    process = subprocess.Popen(
        [
            PYTEST,
            "-p",
            "no:cacheprovider",
            "tests_migration",
            "-m",
            "wave2",
            "--manifests",
            str(CORRECTED),
            "--report-dir",
            str(reports),
        ],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # The test runner may ignore SIGINT; the run under test must see Ctrl-C as a user's would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(seconds)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    return process.returncode, output


@pytest.mark.parametrize("seconds", [0.5, 2.5, 6.0, 11.0])
def test_an_interrupted_run_never_leaves_a_go(tmp_path: Path, seconds: float) -> None:
    reports = tmp_path / "reports"
    code, output = _interrupt_after(seconds, reports, ROOT)
    assert code != 0
    assert "cutover: GO" not in output
    for summary in summaries(reports):
        assert summary["verdict"] == "NO-GO" and summary["complete"] is False, summary["reason"]
        assert summary["reason"].startswith("the run is incomplete")
    assert not (reports / "latest").exists()


def _complete_go(reports: Path) -> dict[str, Any]:
    result = run_from(
        ROOT,
        "tests_migration",
        "-m",
        "wave1 and redirects",
        "--manifests",
        str(CORRECTED),
        "--report-dir",
        str(reports),
    )
    assert result.returncode == 0, result.stdout[-2000:]
    return json.loads((reports / "latest" / "summary.json").read_text())


def test_runs_that_checked_nothing_never_replace_latest(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    before = _complete_go(reports)
    broken = tmp_path / "test_broken.py"
    broken.write_text("def test_broken(:\n")
    common = ("--manifests", str(CORRECTED), "--report-dir", str(reports))
    runs = {
        "an unknown marker": ("tests_migration", "-m", "wave1 and redirect", *common),
        "a marker expression that selects nothing": ("tests_migration", "-m", "wave9", *common),
        "a collection error": ("tests_migration", str(broken), "-m", "wave1 and redirects", *common),
        "a missing manifests folder": (
            "tests_migration",
            "-m",
            "wave1",
            "--manifests",
            str(tmp_path / "missing"),
            "--report-dir",
            str(reports),
        ),
    }
    for what, args in runs.items():
        result = run_from(ROOT, *args)
        assert result.returncode not in (0, 1), f"{what}: {result.stdout[-2000:]}"
        assert "cutover: GO" not in result.stdout, what
        assert json.loads((reports / "latest" / "summary.json").read_text()) == before, what
    incomplete = [s for s in summaries(reports) if not s["complete"]]
    reasons = sorted(s["incomplete_reason"] for s in incomplete)
    # The missing folder stops pytest before anything runs: it writes nothing at all.
    assert len(incomplete) == 3, reasons
    assert reasons[0] == "1 collection error (first: the test session: SyntaxError: invalid syntax)"
    assert reasons[1:] == ["no check was selected", "pytest stopped on a usage error"]
    assert all(s["verdict"] == "NO-GO" for s in incomplete)


def test_missing_manifests_folder_is_one_line(tmp_path: Path) -> None:
    result = run_from(ROOT, "tests_migration", "-m", "wave1", "--manifests", str(tmp_path / "missing"))
    assert result.returncode == 4
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "does not exist" in line]
    assert errors == [f"ERROR: --manifests: {tmp_path / 'missing'} does not exist (give an existing directory)"]
    assert "Traceback" not in result.stdout + result.stderr


def test_a_run_stopped_by_maxfail_is_incomplete(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = run_from(
        ROOT,
        "tests_migration",
        "-m",
        "wave1 and redirects",
        "--manifests",
        str(CORRECTED),
        "--fault",
        "no-redirect-route",
        "-x",
        "--report-dir",
        str(reports),
    )
    assert result.returncode == 1
    [summary] = summaries(reports)
    assert summary["complete"] is False and "selected checks have no result" in summary["incomplete_reason"]
    assert not (reports / "latest").exists()


# -- 4. expected differences and waivers --------------------------------------------------------------
def _targets(service: dict[str, Any], waivers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "endpoints": {"nginx": {"address": "127.0.0.1"}, "gateway": {"address": "127.0.0.1"}},
        "services": [{"name": "grafana", "host": "grafana.example", **service}],
        "waivers": waivers or [],
    }


REVIEWED = {"reason": "reviewed", "owner": "platform", "expires": "2027-01-31"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"reason": "only a reason"}, "expected_differences[0].check: is missing"),
        ({"check": "paths", **REVIEWED}, "expected_differences[0]: names neither a probe nor a field"),
        ({"check": "paths", "probe": "*", "field": "*", **REVIEWED}, "matches every probe and every field"),
        ({"check": "*", "field": "status", **REVIEWED}, "must name one check kind"),
        ({"check": "paths", "field": "status", "reason": "r", "owner": "o"}, "expected_differences[0].expires: is"),
        ({"check": "paths", "field": "status", "reason": "r", "expires": "2027-01-01"}, "[0].owner: is missing"),
    ],
)
def test_expected_differences_must_be_specific_and_reviewed(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_targets(_targets({"expected_differences": [entry]}), "cutover.yaml")
    assert str(caught.value).startswith("cutover.yaml: targets: services[grafana].expected_differences[0]")
    assert message in str(caught.value)


def test_wildcard_only_waiver_is_refused() -> None:
    waiver = {"check": "*", "service": "*", "owner": "o", "reason": "r", "expires": "2027-01-01"}
    with pytest.raises(InputError, match=r"waivers\[0\]: waives every check of every service"):
        parse_targets(_targets({}, [waiver]), "targets.yaml")


def test_unknown_keys_are_named_with_a_suggestion(tmp_path: Path) -> None:
    data = _targets({})
    data["endpoints"]["gateway"]["https_prot"] = 8443
    with pytest.raises(InputError) as caught:
        parse_targets(data, "staging.yaml")
    assert str(caught.value) == (
        "staging.yaml: targets: endpoints.gateway: unknown key 'https_prot'; did you mean 'https_port'?"
    )
    data = _targets({"expected_differences": [{"check": "paths", "feild": "status", **REVIEWED}]})
    with pytest.raises(InputError, match=r"unknown key 'feild'; did you mean 'field'\?"):
        parse_targets(data, "staging.yaml")
    data = {**_targets({}), "ca_bundle": "missing-ca.pem"}
    with pytest.raises(InputError) as caught:
        parse_targets(data, str(tmp_path / "staging.yaml"))
    assert f"ca_bundle: {tmp_path / 'missing-ca.pem'} does not exist" in str(caught.value)


def _manifests_with(tmp_path: Path, overlay_change: Callable[[dict[str, Any]], None]) -> Path:
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    overlay_path = manifests / "cutover.yaml"
    overlay = yaml.safe_load(overlay_path.read_text())
    overlay_change(overlay)
    overlay_path.write_text(yaml.safe_dump(overlay))
    return manifests


def test_reviewed_differences_are_waived_not_passed(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = run_from(
        ROOT, "tests_migration", "-m", "paths and wave1", "--manifests", str(CORRECTED), "--report-dir", str(reports)
    )
    assert result.returncode == 0, result.stdout[-2000:]
    [summary] = summaries(reports)
    waived = [c for c in summary["checks"] if c["outcome"] == "waived"]
    assert {c["id"] for c in waived} >= {"ml-serving[GET /v2/modelsx]", "mlflow[GET //api]"}
    assert all(c["waiver"]["owner"] and c["waiver"]["expires"] for c in waived)
    assert summary["counts"]["waived"] == len(waived)


def test_an_expired_expected_difference_fails_again(tmp_path: Path) -> None:
    def expire(overlay: dict[str, Any]) -> None:
        overlay["services"]["ml-serving"]["expected_differences"][0]["expires"] = "2025-01-31"

    manifests = _manifests_with(tmp_path, expire)
    reports = tmp_path / "reports"
    result = run_from(
        ROOT, "tests_migration", "-m", "paths and wave1", "--manifests", str(manifests), "--report-dir", str(reports)
    )
    assert result.returncode == 1
    [summary] = summaries(reports)
    [failed] = [c for c in summary["checks"] if c["outcome"] == "failed"]
    assert failed["id"] == "ml-serving[GET /v2/modelsx]"
    assert "expired on 2025-01-31" in json.dumps(failed["differences"])


# -- 5. cluster checks need a cluster source ---------------------------------------------------------
def test_targets_alone_do_not_run_cluster_checks_on_bundled_fixtures(corrected_targets: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    targets = str(corrected_targets)
    result = run_from(
        ROOT,
        "tests_migration",
        "-m",
        "wave1 and (phase0 or coverage)",
        "--targets",
        targets,
        "--report-dir",
        str(reports),
    )
    assert result.returncode == 1
    [summary] = summaries(reports)
    assert summary["cluster_context"] is None and summary["complete"] is True
    assert {c["outcome"] for c in summary["checks"]} == {"not run"}
    assert all("no cluster source (pass --kubeconfig or --manifests)" in c["message"] for c in summary["checks"])
    assert {c["service"] for c in summary["checks"]} == {"grafana", "mlflow", "ml-serving"}
    with_source = run_from(
        ROOT,
        "tests_migration",
        "-m",
        "wave1 and coverage",
        "--targets",
        targets,
        "--manifests",
        str(CORRECTED),
        "--report-dir",
        str(reports),
    )
    assert with_source.returncode == 0, with_source.stdout[-2000:]


# -- 6. unmodelled behaviour is not verified -----------------------------------------------------------
def test_unmodelled_annotation_and_filter_are_not_verified(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    ingress = manifests / "ingress" / "ingresses.yaml"
    text = ingress.read_text()
    marker = "  name: grafana\n  namespace: monitoring\n  annotations:\n"
    assert marker in text
    ingress.write_text(text.replace(marker, marker + '    nginx.ingress.kubernetes.io/enable-cors: "true"\n', 1))
    reports = tmp_path / "reports"
    result = run_from(
        ROOT, "tests_migration", "-m", "unmodelled", "--manifests", str(manifests), "--report-dir", str(reports)
    )
    assert result.returncode == 1, result.stdout[-2000:]
    [summary] = summaries(reports)
    unverified = [c for c in summary["checks"] if c["outcome"] == "not verified"]
    assert [c["service"] for c in unverified] == ["grafana"]
    assert "annotation nginx.ingress.kubernetes.io/enable-cors is not modelled" in unverified[0]["message"]
    assert "to verify: a staging run (--targets)" in unverified[0]["message"]
    assert summary["reason"] == "1 finding - not verified: behaviour the lab does not model (grafana)"

    def waive(overlay: dict[str, Any]) -> None:
        overlay["waivers"] = [
            {
                "check": "unmodelled",
                "service": "grafana",
                "owner": "o",
                "reason": "CORS tested in staging",
                "expires": "2027-06-30",
            }
        ]

    waived_dir = _manifests_with(tmp_path / "w", waive)
    shutil.copyfile(ingress, waived_dir / "ingress" / "ingresses.yaml")
    waived = run_from(
        ROOT, "tests_migration", "-m", "unmodelled", "--manifests", str(waived_dir), "--report-dir", str(reports)
    )
    assert waived.returncode == 0, waived.stdout[-2000:]


def test_corrected_fixture_has_nothing_unverified(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_from(ROOT, "tests_migration", "-m", "unmodelled", "--manifests", str(CORRECTED), "--report-dir", str(reports))
    [summary] = summaries(reports)
    assert {c["outcome"] for c in summary["checks"]} == {"n/a"}


def test_real_endpoints_list_annotations_no_check_covers(corrected_targets: Path, tmp_path: Path) -> None:
    manifests = tmp_path / "backup"
    shutil.copytree(CORRECTED, manifests)
    ingress = manifests / "ingress" / "ingresses.yaml"
    marker = "  name: qdrant\n  namespace: inference\n  annotations:\n"
    text = ingress.read_text()
    assert marker in text
    ingress.write_text(text.replace(marker, marker + '    nginx.ingress.kubernetes.io/limit-rps: "50"\n', 1))
    reports = tmp_path / "reports"
    targets = str(corrected_targets)
    result = run_from(
        ROOT,
        "tests_migration",
        "-m",
        "unmodelled",
        "--targets",
        targets,
        "--manifests",
        str(manifests),
        "--report-dir",
        str(reports),
    )
    assert result.returncode == 1, result.stdout[-2000:]
    [summary] = summaries(reports)
    [unverified] = [c for c in summary["checks"] if c["outcome"] == "not verified"]
    assert unverified["service"] == "qdrant"
    assert "limit-rps is not verified by cutover: no selected check covers it" in unverified["message"]


def test_preflight_names_the_endpoint_that_does_not_answer(corrected_targets: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens once the socket is closed
    data = yaml.safe_load(corrected_targets.read_text())
    data["endpoints"]["gateway"]["https_port"] = closed
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump(data))
    reports = tmp_path / "reports"
    result = run_from(
        ROOT, "tests_migration", "-m", "wave1 and paths", "--targets", str(targets), "--report-dir", str(reports)
    )
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("cutover: preflight:")]
    assert lines == [f"cutover: preflight: gateway endpoint 127.0.0.1:{closed} refused the connection (https port)"]
    [summary] = summaries(reports)
    assert {c["outcome"] for c in summary["checks"]} == {"error"}
    assert all(f"127.0.0.1:{closed} refused the connection" in c["message"] for c in summary["checks"])
