"""The preflight says, one line per problem, which endpoint does not answer: against a real
lab (both sides up), a closed port on one side, and a certificate the client cannot verify."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable

from cutover.checks.preflight import preflight
from cutover.probe.client import Endpoint
from cutover.targets import Targets
from tests.conftest import CORRECTED, RunningLab


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_endpoint(targets: Targets, side: str, **changes: int) -> Targets:
    endpoints = dict(targets.endpoints)
    endpoints[side] = dataclasses.replace(endpoints[side], **changes)
    return dataclasses.replace(targets, endpoints=endpoints)


def test_both_sides_of_a_running_lab_pass(start_lab: Callable[..., RunningLab]) -> None:
    assert preflight(start_lab(CORRECTED).targets) == []


def test_a_closed_https_port_is_named_in_one_line(start_lab: Callable[..., RunningLab]) -> None:
    port = _closed_port()
    targets = _with_endpoint(start_lab(CORRECTED).targets, "gateway", https_port=port)
    assert preflight(targets) == [f"gateway endpoint 127.0.0.1:{port} refused the connection (https port)"]


def test_a_closed_http_port_is_named_in_one_line(start_lab: Callable[..., RunningLab]) -> None:
    port = _closed_port()
    targets = _with_endpoint(start_lab(CORRECTED).targets, "nginx", http_port=port)
    assert preflight(targets) == [f"nginx endpoint 127.0.0.1:{port} refused the connection (http port)"]


def test_two_closed_endpoints_give_a_line_per_port() -> None:
    ports = [_closed_port() for _ in range(4)]
    targets = Targets(
        path=None,
        endpoints={
            "nginx": Endpoint("nginx", "127.0.0.1", ports[0], ports[1]),
            "gateway": Endpoint("gateway", "127.0.0.1", ports[2], ports[3]),
        },
        services=[],
    )
    problems = preflight(targets, timeout=2.0)
    assert problems == [
        f"nginx endpoint 127.0.0.1:{ports[0]} refused the connection (http port)",
        f"nginx endpoint 127.0.0.1:{ports[1]} refused the connection (https port)",
        f"gateway endpoint 127.0.0.1:{ports[2]} refused the connection (http port)",
        f"gateway endpoint 127.0.0.1:{ports[3]} refused the connection (https port)",
    ]


def test_a_certificate_the_client_cannot_verify_is_a_problem(start_lab: Callable[..., RunningLab]) -> None:
    # The lab's endpoints answer, but without the lab's CA bundle nothing vouches for them.
    lab_targets = start_lab(CORRECTED).targets
    targets = dataclasses.replace(lab_targets, ca_bundle=None)
    problems = preflight(targets)
    host = next(s.host for s in lab_targets.services if s.scheme == "https")
    assert len(problems) == 2, problems
    for side, problem in zip(("nginx", "gateway"), problems, strict=True):
        endpoint = lab_targets.endpoints[side]
        assert problem.startswith(
            f"{side} endpoint 127.0.0.1:{endpoint.https_port} presented a certificate that does not verify for {host}"
        ), problem


def test_an_unusable_source_address_is_one_line(start_lab: Callable[..., RunningLab]) -> None:
    lab_targets = start_lab(CORRECTED).targets
    vantage = dict(lab_targets.vantage_points)
    name = lab_targets.default_vantage_point
    assert name is not None
    vantage[name] = dataclasses.replace(vantage[name], address="192.0.2.1")  # TEST-NET: never bound here
    problems = preflight(dataclasses.replace(lab_targets, vantage_points=vantage))
    assert len(problems) == 1 and problems[0].startswith("the source address 192.0.2.1"), problems
