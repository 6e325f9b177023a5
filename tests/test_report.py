"""The go/no-go report: verdict and exit code, waivers, ticket, merging, redaction, and a
report that runs no script from a hostile backend when opened in Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.report import CheckResult, check_extra, decide, redact, render_page
from tests.conftest import CORRECTED, METALKUBE, ROOT, RunningLab, run_checks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def run_report(report_dir: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = run_checks("--report-dir", str(report_dir), *args, timeout=300)
    summary_path = report_dir / "latest" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return result, summary


def test_clean_run_is_go_with_exit_0(tmp_path: Path) -> None:
    result, summary = run_report(
        tmp_path,
        "--manifests",
        str(CORRECTED),
        "-m",
        "wave2 and not sse and not timeouts",
        "--ticket",
        "CHG-1234",
        "--change-note",
        "promote wave 2 <b>now</b>",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert summary["verdict"] == "GO" and summary["reason"].startswith("all ")
    assert summary["ticket"] == "CHG-1234" and summary["change_note"] == "promote wave 2 <b>now</b>"
    assert summary["waves"] == [2] and summary["services"] == ["llm-gateway", "qdrant"]
    assert summary["lab_profile"] == "cilium-1.20"
    assert {"id", "service", "wave", "kind", "outcome", "message"} <= set(summary["checks"][0])
    runs = [p for p in tmp_path.iterdir() if p.name.endswith("-CHG-1234")]
    assert len(runs) == 1
    for name in ("go-no-go.html", "summary.json", "junit.xml"):
        assert (runs[0] / name).is_file() and (tmp_path / "latest" / name).is_file()
    assert f"cutover report: {runs[0] / 'go-no-go.html'} (reports/latest refreshed: " in result.stdout
    page = (runs[0] / "go-no-go.html").read_text()
    assert "promote wave 2 &lt;b&gt;now&lt;/b&gt;" in page or "promote wave 2 &amp;lt;b&amp;gt;now" in page
    assert "<b>now</b>" not in page


def test_seeded_fault_is_no_go_with_exit_1(tmp_path: Path) -> None:
    result, summary = run_report(
        tmp_path, "--manifests", str(CORRECTED), "--fault", "no-redirect-route", "-m", "wave1 and redirects"
    )
    assert result.returncode == 1
    assert summary["verdict"] == "NO-GO"
    failed = [c for c in summary["checks"] if c["outcome"] == "failed"]
    assert {c["service"] for c in failed} == {"grafana", "mlflow", "ml-serving"}
    assert "the Gateway serves plain HTTP" in json.dumps(failed[0]["differences"])
    assert "NO-GO" in result.stdout


def test_empty_selection_is_no_go(tmp_path: Path) -> None:
    result, latest = run_report(tmp_path, "--manifests", str(CORRECTED), "-m", "wave9")
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED
    assert latest == {}, "a run that selected nothing must not become reports/latest"
    [summary] = [json.loads(p.read_text()) for p in tmp_path.glob("*/summary.json")]
    assert summary["verdict"] == "NO-GO" and summary["complete"] is False
    assert summary["reason"] == "the run is incomplete: no check was selected"
    assert "cutover: NO-GO - the run is incomplete: no check was selected" in result.stdout


def _with_waivers(tmp_path: Path, waivers: list[dict[str, Any]]) -> Path:
    manifests = tmp_path / "manifests"
    shutil.copytree(METALKUBE, manifests)
    (manifests / "cutover.yaml").write_text(yaml.safe_dump({"waivers": waivers}))
    return manifests


def _redirect_waiver(service: str, **changes: Any) -> dict[str, Any]:
    waiver = {
        "check": "redirects",
        "service": service,
        "owner": "platform-team",
        "reason": "HTTP is closed at the firewall until the redirect route lands",
        "expires": "2099-12-31",
    }
    return {**waiver, **changes}


def test_valid_waivers_turn_failures_into_go(tmp_path: Path) -> None:
    manifests = _with_waivers(tmp_path, [_redirect_waiver("llm-gateway"), _redirect_waiver("qdrant")])
    result, summary = run_report(tmp_path / "reports", "--manifests", str(manifests), "-m", "wave2 and redirects")
    assert result.returncode == 0, result.stdout[-2000:]
    assert summary["verdict"] == "GO" and "(2 waived)" in summary["reason"]
    waived = [c for c in summary["checks"] if c["outcome"] == "waived"]
    assert len(waived) == 2 and waived[0]["waiver"]["owner"] == "platform-team"
    assert "Waived" in (tmp_path / "reports" / "latest" / "go-no-go.html").read_text()


@pytest.mark.parametrize(
    ("change", "status"),
    [({"expires": "2026-01-01"}, "refused: expired on 2026-01-01"), ({"reason": ""}, "refused: has no reason")],
    ids=["expired", "no-reason"],
)
def test_invalid_waivers_are_refused(tmp_path: Path, change: dict[str, Any], status: str) -> None:
    manifests = _with_waivers(tmp_path, [_redirect_waiver("llm-gateway", **change), _redirect_waiver("qdrant")])
    result, summary = run_report(tmp_path / "reports", "--manifests", str(manifests), "-m", "wave2 and redirects")
    assert result.returncode == 1
    assert summary["verdict"] == "NO-GO"
    assert [w["status"] for w in summary["waivers"]] == [status, "valid"]
    outcomes = {c["service"]: c["outcome"] for c in summary["checks"] if c["probe"].startswith("http ")}
    assert outcomes == {"llm-gateway": "failed", "qdrant": "waived"}


def test_bad_ticket_is_a_usage_error(tmp_path: Path) -> None:
    result, _ = run_report(tmp_path, "--ticket", "CHG 12/34", "-m", "wave1")
    assert result.returncode == 4
    assert "--ticket" in result.stderr and "CHG 12/34" in result.stderr


def test_cutover_report_merges_waves(tmp_path: Path) -> None:
    wave1, _ = run_report(tmp_path / "w1", "--manifests", str(CORRECTED), "-m", "wave1 and redirects")
    wave2, _ = run_report(tmp_path / "w2", "--manifests", str(METALKUBE), "-m", "wave2 and redirects")
    assert (wave1.returncode, wave2.returncode) == (0, 1)
    output = tmp_path / "merged.html"
    merged = subprocess.run(
        [
            sys.executable,
            "-m",
            "cutover.cli",
            "report",
            str(tmp_path / "w1/latest/summary.json"),
            str(tmp_path / "w2/latest/summary.json"),
            "-o",
            str(output),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert merged.returncode == 1 and merged.stdout.startswith("NO-GO")
    page = output.read_text()
    for service in ("grafana", "mlflow", "llm-gateway", "qdrant"):
        # A service with a finding links to it from its row.
        assert f"<th>{service}</th>" in page or f'<th><a href="#finding-{service}">{service}</a></th>' in page
    assert "<script" not in page
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    refused = subprocess.run([sys.executable, "-m", "cutover.cli", "report", str(bad)], capture_output=True, text=True)
    assert refused.returncode == 2 and "is not a cutover summary" in refused.stderr


def test_verdict_rules() -> None:
    def result(outcome: str) -> CheckResult:
        return CheckResult("svc[p]", "svc", 1, "paths", outcome)

    assert decide([]).go is False
    assert decide([result("n/a")]).go is False  # not-applicable is never a pass
    assert decide([result("passed"), result("n/a")]).go is True
    assert decide([result("passed"), result("not run")]).go is False
    assert decide([result("waived")]).go is True
    assert decide([result("passed"), result("error")]).go is False


def test_secrets_are_redacted() -> None:
    evidence = {
        "nginx": {"headers": {"Authorization": "Bearer abc.def.ghi", "set-cookie": "s=1", "x-trace": "ok"}},
        "gateway": {"upstream": {"x-api-key": "k", "x-grafana-org-id": "7", "note": "Bearer abcdefghijkl"}},
    }
    cleaned = redact(evidence, ["x-grafana-org-id"])
    text = json.dumps(cleaned)
    for secret in ("abc.def.ghi", "s=1", '"k"', '"7"', "abcdefghijkl"):
        assert secret not in text
    assert cleaned["nginx"]["headers"]["x-trace"] == "ok"
    row = redact({"field": "request:authorization", "nginx": "Basic dXNlcg==", "gateway": None})
    assert row["nginx"] == "[redacted]"


def test_page_escapes_everything() -> None:
    payload = "<script>alert(1)</script>"
    check = CheckResult(
        "svc[GET /]",
        payload,
        1,
        "headers",
        "failed",
        message=payload,
        differences=[{"field": payload, "nginx": payload, "gateway": payload}],
        evidence={"nginx": {"headers": {"x": payload}}, "gateway": {"body": payload}},
    )
    summary = {"verdict": "NO-GO", "reason": payload, "checks": [check.to_dict()], "services": [payload]}
    page = render_page(summary)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<script>" not in check_extra(check.to_dict())


PAYLOAD = (
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">"
    "<script>document.body.setAttribute('data-pwned','script')</script>"
)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup.sh installs it)")
def test_hostile_backend_runs_no_script_in_the_report(start_lab: Callable[..., RunningLab], tmp_path: Path) -> None:
    lab = start_lab(METALKUBE)
    targets = lab.lab.targets()
    from urllib.parse import quote

    hostile = f"/?note={quote(PAYLOAD)}&echo_header={quote('X-Evil:' + PAYLOAD)}"
    grafana = next(s for s in targets["services"] if s["name"] == "grafana")
    grafana["paths"] = [{"path": hostile, "type": "Prefix"}]
    targets["services"] = [grafana]
    targets_file = tmp_path / "targets.yaml"
    targets_file.write_text(yaml.safe_dump(targets))
    result, summary = run_report(tmp_path / "reports", "--targets", str(targets_file), "-m", "headers")
    assert summary["verdict"] == "NO-GO", result.stdout[-2000:]  # HSTS is lost: evidence is shown
    # The summary keeps the raw text (header and body); the page must escape it.
    raw = "<script>document.body.setAttribute('data-pwned','script')</script>"
    evidence = summary["checks"][0]["evidence"]["gateway"]
    assert raw in evidence["response"]["x-evil"] and raw.replace("/", "\\/") not in evidence["body"]
    assert "data-pwned" in evidence["body"]
    page = tmp_path / "reports" / "latest" / "go-no-go.html"
    screenshot = tmp_path / "report-escaping.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--virtual-time-budget=5000",
        "--window-size=1280,3000",
    ]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    subprocess.run([CHROMIUM, *flags, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, timeout=120)
    assert "cutover-verdict" in dom.stdout, dom.stderr[-2000:]  # the page rendered, banner included
    assert "data-pwned" not in dom.stdout.split("<body", 1)[1].split(">", 1)[0]
    assert 'data-pwned="img"' not in dom.stdout and 'data-pwned="script"' not in dom.stdout
    assert "&lt;script&gt;document.body.setAttribute" in dom.stdout
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
