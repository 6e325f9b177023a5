"""A port the lab chose free can be taken by another program before the lab's process binds
it (parallel labs, parallel test runs). The lab must notice and choose again, not declare
itself ready because the port answers for somebody else."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cutover.lab import Lab, LabOptions
from cutover.lab.process import alive, holds_listener
from cutover.probe import fetch
from cutover.targets import Targets, parse_targets
from tests.conftest import CORRECTED, OFFICE

# nginx retries a failed bind for about 2.5 s before it exits: wait past that before looking.
NGINX_BIND_RETRIES = 3.0


def _squatter(port: int, reuse_port: bool = False) -> socket.socket:
    """Another program listening on the lab's chosen port (with SO_REUSEPORT: another Envoy)."""
    squatter = socket.socket()
    if reuse_port:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    return squatter


@pytest.fixture
def prepared_lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(LabOptions(manifests=CORRECTED, state_dir=tmp_path / "state", detach=False))
    lab.prepare()
    yield lab
    lab.stop_started()


def _started(lab: Lab) -> Targets:
    lab.start()
    time.sleep(NGINX_BIND_RETRIES)
    assert all(alive(p) for p in lab.processes), [p.name for p in lab.processes if not alive(p)]
    return parse_targets(lab.targets())


def _answers_through(targets: Targets, side: str) -> int | None:
    result = fetch(
        targets.endpoints[side], "grafana.metalkube.internal", "/", source=OFFICE, ca_bundle=targets.ca_bundle
    )
    return result.status


def test_a_taken_nginx_port_makes_the_lab_choose_again(prepared_lab: Lab) -> None:
    assert prepared_lab.layout is not None
    taken = prepared_lab.layout.nginx_https_port
    with _squatter(taken):
        targets = _started(prepared_lab)
        assert targets.nginx.https_port != taken
        [nginx] = [p for p in prepared_lab.processes if p.name == "nginx"]
        assert holds_listener(nginx.pid, "127.0.0.1", targets.nginx.https_port) is True
        assert _answers_through(targets, "nginx") == 200


def test_a_port_another_envoy_shares_makes_the_lab_choose_again(prepared_lab: Lab) -> None:
    # With SO_REUSEPORT on both sides the kernel would split connections between the two Envoys.
    assert prepared_lab.layout is not None
    taken = prepared_lab.layout.gateway_https_port
    with _squatter(taken, reuse_port=True):
        targets = _started(prepared_lab)
        assert targets.gateway.https_port != taken
        assert _answers_through(targets, "gateway") == 200


def test_holds_listener_tells_whose_socket_it_is() -> None:
    with _squatter(0) as mine:
        port = mine.getsockname()[1]
        assert holds_listener(os.getpid(), "127.0.0.1", port) is True
        assert holds_listener(1, "127.0.0.1", port) in (False, None)  # pid 1's fds may be unreadable


def test_a_dual_stack_listener_counts_for_an_ipv4_address() -> None:
    # A program listening on [::] (IPv4 accepted too) holds 127.0.0.1:port as surely as one on it.
    with socket.socket(socket.AF_INET6) as dual:
        dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        dual.bind(("::", 0))
        dual.listen()
        port = dual.getsockname()[1]
        assert holds_listener(os.getpid(), "127.0.0.1", port) is True
    assert holds_listener(os.getpid(), "localhost", port) is None  # not an address: cannot tell
