"""Which backend answered: the probe backend's echo names the Service and its port; without
the echo (a real backend), the targets' identity names it, or the check is "not run".

The echo-less lab is the corrected lab with CUTOVER_BACKEND_ECHO=off in the backends'
environment: every plain answer is `ok` (text/plain) with only the X-Cutover-Service header,
as a real backend that names itself in a header would answer."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.checks import backend_tls, headers, paths, redirects
from cutover.checks.base import Outcome, ProbeContext
from cutover.errors import InputError
from cutover.lab.backend import parse_listen
from cutover.probe.client import Identity, ProbeResult
from cutover.targets import PATH_ATTEMPTS, Targets, parse_targets
from tests.conftest import CORRECTED, RunningLab, run_checks

SERVED_BY = Identity(header="X-Cutover-Service")


def _run(module: Any, targets: Targets, case_id: str) -> Outcome:
    case = next(c for c in module.cases(targets) if c.id == case_id)
    return case.run(ProbeContext(targets))


def _identify(targets: Targets, identity: Identity | None) -> Targets:
    return dataclasses.replace(targets, identity=identity)


@pytest.fixture(scope="module")
def echo_off_manifests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A copy, so the started lab is not the one other tests share (labs are keyed by manifests).
    target = tmp_path_factory.mktemp("echo-off") / "manifests"
    shutil.copytree(CORRECTED, target)
    return target


@pytest.fixture(scope="module")
def start_echo_off_lab(
    start_lab: Callable[..., RunningLab], echo_off_manifests: Path
) -> Iterator[Callable[..., Targets]]:
    def start(*faults: str) -> Targets:
        previous = os.environ.get("CUTOVER_BACKEND_ECHO")
        os.environ["CUTOVER_BACKEND_ECHO"] = "off"
        try:
            return start_lab(echo_off_manifests, faults=faults).targets
        finally:
            if previous is None:
                del os.environ["CUTOVER_BACKEND_ECHO"]
            else:
                os.environ["CUTOVER_BACKEND_ECHO"] = previous

    yield start


def test_the_echo_names_the_service_and_its_port(start_lab: Callable[..., RunningLab]) -> None:
    lab = start_lab(CORRECTED)
    result = lab.get("nginx", "qdrant.metalkube.internal", "/")
    assert result.echo is not None and result.echo["service_port"] == 6333
    assert result.echo["listen_port"] != 6333  # the lab's own port, not the Service's
    assert result.served_by == "inference/qdrant:6333"
    assert lab.get("gateway", "qdrant.metalkube.internal", "/").served_by == "inference/qdrant:6333"


def test_listen_takes_the_service_port() -> None:
    listen = parse_listen("127.0.0.1:41000,tls,port=443")
    assert (listen.port, listen.tls, listen.service_port) == (41000, True, 443)
    assert str(listen) == "127.0.0.1:41000,tls,port=443"
    with pytest.raises(ValueError, match="port=N"):
        parse_listen("127.0.0.1:41000,port=http")


def _result(headers: dict[str, str], body: bytes, identity: Identity | None) -> ProbeResult:
    return ProbeResult("gateway", "GET", "u", "h", "/", "https", None, 200, headers, body, identity=identity)


def test_identity_reads_a_header_or_a_json_field() -> None:
    body = json.dumps({"meta": {"pod": "grafana-7d9f"}, "service": "x"}).encode()
    assert _result({"x-served-by": "grafana-1"}, b"", Identity(header="X-Served-By")).backend == "grafana-1"
    assert _result({}, body, Identity(json="$.meta.pod")).backend == "grafana-7d9f"
    assert _result({}, body, Identity(json="meta.pod")).served_by == "grafana-7d9f"
    assert _result({}, body, Identity(json="$.meta")).backend is None  # not a scalar
    assert _result({}, b"ok", Identity(header="X-Served-By")).identified is False
    # Without identity, only a full probe-backend echo names a backend, not any JSON with "service".
    assert _result({}, body, None).backend is None


def _targets(**extra: Any) -> dict[str, Any]:
    service = {"name": "grafana", "host": "g.example", "paths": [{"path": "/"}], **extra.pop("service", {})}
    return {
        "endpoints": {"nginx": {"address": "127.0.0.1"}, "gateway": {"address": "127.0.0.2"}},
        "services": [service],
        **extra,
    }


def test_targets_identity_and_attempts() -> None:
    targets = parse_targets(_targets(identity={"header": "X-Served-By"}, service={"identity": {"json": "$.pod"}}))
    assert targets.identity == Identity(header="X-Served-By")
    assert targets.identity_of(targets.services[0]) == Identity(json="$.pod")
    assert targets.path_attempts == PATH_ATTEMPTS == 20
    assert parse_targets(_targets(paths={"attempts": 60})).path_attempts == 60
    for bad, fragment in (
        (_targets(identity={"header": "A", "json": "b"}), "exactly one of header or json"),
        (_targets(identity={"pod": "x"}), "exactly one of header or json"),
        (_targets(paths={"attempts": 3}), "paths.attempts"),
    ):
        with pytest.raises(InputError, match=fragment):
            parse_targets(bad)


def test_paths_without_echo_or_identity_is_not_run(start_echo_off_lab: Callable[..., Targets]) -> None:
    targets = _identify(start_echo_off_lab(), None)
    outcome = _run(paths, targets, "grafana[GET /]")
    assert outcome.baseline is None and not outcome.failures
    assert outcome.not_run is not None and "identity: {header:" in outcome.not_run
    assert {a["backend"] for a in outcome.evidence["attempts"]} == {None}


def test_paths_with_an_identity_header_runs(start_echo_off_lab: Callable[..., Targets]) -> None:
    targets = _identify(start_echo_off_lab(), SERVED_BY)
    outcome = _run(paths, targets, "grafana[GET /]")
    assert outcome.baseline is None and outcome.not_run is None and not outcome.failures
    assert {a["backend"] for a in outcome.evidence["attempts"]} == {"monitoring/grafana"}


def test_an_identity_header_sees_a_weighted_split(start_echo_off_lab: Callable[..., Targets]) -> None:
    # Over grafana's probes (6 x 20 attempts) a 10% split is missed with probability 0.9**120 < 1e-5.
    targets = _identify(start_echo_off_lab("gateway-split-10"), SERVED_BY)
    outcomes = [c.run(ProbeContext(targets)) for c in paths.cases(targets) if c.service.name == "grafana"]
    notes = [d.note for o in outcomes for d in o.failures if d.field == "backend"]
    assert notes and all("attempts on monitoring/grafana-canary" in n for n in notes), notes


def test_an_identity_header_nginx_does_not_send_breaks_the_baseline(
    start_echo_off_lab: Callable[..., Targets],
) -> None:
    targets = _identify(start_echo_off_lab(), Identity(header="X-Served-By"))
    outcome = _run(paths, targets, "grafana[GET /]")
    assert outcome.baseline is not None and "no response header X-Served-By" in outcome.baseline


@pytest.mark.parametrize(
    ("module", "case_id", "fragment"),
    [
        (headers, "grafana[GET /]", "headers the backend received"),
        (backend_tls, "argocd[option A (BackendTLSPolicy)]", "TLS session between proxy and backend"),
        (redirects, "grafana[https GET /]", "identity: {header:"),
        (redirects, "grafana[http GET /cutover-redirect?q=1]", "the redirect's target"),
    ],
)
def test_checks_that_need_the_echo_are_not_run_without_it(
    start_echo_off_lab: Callable[..., Targets], module: Any, case_id: str, fragment: str
) -> None:
    outcome = _run(module, _identify(start_echo_off_lab(), None), case_id)
    assert outcome.baseline is None and not outcome.failures, outcome
    assert outcome.not_run is not None and fragment in outcome.not_run


def test_redirects_with_an_identity_header_run_in_full(start_echo_off_lab: Callable[..., Targets]) -> None:
    targets = _identify(start_echo_off_lab(), SERVED_BY)
    for case_id in ("grafana[https GET /]", "grafana[http GET /cutover-redirect?q=1]"):
        outcome = _run(redirects, targets, case_id)
        assert outcome.baseline is None and outcome.not_run is None and not outcome.failures, (case_id, outcome)


def test_not_run_reaches_the_report(tmp_path: Path) -> None:
    result = run_checks(
        "--manifests",
        str(CORRECTED),
        "--report-dir",
        str(tmp_path),
        "-m",
        "wave1 and (paths or headers)",
        "-k",
        "grafana",
        env={"CUTOVER_BACKEND_ECHO": "off"},
        timeout=300,
    )
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    outcomes = {(c["id"], c["kind"]): c["outcome"] for c in summary["checks"]}
    # Every grafana probe reaches grafana's backend (a Prefix / rule): none names it.
    assert ("grafana[GET /]", "paths") in outcomes and ("grafana[GET /]", "headers") in outcomes
    assert set(outcomes.values()) == {"not run"}, result.stdout[-3000:]
    assert summary["verdict"] == "NO-GO" and result.returncode == 1
    assert "not run: grafana[GET /]" in result.stdout + json.dumps(summary)
