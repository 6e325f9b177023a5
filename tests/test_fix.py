"""`cutover fix`: a remedy per finding, written to a patched copy and proven in the real lab.

Every remedy is judged by running the same selection on the patched copy (real nginx, real
Envoy): a remedy the lab breaks (a seeded fault) is reported as not fixed, never as fixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.cli import main
from cutover.fix import NEEDS_PROFILE, NOT_FIXABLE, plan_fix
from cutover.fix.verify import FIXED, NEW, NOT_FIXED, Selection
from cutover.lab.profiles import PROFILES
from tests.conftest import METALKUBE, quick_copy

WAVE2_SHORT = ["-m", "wave2", "-k", "not sse and not timeouts"]


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@dataclass
class FixRun:
    code: int
    output: str
    out: Path
    reports: Path
    digests: tuple[dict[str, str], dict[str, str]] = ({}, {})

    @property
    def fix(self) -> dict[str, Any]:
        pages = sorted(self.reports.glob("*/fix.json"))
        assert pages, self.output
        data: dict[str, Any] = json.loads(pages[-1].read_text())
        return data

    def statuses(self) -> dict[str, str]:
        return {f["finding"]["id"]: f["status"] for f in self.fix["findings"]}

    def summaries(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.reports.glob("2*/summary.json"))]


def run_fix(capsys: pytest.CaptureFixture[str], manifests: Path, out: Path, reports: Path, *args: str) -> FixRun:
    code = main(["fix", "--manifests", str(manifests), "--out", str(out), "--report-dir", str(reports), *args])
    captured = capsys.readouterr()
    return FixRun(code, captured.out + captured.err, out, reports)


@pytest.fixture(scope="module")
def wave2_fixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixRun]:
    """The plan as written, wave 2, under the Cilium 1.20 profile: found, fixed and verified,
    without --from (cutover fix runs the checks on DIR first)."""
    base = tmp_path_factory.mktemp("fix-wave2")
    before = tree_digest(METALKUBE)
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = main(
            [
                "fix",
                "--manifests",
                str(METALKUBE),
                "--out",
                str(base / "out"),
                "--report-dir",
                str(base / "reports"),
                "--profile",
                "cilium-1.20",
                *WAVE2_SHORT,
            ]
        )
    run = FixRun(code, output.getvalue(), base / "out", base / "reports")
    run.digests = (before, tree_digest(METALKUBE))
    yield run
    shutil.rmtree(base, ignore_errors=True)


def test_fix_turns_every_remedied_wave2_finding_into_a_verified_go(wave2_fixed: FixRun) -> None:
    statuses = wave2_fixed.statuses()
    fixed = {k for k, v in statuses.items() if v == FIXED}
    # Redirects (the checks and the coverage), HSTS, the allowlist (probes and coverage): all verified.
    assert {
        "redirects llm-gateway[http GET /cutover-redirect?q=1]",
        "redirects qdrant[http GET /cutover-redirect?q=1]",
        "coverage llm-gateway[redirect api.metalkube.internal]",
        "coverage qdrant[redirect qdrant.metalkube.internal]",
        "headers llm-gateway[GET /] response:strict-transport-security",
        "headers qdrant[GET /] response:strict-transport-security",
        "source_ip qdrant[from outside]",
        "source_ip qdrant[from outside spoofing XFF office]",
        "coverage qdrant[allowlist policy]",
    } == fixed, wave2_fixed.output
    # The rest is listed with its reason and the reviewed expected difference to fill in.
    assert {k: v for k, v in statuses.items() if v != FIXED} == {"headers qdrant[GET /] request:x-real-ip": NOT_FIXABLE}
    assert wave2_fixed.code == 0, wave2_fixed.output
    assert "suggested expected difference" in wave2_fixed.output and '"owner": "<fill in' in wave2_fixed.output
    before, after = wave2_fixed.summaries()
    assert before["verdict"] == "NO-GO"
    # After: the only finding left is the one no Gateway API construct can close.
    blocking = [c for c in after["checks"] if c["outcome"] in ("failed", "error", "not run", "not verified")]
    assert [(c["kind"], c["id"]) for c in blocking] == [("headers", "qdrant[GET /]")]
    assert [d["field"] for d in blocking[0]["differences"] if d["severity"] == "fail"] == ["request:x-real-ip"]


def test_fix_leaves_the_manifests_directory_unchanged(wave2_fixed: FixRun) -> None:
    before, after = wave2_fixed.digests
    assert before and after == before
    assert not (METALKUBE / "cutover-fix").exists()


def test_fix_writes_a_patched_copy_with_new_objects_and_commented_changes(wave2_fixed: FixRun) -> None:
    out = wave2_fixed.out
    redirect = yaml.safe_load((out / "cutover-fix" / "https-redirect.yaml").read_text())
    assert redirect["spec"]["parentRefs"] == [
        {"name": "metalkube-gateway", "namespace": "kube-system", "sectionName": "http"}
    ]
    assert redirect["spec"]["hostnames"] == ["api.metalkube.internal", "qdrant.metalkube.internal"]
    assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 308}
    policy = yaml.safe_load((out / "cutover-fix" / "gateway-client-allowlist.yaml").read_text())
    assert policy["spec"]["endpointSelector"]["matchExpressions"][0]["key"] == "reserved:ingress"
    assert {"cidr": "127.0.10.0/24"} in policy["spec"]["ingress"][1]["fromCIDRSet"]
    routes = (out / "gateway" / "httproutes.yaml").read_text()
    assert "# cutover fix: HTTP->HTTPS redirect: bound to the HTTPS listener only" in routes
    assert (
        "# cutover fix: Strict-Transport-Security as nginx sent it (finding: HSTS lost - "
        "headers llm-gateway[GET /] response:strict-transport-security)"
    ) in routes
    documents = {d["metadata"]["name"]: d for d in yaml.safe_load_all(routes)}
    assert documents["qdrant"]["spec"]["parentRefs"][0]["sectionName"] == "https"
    assert "sectionName" not in documents["grafana"]["spec"]["parentRefs"][0]  # wave 1 had no finding here
    # Unchanged documents are copied byte for byte, the diff was printed.
    assert (out / "services.yaml").read_bytes() == (METALKUBE / "services.yaml").read_bytes()
    assert "+++ b/cutover-fix/https-redirect.yaml" in wave2_fixed.output
    page = sorted(wave2_fixed.reports.glob("*/fix.html"))[-1].read_text()
    assert 'id="fix-matrix"' in page and "failed &rarr; passed" in page


def test_the_report_shows_each_failures_remedy(wave2_fixed: FixRun) -> None:
    before = wave2_fixed.summaries()[0]
    checks = {(c["kind"], c["id"]): c for c in before["checks"]}
    remedy = checks[("headers", "llm-gateway[GET /]")]["remedy"]
    assert [r["status"] for r in remedy] == ["fixable"]
    assert "Strict-Transport-Security" in remedy[0]["yaml"] and "ResponseHeaderModifier" in remedy[0]["yaml"]
    assert [r["status"] for r in checks[("headers", "qdrant[GET /]")]["remedy"]] == ["not fixable", "fixable"]
    assert all(c.get("remedy") is None for c in before["checks"] if c["outcome"] != "failed")
    text = (_run_dir(wave2_fixed, 0) / "go-no-go.html").read_text()
    assert '<details class="remedy"><summary>Remedy: add an HTTP-&gt;HTTPS redirect route' in text


def _run_dir(run: FixRun, index: int) -> Path:
    return sorted(p.parent for p in run.reports.glob("2*/summary.json"))[index]


def test_a_remedy_the_lab_breaks_is_reported_not_fixed(
    wave2_fixed: FixRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The redirect route answers 302 (seeded fault) where nginx sends 308: close to the
    threshold, a redirect that exists and works but with the wrong code."""
    before = _run_dir(wave2_fixed, 0) / "summary.json"
    run = run_fix(
        capsys,
        METALKUBE,
        tmp_path / "out",
        tmp_path / "reports",
        "--from",
        str(before),
        "--fault",
        "gateway-redirect-302",
    )
    statuses = run.statuses()
    for service in ("llm-gateway", "qdrant"):
        assert statuses[f"redirects {service}[http GET /cutover-redirect?q=1]"] == NOT_FIXED
    detail = next(f["detail"] for f in run.fix["findings"] if f["finding"]["kind"] == "redirects")
    assert "status: nginx 308, gateway 302" in detail
    # What the fault does not touch is still verified; the exit code says a remedy failed.
    assert statuses["headers qdrant[GET /] response:strict-transport-security"] == FIXED
    assert run.code == 1, run.output


def test_a_profile_without_308_writes_301_and_says_which_profile(
    wave2_fixed: FixRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _run_dir(wave2_fixed, 0) / "summary.json"
    run = run_fix(
        capsys, METALKUBE, tmp_path / "out", tmp_path / "reports", "--from", str(before), "--profile", "cilium-1.17"
    )
    statuses = run.statuses()
    assert statuses["redirects qdrant[http GET /cutover-redirect?q=1]"] == NEEDS_PROFILE
    # The coverage finding (a redirect route on the HTTP listener) is closed by the 301 route.
    assert statuses["coverage qdrant[redirect qdrant.metalkube.internal]"] == FIXED
    remedy = next(r for r in run.fix["remedies"] if r["key"] == "https-redirect")
    assert remedy["needs_profile"] == "cilium-1.20" and "statusCode: 301" in remedy["yaml"]
    detail = next(f["detail"] for f in run.fix["findings"] if f["status"] == NEEDS_PROFILE)
    assert "status: nginx 308, gateway 301" in detail
    assert run.code == 0, run.output


def test_backend_tls_and_lenient_paths_on_waves_1_and_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_fix(
        capsys,
        METALKUBE,
        tmp_path / "out",
        tmp_path / "reports",
        "-m",
        "wave1 or wave3",
        "-k",
        "not sse and not timeouts",
        "--profile",
        "cilium-1.20",
    )
    statuses = run.statuses()
    assert statuses["backend_tls argocd[option A (BackendTLSPolicy)]"] == FIXED
    assert statuses["coverage argocd[backend tls]"] == FIXED
    # The 503s every other argocd probe got came from the broken TLS hop: the same remedy closes them.
    assert statuses["source_ip argocd[from office]"] == FIXED
    assert statuses["paths ml-serving[GET /v2/modelsx]"] == FIXED
    assert statuses["paths ml-serving[GET //v2/models]"] == NOT_FIXABLE
    assert not [k for k, v in statuses.items() if v in (NOT_FIXED, NEW)], run.output
    policy = yaml.safe_load((run.out / "gateway" / "argocd-backendtls.yaml").read_text())
    assert policy["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert policy["spec"]["validation"] == {
        "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "argocd-server-ca"}],
        "hostname": "argocd-server.argocd.svc",
    }
    routes = {
        d["metadata"]["name"]: d for d in yaml.safe_load_all((run.out / "gateway" / "httproutes.yaml").read_text())
    }
    matches = routes["ml-serving"]["spec"]["rules"][0]["matches"]
    assert [m["path"] for m in matches] == [
        {"type": "PathPrefix", "value": "/v2/models"},
        {"type": "RegularExpression", "value": "/v2/models.*"},
    ]
    assert run.code == 0


def test_a_route_timeout_that_cuts_a_stream_is_removed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 2 s total route timeout against the 4 s gap stream nginx serves (its limit is 120 s idle);
    the stream is the main job's 7 s gap stream, shortened (tests/conftest.py)."""
    manifests = quick_copy(METALKUBE, tmp_path / "manifests")
    routes = manifests / "gateway" / "httproutes.yaml"
    routes.write_text(routes.read_text().replace('request: "120s"', 'request: "2s"'))
    run = run_fix(
        capsys,
        manifests,
        tmp_path / "out",
        tmp_path / "reports",
        "-m",
        "wave2 and sse",
        "-k",
        "gap",
        "--profile",
        "cilium-1.20",
    )
    statuses = run.statuses()
    assert list(statuses.values()) == [FIXED], run.output
    before, after = run.summaries()
    assert [c["outcome"] for c in before["checks"]] == ["failed"]
    assert [c["outcome"] for c in after["checks"]] == ["passed"]
    patched = {
        d["metadata"]["name"]: d for d in yaml.safe_load_all((run.out / "gateway" / "httproutes.yaml").read_text())
    }
    assert "timeouts" not in patched["llm-gateway"]["spec"]["rules"][0]
    assert "# cutover fix: no total route timeout" in (run.out / "gateway" / "httproutes.yaml").read_text()


# -- planning without the lab ---------------------------------------------------------
def _failed(kind: str, service: str, probe: str, differences: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"{service}[{probe}]",
        "kind": kind,
        "service": service,
        "probe": probe,
        "outcome": "failed",
        "differences": differences,
    }


def test_backend_tls_without_cilium_1_20_needs_a_profile_or_option_b() -> None:
    check = _failed(
        "backend_tls",
        "argocd",
        "option A (BackendTLSPolicy)",
        [{"field": "backend tls", "nginx": "TLS", "gateway": "plaintext"}],
    )
    plan = plan_fix(METALKUBE, [check], PROFILES["cilium-1.17"])
    (remedy,) = plan.remedies
    assert remedy.status == NEEDS_PROFILE and remedy.needs_profile == "cilium-1.20"
    assert "option B" in remedy.reason and "WireGuard" in remedy.reason
    assert plan.workspace.diff() == ""


def test_an_existing_ingress_policy_is_not_rewritten(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(METALKUBE, manifests)
    (manifests / "gateway" / "ingress-policy.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumClusterwideNetworkPolicy",
                "metadata": {"name": "open"},
                "spec": {
                    "endpointSelector": {"matchLabels": {"reserved:ingress": ""}},
                    "ingress": [{"fromEntities": ["world"]}],
                },
            }
        )
    )
    check = _failed(
        "source_ip",
        "qdrant",
        "from outside",
        [{"field": "gateway denies outside", "nginx": "denied (403)", "gateway": "200 from inference/qdrant"}],
    )
    (remedy,) = plan_fix(manifests, [check], PROFILES["cilium-1.20"]).remedies
    assert remedy.status == NOT_FIXABLE and "CiliumClusterwideNetworkPolicy open" in remedy.reason


def test_fix_never_writes_inside_the_manifests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(METALKUBE, manifests)
    before = tree_digest(manifests)
    code = main(["fix", "--manifests", str(manifests), "--out", str(manifests / "patched")])
    assert code == 2 and "must not be the manifests directory or inside it" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    assert main(["fix", "--manifests", str(manifests), "--out", str(tmp_path / "busy")]) == 2
    assert tree_digest(manifests) == before


def test_the_selection_is_read_back_from_a_summary() -> None:
    selection = Selection.from_summary(
        {"selection": "-m wave2 -k not sse and not timeouts", "lab_profile": "cilium-1.20"}
    )
    assert selection.args() == ["-m", "wave2", "-k", "not sse and not timeouts", "--profile", "cilium-1.20"]
    assert Selection.from_summary({"selection": "-k qdrant"}).args() == ["-k", "qdrant"]
    assert Selection.from_summary({"selection": "all"}).args() == []


def test_capture_groups_and_snippets_get_a_reason_not_a_remedy(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(METALKUBE, manifests)
    ingresses = manifests / "ingress" / "ingresses.yaml"
    ingresses.write_text(
        ingresses.read_text().replace(
            'nginx.ingress.kubernetes.io/proxy-buffering: "off"',
            'nginx.ingress.kubernetes.io/proxy-buffering: "off"\n    nginx.ingress.kubernetes.io/rewrite-target: "/$2"',
        )
    )
    checks = [
        _failed("paths", "llm-gateway", "GET /v1/x", [{"field": "path seen", "nginx": "/x", "gateway": "/v1/x"}]),
        _failed("phase0", "qdrant", "annotations", [{"field": "configuration-snippet", "nginx": "x", "gateway": None}]),
    ]
    plan = plan_fix(manifests, checks, PROFILES["cilium-1.20"])
    paths, inventory = plan.remedies
    assert paths.status == NOT_FIXABLE and "capture groups" in paths.reason
    assert paths.expected_difference is not None and paths.expected_difference["probe"] == "GET /v1/x"
    assert inventory.status == NOT_FIXABLE and "configuration-snippet" in inventory.reason
    assert plan.workspace.diff() == ""


def test_a_go_run_has_nothing_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = tmp_path / "summary.json"
    summary.write_text(
        json.dumps(
            {
                "verdict": "GO",
                "reason": "all 2 selected checks passed",
                "complete": True,
                "selection": "-m wave2",
                "lab_profile": "cilium-1.20",
                "checks": [{"id": "qdrant[GET /]", "kind": "headers", "service": "qdrant", "outcome": "passed"}],
            }
        )
    )
    run = run_fix(capsys, METALKUBE, tmp_path / "out", tmp_path / "reports", "--from", str(summary))
    assert run.code == 0 and "no finding to fix" in run.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "reports").exists()


def test_the_remedy_on_the_page_is_collapsed_and_escaped() -> None:
    from cutover.report.html import check_extra

    remedy = {
        "title": "set <script>x</script>",
        "status": "fixable",
        "reason": "r & r",
        "yaml": "value: <b>",
        "needs_profile": None,
    }
    shown = check_extra({"id": "qdrant[GET /]", "kind": "headers", "outcome": "failed", "remedy": [remedy]})
    assert '<details class="remedy"><summary>Remedy: set &lt;script&gt;x&lt;/script&gt; (fixable)</summary>' in shown
    assert '<pre class="remedy-yaml">value: &lt;b&gt;</pre>' in shown and "<script>" not in shown
    assert "remedy" not in check_extra({"id": "x", "kind": "paths", "outcome": "failed"})


def test_option_b_seeing_tls_names_the_policy_to_delete() -> None:
    check = _failed(
        "backend_tls",
        "argocd",
        "option B (plain backend)",
        [{"field": "backend transport", "nginx": "plain HTTP (option B)", "gateway": "TLS"}],
    )
    (remedy,) = plan_fix(METALKUBE, [check], PROFILES["cilium-1.20"]).remedies
    assert remedy.status == NOT_FIXABLE and "delete BackendTLSPolicy argocd/argocd-backend-tls" in remedy.reason
