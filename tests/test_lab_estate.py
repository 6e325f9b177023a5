"""A synthetic estate of 30 services (bench/estate.py's generator) in one lab: one process serves
every Service's backend, each answers with its own identity through both proxies, and stopping the
lab leaves no process and no listening port."""

from __future__ import annotations

import dataclasses
import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from cutover.lab import Lab, LabOptions
from cutover.lab.process import alive
from cutover.probe import fetch
from cutover.targets import Targets, parse_targets
from tests.conftest import OFFICE, ROOT
from tests.test_lab_cli import processes_mentioning

SERVICES = 30


def _estate_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cutover_bench_estate", ROOT / "bench" / "estate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ESTATE = _estate_module()


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    manifests = tmp_path_factory.mktemp("estate") / "manifests"
    ESTATE.write_estate(manifests, SERVICES)
    return manifests


def _start(manifests: Path, state: Path, swap: tuple[int, int] | None = None) -> tuple[Lab, Targets]:
    lab = Lab(LabOptions(manifests=manifests, state_dir=state, detach=False))
    targets = parse_targets(lab.prepare())
    if swap is not None:
        # The seeded fault: two Services' backends trade ports after nginx and Envoy were rendered,
        # so each proxy reaches a backend that also answers 200, but as the other Service.
        assert lab.layout is not None
        keys = [(ESTATE.namespace_of(i), ESTATE.service_name(i), 8080) for i in swap]
        first, second = (lab.layout.backends[key] for key in keys)
        lab.layout.backends[keys[0]] = dataclasses.replace(first, lab_port=second.lab_port)
        lab.layout.backends[keys[1]] = dataclasses.replace(second, lab_port=first.lab_port)
    layout = lab.layout
    lab.start()
    if lab.layout is not layout:
        # A taken port made the lab prepare itself again on other ports, without the swap.
        lab.stop_started()
        return _start(manifests, state, swap)
    return lab, targets


def _misidentified(targets: Targets) -> list[tuple[str, str, str, object]]:
    """(side, host, expected Service, what answered) for every service that did not answer as itself."""
    wrong: list[tuple[str, str, str, object]] = []
    for index in range(SERVICES):
        expected = f"{ESTATE.namespace_of(index)}/{ESTATE.service_name(index)}"
        host = f"{ESTATE.service_name(index)}.estate.test"
        for side in ("nginx", "gateway"):
            result = fetch(targets.endpoints[side], host, "/whoami", scheme="http", source=OFFICE, timeout=10.0)
            echo = result.echo or {}
            answered = (echo.get("service"), echo.get("service_port"))
            if result.status != 200 or answered != (expected, 8080):
                wrong.append((side, host, expected, result.status if result.status != 200 else answered))
    return wrong


@pytest.fixture(scope="module")
def estate_lab(estate: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Targets]]:
    lab, targets = _start(estate, tmp_path_factory.mktemp("estate-lab"))
    try:
        yield lab, targets
    finally:
        lab.stop_started()


def test_one_backend_process_serves_every_service(estate_lab: tuple[Lab, Targets]) -> None:
    lab, targets = estate_lab
    assert len(targets.services) == SERVICES
    assert sorted(p.name for p in lab.processes) == ["backends", "envoy", "nginx"]
    # nginx's master, Envoy and the one backends process are all that name the state directory.
    assert len(processes_mentioning(str(lab.state_dir))) == 3
    assert lab.layout is not None and len(lab.layout.backends) == SERVICES


def test_every_service_answers_as_itself_through_both_proxies(estate_lab: tuple[Lab, Targets]) -> None:
    _, targets = estate_lab
    assert _misidentified(targets) == []


def test_two_backends_trading_ports_is_caught(estate: Path, tmp_path: Path) -> None:
    lab, targets = _start(estate, tmp_path / "state", swap=(4, 5))
    try:
        wrong = _misidentified(targets)
    finally:
        lab.stop_started()
    one, two = (f"{ESTATE.namespace_of(i)}/{ESTATE.service_name(i)}" for i in (4, 5))
    assert sorted((side, expected, answered) for side, _, expected, answered in wrong) == [
        ("gateway", one, (two, 8080)),
        ("gateway", two, (one, 8080)),
        ("nginx", one, (two, 8080)),
        ("nginx", two, (one, 8080)),
    ]


def test_stopping_the_lab_leaves_no_process_and_no_port(estate: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    lab, targets = _start(estate, state)
    assert lab.layout is not None
    ports = [address.lab_port for address in lab.layout.backends.values()]
    ports += [targets.nginx.http_port, targets.gateway.http_port]
    recorded = list(lab.processes)
    assert all(alive(p) for p in recorded)
    assert lab.stop_started() == []
    assert [p.name for p in recorded if alive(p)] == []
    assert processes_mentioning(str(state)) == []
    still_listening = []
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                still_listening.append(port)
    assert still_listening == []
