"""The targets loader: empty, partial and full files, and errors naming the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from cutover.errors import InputError
from cutover.targets import load_targets, parse_targets
from tests.conftest import ROOT

MINIMAL = {
    "endpoints": {"nginx": {"address": "127.0.0.1"}, "gateway": {"address": "127.0.0.2"}},
    "services": [{"name": "web", "host": "web.example"}],
}


def test_full_example_parses(tmp_path: Path) -> None:
    example = ROOT / "fixtures" / "targets" / "staging.example.yaml"
    # As shipped, the example names a CA bundle this machine does not have: said in one line.
    with pytest.raises(InputError, match=r"ca_bundle: /etc/ssl/certs/metalkube-ca.pem does not exist"):
        load_targets(example)
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    filled = tmp_path / "staging.yaml"
    filled.write_text(example.read_text().replace("/etc/ssl/certs/metalkube-ca.pem", "ca.pem"))
    targets = load_targets(filled)
    assert targets.ca_bundle == str(tmp_path / "ca.pem")
    assert [s.name for s in targets.services] == ["grafana", "llm-gateway", "qdrant", "argocd"]
    assert targets.nginx.https_port == 443
    assert targets.services[2].source_ip == {"allowed": ["office"], "denied": ["outside"]}
    assert targets.waivers[0].expires == dt.date(2027, 1, 31)
    assert targets.waves == [1, 2, 3]


def test_partial_file_gets_defaults() -> None:
    targets = parse_targets(MINIMAL)
    service = targets.services[0]
    assert (service.wave, service.checks, targets.nginx.http_port) == (1, ["paths"], 80)
    assert targets.default_vantage_point is None


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({}, "endpoints"),
        ({**MINIMAL, "services": None}, "services"),
        ({**MINIMAL, "services": [{"name": "web"}]}, "services[web].host"),
        ({**MINIMAL, "services": [{"name": "web", "host": "h", "checks": ["speed"]}]}, "services[web].checks"),
        (
            {**MINIMAL, "services": [{"name": "web", "host": "h", "source_ip": {"allowed": ["lab"]}}]},
            "services[web].source_ip.allowed",
        ),
        (
            {**MINIMAL, "services": [{"name": "web", "host": "h", "expected_differences": [{"probe": "*"}]}]},
            "services[web].expected_differences[0].check",
        ),
        ({**MINIMAL, "waivers": [{"check": "paths", "service": "web", "expires": "soon"}]}, "waivers[0].expires"),
        (
            {**MINIMAL, "endpoints": {"nginx": {"address": "a", "http_port": 0}, "gateway": {"address": "b"}}},
            "endpoints.nginx.http_port",
        ),
    ],
)
def test_errors_name_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as error:
        parse_targets(document, "t.yaml")
    assert f"t.yaml: targets: {field}" in str(error.value)


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "targets.yaml"
    bad.write_text("endpoints:\n  nginx: {address: 127.0.0.1\nservices: []\n")
    with pytest.raises(InputError) as error:
        load_targets(bad)
    message = str(error.value)
    assert message.startswith(f"{bad}: is not valid YAML at line 3: ") and "\n" not in message


def test_wrong_typed_field_names_file_line_and_field(tmp_path: Path) -> None:
    # The second service's path is a list (line 9): the line of that field, found by the
    # service's name, not the first service's.
    bad = tmp_path / "targets.yaml"
    bad.write_text(
        "endpoints:\n"
        "  nginx: {address: 127.0.0.1}\n"
        "  gateway: {address: 127.0.0.2}\n"
        "services:\n"
        "  - name: web\n"
        "    host: web.example\n"
        "  - name: api\n"
        "    host: api.example\n"
        "    paths: [{path: [/v1]}]\n"
    )
    with pytest.raises(InputError) as error:
        load_targets(bad)
    assert str(error.value) == f"{bad}:9: targets: services[api].paths[0].path: must be a string, got list"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(InputError, match=r"must be a mapping|is missing"):
        load_targets(path)


def test_waiver_validity() -> None:
    document = {
        **MINIMAL,
        "waivers": [
            {"check": "paths", "service": "web", "owner": "a", "reason": "r", "expires": "2026-01-01"},
            {"check": "paths", "service": "web", "owner": "a", "reason": "", "expires": "2099-01-01"},
            {"check": "paths", "service": "web", "owner": "a", "reason": "r", "expires": "2099-01-01"},
        ],
    }
    waivers = parse_targets(yaml.safe_load(yaml.safe_dump(document))).waivers
    today = dt.date(2026, 11, 26)
    assert [w.problem(today) for w in waivers] == ["expired on 2026-01-01", "has no reason", None]
