"""Redirect parity: the Gateway's code must equal nginx's unless the targets accept another one
with a reason, the Location is compared part by part, and the redirect's target is served by
the same backend on both sides. Seeded: a 302 where nginx sends 308; test manifests whose
redirect adds a port and a path, or sends clients to another host served by another Service."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.checks import redirects
from cutover.checks.base import Outcome, ProbeContext
from cutover.errors import InputError
from cutover.probe.client import ProbeResult
from cutover.targets import RedirectAcceptance, Targets, parse_targets
from tests.conftest import CORRECTED, RunningLab

HTTP_CASE = "grafana[http GET /cutover-redirect?q=1]"


def _run(targets: Targets, case_id: str = HTTP_CASE) -> Outcome:
    case = next(c for c in redirects.cases(targets) if c.id == case_id)
    return case.run(ProbeContext(targets))


def _accepting(targets: Targets, *accept: RedirectAcceptance) -> Targets:
    services = [
        dataclasses.replace(s, redirect_accept=list(accept)) if s.name == "grafana" else s for s in targets.services
    ]
    return dataclasses.replace(targets, services=services)


def _manifests_with_redirect(root: Path, **redirect: Any) -> Path:
    target = root / "manifests"
    shutil.copytree(CORRECTED, target)
    routes = target / "gateway" / "httproutes.yaml"
    documents = list(yaml.safe_load_all(routes.read_text()))
    for document in documents:
        if document and document["metadata"]["name"] == "https-redirect":
            document["spec"]["rules"][0]["filters"][0]["requestRedirect"].update(redirect)
    routes.write_text(yaml.safe_dump_all(documents))
    return target


def test_location_parts() -> None:
    parts = redirects.location_parts("https://grafana.example/a/b?q=1")
    assert parts == {"scheme": "https", "host": "grafana.example", "port": 443, "path": "/a/b", "query": "q=1"}
    assert redirects.location_parts("http://g.example:8080/")["port"] == 8080
    assert redirects.location_parts(None)["host"] is None


def _redirect(location: str) -> ProbeResult:
    return ProbeResult("x", "GET", "u", "g.example", "/", "http", None, 308, {"location": location})


def test_location_differences_part_by_part() -> None:
    nginx = _redirect("https://g.example/a?q=1")
    fields = {
        d.field: (d.nginx, d.gateway, d.severity)
        for d in redirects.location_differences(nginx, _redirect("http://h.example:8443/b?q=2"))
    }
    assert fields == {
        "location scheme": ("https", "http", "fail"),
        "location host": ("g.example", "h.example", "fail"),
        "location port": (443, 8443, "fail"),
        "location path": ("/a", "/b", "fail"),
        "location query": ("q=1", "q=2", "fail"),
    }
    # Envoy behind Cilium writes the default port out: the same URL, shown, not failed.
    same = redirects.location_differences(nginx, _redirect("https://g.example:443/a?q=1"))
    assert [(d.field, d.severity) for d in same] == [("location port", "info")]
    assert redirects.location_differences(nginx, _redirect("https://g.example/a?q=1")) == []


def test_the_corrected_redirect_passes(start_lab: Callable[..., RunningLab]) -> None:
    outcome = _run(start_lab(CORRECTED).targets)
    assert not outcome.failures and outcome.baseline is None and outcome.not_run is None
    # Cilium writes the https port out (https://host:443/...): the same place, shown as info.
    assert [(d.field, d.severity) for d in outcome.differences] == [("location port", "info")]
    followed = outcome.evidence["followed"]
    assert followed["nginx"]["served_by"] == followed["gateway"]["served_by"] == "monitoring/grafana:3000"


def test_a_302_where_nginx_sends_308_fails(start_lab: Callable[..., RunningLab]) -> None:
    outcome = _run(start_lab(CORRECTED, faults=("gateway-redirect-302",)).targets)
    assert [(d.field, d.nginx, d.gateway) for d in outcome.failures] == [("status", 308, 302)]
    assert "a 308 that becomes 302 turns a POST into a GET" in outcome.failures[0].note


def test_an_accepted_code_is_shown_with_its_reason_not_failed(start_lab: Callable[..., RunningLab]) -> None:
    targets = start_lab(CORRECTED, faults=("gateway-redirect-302",)).targets
    reason = "browsers only: nobody POSTs over plain HTTP (reviewed)"
    outcome = _run(_accepting(targets, RedirectAcceptance((302,), reason)))
    assert not outcome.failures
    assert [(d.field, d.expected) for d in outcome.differences if d.severity != "info"] == [("status", reason)]
    # Accepting 301 says nothing about 302.
    outcome = _run(_accepting(targets, RedirectAcceptance((301,), reason)))
    assert [d.field for d in outcome.failures] == ["status"]


def test_accepting_a_code_needs_a_reason() -> None:
    base: dict[str, Any] = {
        "endpoints": {"nginx": {"address": "127.0.0.1"}, "gateway": {"address": "127.0.0.2"}},
        "services": [{"name": "g", "host": "g.example", "redirects": {"accept": [{"codes": [301]}]}}],
    }
    with pytest.raises(InputError, match="reason"):
        parse_targets(base)
    base["services"][0]["redirects"] = {"codes": [301, 308]}
    with pytest.raises(InputError, match="accept"):
        parse_targets(base)
    base["services"][0]["redirects"] = {"accept": [{"codes": [301], "reason": "r"}]}
    assert parse_targets(base).services[0].accepted_redirect(301) == RedirectAcceptance((301,), "r")


def test_each_part_of_the_location_is_its_own_field(
    start_lab: Callable[..., RunningLab], tmp_path_factory: pytest.TempPathFactory
) -> None:
    manifests = _manifests_with_redirect(
        tmp_path_factory.mktemp("redirect-port"),
        port=8443,
        path={"type": "ReplaceFullPath", "replaceFullPath": "/cutover-redirect"},
    )
    outcome = _run(start_lab(manifests).targets)
    # The rewritten path equals the probe's, so the port is the only part that differs.
    assert {d.field: (d.nginx, d.gateway) for d in outcome.failures} == {"location port": (443, 8443)}
    assert outcome.baseline is None


def test_a_redirect_to_another_backend_fails_on_the_followed_leg(
    start_lab: Callable[..., RunningLab], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The Gateway sends grafana's clients to api.metalkube.internal: llm-gateway answers 200 there.
    manifests = _manifests_with_redirect(tmp_path_factory.mktemp("redirect-host"), hostname="api.metalkube.internal")
    outcome = _run(start_lab(manifests).targets)
    failures = {d.field: (d.nginx, d.gateway) for d in outcome.failures}
    assert failures["location host"] == ("grafana.metalkube.internal", "api.metalkube.internal")
    assert failures["followed backend"] == ("monitoring/grafana:3000", "inference/llm-gateway:8080")
    assert outcome.evidence["followed"]["gateway"]["status"] == 200
