"""The source_ip check on its own: every service from every vantage point, nginx's answer as the
reference, through the real lab (nginx and Envoy on loopback)."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable

import pytest

from cutover.checks import source_ip
from cutover.checks.base import Case, Outcome, ProbeContext
from cutover.probe import Endpoint
from cutover.targets import Targets, VantagePoint, parse_targets
from tests.conftest import CORRECTED, RunningLab


def closed_port() -> int:
    """A loopback port nothing listens on: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cases(targets: Targets, service: str | None = None) -> dict[str, Outcome]:
    context = ProbeContext(targets, attempts=1, max_attempts=1)
    return {
        case.id: case.run(context)
        for case in source_ip.cases(targets)
        if case.runner is not None and (service is None or case.service.name == service)
    }


def with_endpoint(targets: Targets, side: str, endpoint: Endpoint) -> Targets:
    return dataclasses.replace(targets, endpoints={**targets.endpoints, side: endpoint})


def test_every_service_is_probed_from_every_vantage_point(start_lab: Callable[..., RunningLab]) -> None:
    targets = start_lab(CORRECTED).targets
    ids = {case.id for case in source_ip.cases(targets)}
    for service in targets.services:
        assert {
            f"{service.name}[from office]",
            f"{service.name}[from outside]",
            f"{service.name}[from outside spoofing XFF office]",
            f"{service.name}[from office spoofing XFF outside]",
        } <= ids
    # Services without an allowlist are checked too: the lab lists every vantage point as allowed.
    grafana = next(s for s in targets.services if s.name == "grafana")
    assert grafana.source_ip == {"allowed": ["office", "outside"], "denied": []}
    assert "source_ip" not in grafana.checks  # the headers check reads it as "has an allowlist"


def test_corrected_lab_passes_from_every_vantage_point(start_lab: Callable[..., RunningLab]) -> None:
    outcomes = run_cases(start_lab(CORRECTED).targets)
    assert len(outcomes) == 24
    assert {case: o.baseline for case, o in outcomes.items() if o.baseline} == {}
    assert {case: [d.line() for d in o.failures] for case, o in outcomes.items() if o.failures} == {}
    denied = outcomes["qdrant[from outside]"].evidence
    assert (denied["nginx"]["answer"], denied["gateway"]["answer"]) == ("denied (403)", "denied (403)")
    allowed = outcomes["grafana[from outside]"].evidence
    assert allowed["nginx"]["backend"] == allowed["gateway"]["backend"] == "monitoring/grafana"


def test_outside_blocked_by_the_gateway_where_nginx_lets_it_in(start_lab: Callable[..., RunningLab]) -> None:
    # The fault keeps the office rule and every other host open: only mlflow's outside clients are cut.
    lab = start_lab(CORRECTED, faults=("gateway-blocks-outside",))
    outcomes = run_cases(lab.targets, "mlflow")
    failures = {case: [d.line() for d in o.failures] for case, o in outcomes.items() if o.failures}
    assert set(failures) == {"mlflow[from outside]", "mlflow[from outside spoofing XFF office]"}
    assert failures["mlflow[from outside]"] == [
        "gateway lets outside in: nginx 200 from mlflow/mlflow, gateway denied (403) "
        "(nginx lets outside (127.0.99.5) in)"
    ]
    assert not any(o.failures for o in run_cases(lab.targets, "grafana").values())


def test_a_refused_gateway_connection_is_not_a_denial(start_lab: Callable[..., RunningLab]) -> None:
    targets = start_lab(CORRECTED).targets
    port = closed_port()
    broken = with_endpoint(targets, "gateway", Endpoint("gateway", "127.0.0.1", port, port))
    outcomes = run_cases(broken, "qdrant")
    denied = outcomes["qdrant[from outside]"]
    assert denied.baseline is None
    assert [d.line() for d in denied.failures] == [
        "gateway denies outside: nginx denied (403), gateway no answer (refused) (the Gateway did not answer "
        "(refused): a refused or reset connection is an error, not a denial; nginx answered 403)"
    ]
    allowed = outcomes["qdrant[from office]"]
    assert allowed.failures[0].field == "gateway lets office in"
    assert "a refused or reset connection is an error, not a denial" in allowed.failures[0].note


def test_nginx_not_answering_is_a_broken_baseline(start_lab: Callable[..., RunningLab]) -> None:
    targets = start_lab(CORRECTED).targets
    port = closed_port()
    broken = with_endpoint(targets, "nginx", Endpoint("nginx", "127.0.0.1", port, port))
    outcome = run_cases(broken, "qdrant")["qdrant[from outside]"]
    assert outcome.failures == []
    assert outcome.baseline == (
        "nginx does not serve https://qdrant.metalkube.internal/ to outside (127.0.99.5): no answer (refused); "
        "the baseline is broken"
    )


def test_nginx_disagreeing_with_the_targets_is_a_broken_baseline(start_lab: Callable[..., RunningLab]) -> None:
    targets = start_lab(CORRECTED).targets
    services = [
        dataclasses.replace(s, source_ip={"allowed": ["office", "outside"], "denied": []}) if s.name == "qdrant" else s
        for s in targets.services
    ]
    outcome = run_cases(dataclasses.replace(targets, services=services), "qdrant")["qdrant[from outside]"]
    assert outcome.baseline is not None and "nginx denies outside (127.0.99.5), which the targets list as allowed" in (
        outcome.baseline
    )


def test_nginx_answering_from_another_backend_is_a_broken_baseline(start_lab: Callable[..., RunningLab]) -> None:
    targets = start_lab(CORRECTED).targets
    services = []
    for service in targets.services:
        if service.name == "grafana":
            wrong = dataclasses.replace(service.paths[0], backend="monitoring/prometheus")
            service = dataclasses.replace(service, paths=[wrong, *service.paths[1:]])
        services.append(service)
    outcome = run_cases(dataclasses.replace(targets, services=services), "grafana")["grafana[from office]"]
    assert outcome.baseline is not None
    assert "from monitoring/grafana, not the rule's backend monitoring/prometheus" in outcome.baseline


def _vantage_targets(points: dict[str, str | None], default: str) -> Targets:
    return parse_targets(
        {
            "endpoints": {"nginx": {"address": "127.0.0.1"}, "gateway": {"address": "127.0.0.1"}},
            "vantage_points": {name: {"address": address} for name, address in points.items()},
            "default_vantage_point": default,
            "services": [{"name": "web", "host": "web.example.test", "paths": [{"path": "/"}]}],
        }
    )


def _skips(cases: list[Case]) -> dict[str, str | None]:
    return {case.probe: case.skip_reason for case in cases if case.runner is None}


def test_a_vantage_point_this_host_cannot_bind_is_not_run() -> None:
    # 192.0.2.55 (TEST-NET-1) is on no interface here: binding it fails and nothing is sent.
    targets = _vantage_targets({"office": "127.0.10.5", "outside": "192.0.2.55"}, "office")
    cases = source_ip.cases(targets)
    skipped = _skips(cases)
    assert set(skipped) == {"from outside", "from outside spoofing XFF office"}
    assert "this host cannot bind vantage point outside's address 192.0.2.55" in str(skipped["from outside"])
    assert {c.skip_kind for c in cases if c.runner is None} == {"not run"}
    assert {c.probe for c in cases if c.runner is not None} == {"from office", "from office spoofing XFF outside"}


def test_a_vantage_point_without_an_address_runs_only_where_this_host_is() -> None:
    targets = _vantage_targets({"office": None, "outside": None}, "office")
    cases = source_ip.cases(targets)
    assert [c.probe for c in cases if c.runner is not None] == ["from office"]
    assert "run from outside's network with default_vantage_point: outside" in str(_skips(cases)["from outside"])


def test_no_vantage_points_is_not_run() -> None:
    targets = dataclasses.replace(_vantage_targets({"office": None}, "office"), vantage_points={})
    (case,) = source_ip.cases(targets)
    assert case.skip_kind == "not run" and "no vantage_points" in str(case.skip_reason)


@pytest.mark.parametrize("address", ["127.0.10.5", "::1"])
def test_loopback_vantage_points_can_be_bound(address: str) -> None:
    targets = _vantage_targets({"here": address}, "here")
    targets.vantage_points["here"] = VantagePoint("here", address)
    assert source_ip.unreachable_vantage_point(targets, targets.services[0], "here") is None
