"""Both sides failing the same way is not parity: nginx is the reference, and where it does not
serve a rule's own path from that rule's backend, the case is an error, never a pass.

Against a real lab: a targets file whose rule names another backend than the one nginx
answers from (a wrong backend that also answers 200), a host nobody serves (the same 404 on
both sides), and, through the plugin, two closed ports (refused on both sides)."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.checks import backend_tls, headers, paths, redirects
from cutover.checks.base import BASELINE_BROKEN, BaselineError, Case, Outcome, ProbeContext
from cutover.targets import PathRule, ServiceTarget, Targets
from tests.conftest import CORRECTED, RunningLab, run_checks


def _service(targets: Targets, name: str) -> ServiceTarget:
    return next(s for s in targets.services if s.name == name)


def _with_service(targets: Targets, name: str, **changes: Any) -> Targets:
    services = [dataclasses.replace(s, **changes) if s.name == name else s for s in targets.services]
    return dataclasses.replace(targets, services=services)


def _run(module: Any, targets: Targets, case_id: str) -> tuple[Case, Outcome]:
    case = next(c for c in module.cases(targets) if c.id == case_id)
    return case, case.run(ProbeContext(targets))


@pytest.fixture(scope="module")
def lab_targets(start_lab: Callable[..., RunningLab]) -> Targets:
    return start_lab(CORRECTED).targets


def test_the_corrected_lab_is_a_valid_reference(lab_targets: Targets) -> None:
    for module, case_id in (
        (paths, "grafana[GET /]"),
        (headers, "grafana[GET /]"),
        (redirects, "grafana[https GET /]"),
        (redirects, "grafana[http GET /cutover-redirect?q=1]"),
        (backend_tls, "argocd[option A (BackendTLSPolicy)]"),
    ):
        _, outcome = _run(module, lab_targets, case_id)
        assert outcome.baseline is None and outcome.not_run is None and not outcome.failures, (case_id, outcome)


@pytest.mark.parametrize(
    ("module", "case_id"),
    [
        (paths, "grafana[GET /]"),
        (headers, "grafana[GET /]"),
        (redirects, "grafana[https GET /]"),
        (redirects, "grafana[http GET /cutover-redirect?q=1]"),
    ],
)
def test_nginx_answering_from_another_backend_is_an_error(lab_targets: Targets, module: Any, case_id: str) -> None:
    # nginx answers 200, from monitoring/grafana; the rule says monitoring/grafana-v2 serves it.
    targets = _with_service(lab_targets, "grafana", paths=[PathRule("/", "Prefix", "monitoring/grafana-v2")])
    case, outcome = _run(module, targets, case_id)
    assert outcome.baseline is not None
    assert "from monitoring/grafana:3000, not from the rule's backend monitoring/grafana-v2" in outcome.baseline
    message = str(BaselineError(case, outcome))
    assert message.startswith(f"{case_id}: {module.INFO.kind}: {BASELINE_BROKEN}")
    assert "after the redirect" in outcome.baseline or "nginx answered: 200 from monitoring/grafana:3000" in message


def test_the_same_404_on_both_sides_is_an_error(lab_targets: Targets) -> None:
    # A host neither side serves: nginx's default server and Envoy both answer 404.
    targets = _with_service(lab_targets, "grafana", host="nobody.metalkube.internal", scheme="http")
    _, outcome = _run(paths, targets, "grafana[GET /]")
    assert outcome.evidence["nginx"]["status"] == 404 and outcome.evidence["gateway"]["status"] == 404
    assert not outcome.failures
    assert outcome.baseline is not None and "with 404 and nothing names a backend" in outcome.baseline


def test_the_same_tls_failure_on_both_sides_is_an_error(lab_targets: Targets) -> None:
    # No certificate on either side for this host: both handshakes fail verification.
    targets = _with_service(lab_targets, "grafana", host="nobody.metalkube.internal")
    _, outcome = _run(headers, targets, "grafana[GET /]")
    assert outcome.baseline is not None and outcome.baseline.startswith("nginx gave no answer")
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.baseline or "certificate" in outcome.baseline.lower()


def test_backend_tls_needs_nginx_to_reach_the_backend_over_tls(lab_targets: Targets) -> None:
    # grafana is plain HTTP behind nginx: as a backend_tls reference it is broken.
    targets = _with_service(lab_targets, "grafana", checks=["backend_tls"], backend_tls={"mode": "A"})
    _, outcome = _run(backend_tls, targets, "grafana[option A (BackendTLSPolicy)]")
    assert outcome.baseline is not None and "in plaintext" in outcome.baseline


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_closed_ports_are_errors_not_go(tmp_path: Path) -> None:
    ports = [_closed_port() for _ in range(4)]
    targets = {
        "endpoints": {
            "nginx": {"address": "127.0.0.1", "http_port": ports[0], "https_port": ports[1]},
            "gateway": {"address": "127.0.0.1", "http_port": ports[2], "https_port": ports[3]},
        },
        "services": [
            {
                "name": "grafana",
                "host": "grafana.metalkube.internal",
                "wave": 1,
                "paths": [{"path": "/", "type": "Prefix", "backend": "monitoring/grafana"}],
                "checks": ["paths", "headers", "redirects"],
            }
        ],
        "paths": {"attempts": 20},
    }
    file = tmp_path / "targets.yaml"
    file.write_text(yaml.safe_dump(targets))
    result = run_checks("--targets", str(file), "--report-dir", str(tmp_path / "reports"), "-m", "wave1")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    summary = json.loads((tmp_path / "reports" / "latest" / "summary.json").read_text())
    assert summary["verdict"] == "NO-GO"
    checks = [c for c in summary["checks"] if c["kind"] in ("paths", "headers", "redirects")]
    assert checks and {c["outcome"] for c in checks} == {"error"}, [(c["id"], c["outcome"]) for c in checks]
    # The preflight finds the closed ports before any probe: every parity check is an error.
    assert all("refused the connection" in c["message"] for c in checks)
    assert "cutover: preflight: nginx endpoint 127.0.0.1:" in output
