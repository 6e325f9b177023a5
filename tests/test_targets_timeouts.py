"""The timeouts settings in the targets: validated field by field with one-line errors, and
written by the lab from the manifests (nginx's read timeout, each rule's Gateway limit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover.checks import sse
from cutover.checks.timeouts import limits_for
from cutover.errors import InputError
from cutover.lab import Lab, LabOptions
from cutover.targets import parse_targets
from tests.conftest import CORRECTED, METALKUBE


def _targets(timeouts: Any) -> Any:
    return parse_targets(
        {
            "endpoints": {"nginx": {"address": "127.0.0.1"}, "gateway": {"address": "127.0.0.2"}},
            "services": [{"name": "llm", "host": "llm.example", "checks": ["timeouts"], "timeouts": timeouts}],
        }
    )


@pytest.mark.parametrize(
    ("timeouts", "message"),
    [
        ({"read_timeout": "120"}, "services[llm].timeouts.read_timeout: must be a number of seconds > 0, got '120'"),
        ({"read_timeout": 0}, "services[llm].timeouts.read_timeout: must be a number of seconds > 0, got 0"),
        ({"gateway_total": -1}, "services[llm].timeouts.gateway_total: must be a number of seconds >= 0, got -1"),
        ({"read_timeout": 4, "idle_margin": 4}, "services[llm].timeouts.idle_margin: must be below read_timeout (4 s)"),
        ({"beyond_limit": "yes"}, "services[llm].timeouts.beyond_limit: must be true or false, got 'yes'"),
        ({"read_timout": 120}, "services[llm].timeouts.read_timout: is not a timeouts setting; known: read_timeout"),
        ({"paths": [{"path": "api"}]}, "services[llm].timeouts.paths[0].path: must start with '/', got 'api'"),
        ({"paths": [{"path": "/a", "gateway_total": "2m"}]}, "timeouts.paths[0].gateway_total: must be a number"),
    ],
)
def test_bad_timeouts_fail_in_one_line(timeouts: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as raised:
        _targets(timeouts)
    text = str(raised.value)
    assert message in text, text
    assert "\n" not in text.strip()


def test_limits_per_path_fall_back_to_the_service() -> None:
    service = _targets(
        {"read_timeout": 120, "gateway_total": 0, "paths": [{"path": "/v1", "gateway_total": 30}]}
    ).services[0]
    assert limits_for(service, "/v1?x=1").gateway_total == 30
    assert limits_for(service, "/other").gateway_total is None
    assert limits_for(service, "/other").silent_seconds == 118


def _lab_timeouts(manifests: Path, tmp_path: Path) -> dict[str, Any]:
    targets = Lab(LabOptions(manifests=manifests, state_dir=tmp_path / "state", detach=False)).prepare()
    return {s["name"]: s["timeouts"] for s in targets["services"]}


def test_the_lab_reads_each_rules_gateway_limit(tmp_path: Path) -> None:
    written = _lab_timeouts(METALKUBE, tmp_path / "plan")["llm-gateway"]
    assert written["read_timeout"] == 120 and written["gateway_idle"] == 300
    assert written["paths"] == [
        {"path": "/", "gateway_total": 120.0},
        {"path": "/v1/chat/completions", "gateway_total": 120.0},
    ]
    corrected = _lab_timeouts(CORRECTED, tmp_path / "corrected")
    assert corrected["llm-gateway"]["paths"][1] == {"path": "/v1/chat/completions", "gateway_total": 0.0}
    assert corrected["grafana"]["read_timeout"] == 60


def _sse_probes(timeouts: dict[str, Any]) -> list[str]:
    targets = parse_targets(
        {
            "endpoints": {"nginx": {"address": "127.0.0.1"}, "gateway": {"address": "127.0.0.2"}},
            "services": [{"name": "llm", "host": "llm.example", "checks": ["sse"], "timeouts": timeouts}],
        }
    )
    return [case.probe for case in sse.cases(targets)]


def test_the_long_stream_outlasts_both_limits() -> None:
    assert _sse_probes({"read_timeout": 120}) == ["sse outlast 150s", "sse silent 118s"]
    # A total limit longer than nginx's idle limit: the stream must outlast it too.
    assert _sse_probes({"read_timeout": 120, "gateway_total": 300})[0] == "sse outlast 330s"
    # The longest stream the service must serve, when the target knows it.
    assert _sse_probes({"read_timeout": 120, "gateway_total": 600, "max_stream_seconds": 200})[0] == "sse outlast 200s"
