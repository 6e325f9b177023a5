"""The report and the terminal as a change board reads them: the verdict first on the page
and last on the terminal, no Python reprs or local paths, counted matrix cells, evidence for a
GO too, a print stylesheet and a PDF without controls, merged runs that supersede."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.report import render_page
from cutover.report.summary import merge_summaries
from tests.conftest import CORRECTED, METALKUBE, ROOT, UNUSED_PLUGINS, run_checks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOTEXT = shutil.which("pdftotext")


def _cutover_text(page: str) -> str:
    """The part of the page cutover writes (pytest-html's own table is JavaScript-rendered)."""
    return "".join(re.findall(r'<div class="cutover">.*?</div>(?=<div class="cutover">|\s*</div>|$)', page, re.S))


@pytest.fixture(scope="module")
def nogo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    reports = tmp_path_factory.mktemp("nogo") / "reports"
    result = run_checks(
        "--manifests", str(METALKUBE), "-m", "wave2 and not sse and not timeouts", "--report-dir", str(reports)
    )
    return result, reports / "latest"


def _check(outcome: str, kind: str = "paths", service: str = "grafana", **extra: Any) -> dict[str, Any]:
    return {"id": f"{service}[GET /]", "service": service, "wave": 1, "kind": kind, "outcome": outcome, **extra}


def _go_summary() -> dict[str, Any]:
    durations = {"nginx": 20.1, "gateway": 20.0}
    timeouts = _check(
        "passed",
        "timeouts",
        evidence={"durations": durations, "line": 15.0, "nginx": {"status": 200}, "gateway": {"status": 200}},
    )
    sse = _check(
        "passed",
        "sse",
        "llm-gateway",
        evidence={
            "nginx": {"arrivals": [0.5, 1.5], "elapsed": 2.0, "done": True},
            "gateway": {"arrivals": [0.5, 1.6], "elapsed": 2.1, "done": True},
        },
    )
    return {
        "verdict": "GO",
        "reason": "all 4 selected checks passed",
        "complete": True,
        "checks": [_check("passed"), _check("passed", service="mlflow"), _check("n/a", "sse"), timeouts, sse],
        "environment_table": {"Python": "3.11.7", "Plugins": {"html": "4.2.0"}},
    }


# -- the page ---------------------------------------------------------------------------------
def test_go_page_shows_evidence_and_counts(tmp_path: Path) -> None:
    page = render_page(_go_summary())
    assert page.index('id="cutover-verdict"') < page.index('id="cutover-environment"')
    assert '<div id="cutover-passed-evidence">' in page and page.count("<svg") == 2
    assert "Envoy route default" in page  # old evidence: the bar against the 15 s line
    limited = render_page(
        {
            **_go_summary(),
            "checks": [
                _check(
                    "passed",
                    "timeouts",
                    evidence={"durations": {"nginx": 118.2, "gateway": 118.1}, "limits": {"nginx_read_timeout": 120}},
                )
            ],
        }
    )
    assert "120 s nginx idle limit" in limited
    matrix = page[page.index('id="cutover-matrix"') :].split("</table>")[0]
    assert ">pass<" in matrix and ">n.a.<" in matrix
    assert "Python" in page and "html: 4.2.0" in page


def test_nogo_pytest_html_page_reads_as_a_document(nogo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, latest = nogo_run
    assert result.returncode == 1, result.stdout[-2000:]
    page = (latest / "go-no-go.html").read_text()
    # The verdict comes first; pytest-html's environment box is hidden, its facts are at the end.
    assert page.index('id="cutover-verdict"') < page.index('id="cutover-environment"')
    assert "#environment-header, #environment { display: none; }" in page
    ours = page[page.index('<div class="cutover">') : page.index('id="cutover-environment"')]
    for repr_text in (": None", ": True", ": False", "('/", "error: None", "done: True"):
        assert repr_text not in ours, repr_text
    assert str(ROOT) not in ours and "/tmp/" not in ours
    assert "manifests fixtures/metalkube" in ours
    assert "1 fail of 2" in ours and "6 pass" in ours
    summary = json.loads((latest / "summary.json").read_text())
    assert str(ROOT) not in summary["environment"]
    # Skips in pytest-html's rows show their reason, not pytest's (file, line, reason) tuple.
    blob = json.loads(
        re.search(r'data-jsonblob="([^"]*)"', page).group(1).replace("&#34;", '"').replace("&amp;", "&")  # type: ignore[union-attr]
    )
    logs = json.dumps(blob)
    assert "('/" not in logs and "Skipped: Skipping" not in logs


def test_cluster_findings_have_no_empty_proxy_panes(
    nogo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    page = (nogo_run[1] / "go-no-go.html").read_text()
    coverage = page[page.index("&middot; coverage &middot; failed") :].split('<div class="evidence')[0]
    assert "<th>expected</th><th>found</th>" in coverage
    assert '<div class="side"><b>nginx</b>' not in coverage


def test_print_stylesheet_hides_controls_and_breaks_per_service(
    nogo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    page = (nogo_run[1] / "go-no-go.html").read_text()
    assert "@page { size: A4" in page and ".cutover .service-block { break-before: page; }" in page
    assert page.count('<div class="service-block">') == 2  # llm-gateway and qdrant


@pytest.mark.skipif(CHROMIUM is None or PDFTOTEXT is None, reason="Debian's chromium and poppler-utils are needed")
def test_nogo_page_prints_to_pdf_without_controls(
    nogo_run: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    pdf = tmp_path / "nogo.pdf"
    result = subprocess.run(
        [sys.executable, "-m", "cutover.cli", "report", str(nogo_run[1] / "go-no-go.html"), "--pdf", str(pdf)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    text = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "NO-GO" in text and "HSTS lost" in text
    for control in ("Show all details", "Hide all details", "check the boxes", "Unexpected passes", "file://"):
        assert control not in text, control


# -- merged runs --------------------------------------------------------------------------------
def test_merged_runs_supersede_and_count_latest_once(tmp_path: Path) -> None:
    first = {
        "verdict": "NO-GO",
        "reason": "x",
        "complete": True,
        "started": "2026-11-26T02:00:00+00:00",
        "selection": "-m wave1",
        "environment": "targets staging.yaml",
        "endpoints": {"nginx": {"address": "10.0.0.1", "http_port": 80, "https_port": 443}},
        "checks": [_check("failed"), _check("passed", service="mlflow")],
    }
    second = {**first, "started": "2026-11-27T02:00:00+00:00", "checks": [_check("passed")], "ticket": "CHG-9"}
    merged = merge_summaries([first, second, dict(second)])  # the last one is reports/latest's copy
    assert merged["verdict"] == "GO" and merged["merged_from"] == 2
    assert [c["outcome"] for c in merged["checks"]] == ["passed", "passed"]
    assert [(c["id"], c["outcome"]) for c in merged["superseded"]] == [("grafana[GET /]", "failed")]
    page = render_page(merged)
    assert 'id="cutover-runs"' in page and "2026-11-26T02:00:00+00:00" in page and "CHG-9" in page
    assert "Superseded by a later run" in page


# -- the terminal ---------------------------------------------------------------------------------
def test_terminal_ends_with_the_verdict_and_has_no_warning_sources(
    nogo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    lines = [line for line in nogo_run[0].stdout.splitlines() if line.strip()]
    assert any(line.startswith("cutover: NO-GO - ") for line in lines[-3:]), lines[-5:]
    verdict = next(line for line in lines if line.startswith("cutover: NO-GO - "))
    assert "HSTS lost (llm-gateway)" in verdict and "X-Real-IP lost (qdrant)" in verdict
    assert "warnings.warn" not in nogo_run[0].stdout and "CutoverWarning" not in nogo_run[0].stdout
    findings = nogo_run[0].stdout.split("cutover findings")[1]
    assert (
        "\nHSTS lost - 1 service:\n  llm-gateway: FAILED headers GET /: response:strict-transport-security" in findings
    )
    assert "\nX-Real-IP lost - 1 service:\n  qdrant: FAILED headers" in findings
    assert "warnings (do not block GO): request:x-forwarded-host" in findings


def test_progress_lines_for_long_probes_in_a_log(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    overlay = yaml.safe_load((manifests / "cutover.yaml").read_text())
    overlay["services"].setdefault("llm-gateway", {})["sse"] = {
        "streams": [{"name": "short", "events": 3, "interval": 1.0}],
        "limits": False,  # no 150 s stream in a self-test
    }
    (manifests / "cutover.yaml").write_text(yaml.safe_dump(overlay))
    result = run_checks("--manifests", str(manifests), "-m", "wave2 and sse", "--report-dir", str(tmp_path / "r"))
    lines = result.stdout.splitlines()
    assert any(line.startswith("cutover: starting the embedded lab") for line in lines), result.stdout[-2000:]
    assert any(line.startswith("cutover: lab ready in ") for line in lines)
    finished = [line for line in lines if line.startswith("cutover: long probe finished: llm-gateway[sse short")]
    assert len(finished) == 1, result.stdout[-2000:]


def test_readme_lists_every_cutover_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help", *UNUSED_PLUGINS)
    text = result.stdout.str()
    group = text.split("cutover: ingress-nginx to Gateway API parity:")[1].split("\n\n")[0]
    options = set(re.findall(r"^\s+(--[a-z-]+)", group, re.M))
    assert {"--targets", "--fault", "--attempts", "--soak-max-gap"} <= options
    readme = (ROOT / "README.md").read_text()
    assert [o for o in sorted(options) if f"`{o}" not in readme] == []
    flat = " ".join(group.split())
    assert "(repeatable" in flat and "default: 3)" in flat and "default: v1.2.1)" in flat


def test_xdist_gives_the_same_verdict_and_results(tmp_path: Path) -> None:
    """`pytest -n 2`: each worker runs its own lab; the controller writes one verdict from the
    records the workers' reports carry, with the targets' waivers applied."""
    manifests = tmp_path / "manifests"
    shutil.copytree(CORRECTED, manifests)
    overlay = yaml.safe_load((manifests / "cutover.yaml").read_text())
    overlay["waivers"] = [
        {"check": "redirects", "service": "grafana", "owner": "o", "reason": "r", "expires": "2027-06-30"}
    ]
    (manifests / "cutover.yaml").write_text(yaml.safe_dump(overlay))
    selection = ("--manifests", str(manifests), "--fault", "no-redirect-route", "-m", "wave1 and (paths or redirects)")
    runs = {}
    # Two independent runs (each its own labs): at once.
    with ThreadPoolExecutor(2) as pool:
        started = {
            name: pool.submit(run_checks, *selection, *extra, "--report-dir", str(tmp_path / name))
            for name, extra in (("serial", ()), ("xdist", ("-n", "2")))
        }
    for name, run in started.items():
        result = run.result()
        assert result.returncode == 1, result.stdout[-2000:]
        runs[name] = json.loads((tmp_path / name / "latest" / "summary.json").read_text())
    serial, xdist = runs["serial"], runs["xdist"]
    assert serial["verdict"] == xdist["verdict"] == "NO-GO" and serial["reason"] == xdist["reason"]
    assert xdist["complete"] is True and xdist["selected"] == serial["selected"]
    outcomes = {name: sorted((c["id"], c["kind"], c["outcome"]) for c in s["checks"]) for name, s in runs.items()}
    assert outcomes["serial"] == outcomes["xdist"]
    assert ("grafana[http GET /cutover-redirect?q=1]", "redirects", "waived") in outcomes["xdist"]


def test_passing_checks_are_compact_in_the_summary() -> None:
    from cutover.report.summary import digest_check as _compact

    attempts = [
        {"attempt": i, "side": side, "status": 200, "backend": "demo/web:80"}
        for i in range(20)
        for side in ("nginx", "gateway")
    ]
    passed = _check("passed", evidence={"attempts": attempts, "nginx": {"status": 200, "body": "x" * 400}})
    compact = _compact(passed)
    assert compact["evidence"]["attempt_counts"] == {
        "nginx": {"200 demo/web:80": 20},
        "gateway": {"200 demo/web:80": 20},
    }
    # Every attempt is counted per side: the one side shown says no more; the body goes.
    assert "attempts" not in compact["evidence"] and "nginx" not in compact["evidence"]
    single = _compact(_check("passed", evidence={"nginx": {"status": 200, "body": "x" * 400, "served_by": "a:80"}}))
    assert single["evidence"]["nginx"] == {"status": 200, "served_by": "a:80"}
    failed = _check("failed", evidence={"attempts": attempts})
    assert _compact(failed) == failed  # what blocks GO keeps every attempt in full
