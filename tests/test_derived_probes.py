"""The paths check probes both sides' rules (issue 11, point 3).

Seeded cases close to the threshold, each a small manifest folder run in the lab: a second
host the HTTPRoute forgot, a rule only the Gateway has that sends /admin to another backend
(which also answers 200), a header/method/query match only on the Gateway, and a regex rule.
Each fails the paths check with both sides' evidence; the probes that should agree pass.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cutover.checks import paths
from cutover.checks.base import Case, Outcome, ParityFailure, ProbeContext
from cutover.cluster.inventory import draft_targets
from cutover.cluster.state import ClusterState
from cutover.errors import InputError
from cutover.lab import Lab, LabOptions
from cutover.manifests import parse_documents
from cutover.probe_rules import path_rules
from cutover.targets import PathRule, ValueMatch, parse_targets
from tests.conftest import CORRECTED, RunningLab

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: admin, namespace: demo}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: canary, namespace: demo}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: demo}
spec:
  gatewayClassName: cilium
  listeners:
    - {name: http, port: 80, protocol: HTTP}
    - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: gw-tls}]}}
"""


def _ingress(name: str, hosts: list[str], paths: str, annotations: str = "{}", tls: bool = False) -> str:
    rules = "\n".join(f"    - host: {host}\n      http:\n        paths:\n{paths}" for host in hosts)
    tls_section = f"  tls: [{{hosts: [{', '.join(hosts)}], secretName: {name}-tls}}]\n" if tls else ""
    return f"""
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}, namespace: demo, annotations: {annotations}}}
spec:
  ingressClassName: nginx
{tls_section}  rules:
{rules}
"""


WEB_ROOT = "          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}"

SEEDED = (
    SERVICES
    # 1. A second host on the Ingress that the HTTPRoute forgot.
    + _ingress("twohosts", ["one.example", "two.example"], WEB_ROOT)
    + """
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: twohosts, namespace: demo}
spec:
  parentRefs: [{name: gw}]
  hostnames: [one.example]
  rules: [{backendRefs: [{name: web, port: 80}]}]
"""
    # 1b. The same over HTTPS: each host is probed with its own SNI.
    + _ingress("tlshosts", ["tls-one.example", "tls-two.example"], WEB_ROOT, tls=True)
    + """
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: tlshosts, namespace: demo}
spec:
  parentRefs: [{name: gw, sectionName: https}]
  hostnames: [tls-one.example]
  rules: [{backendRefs: [{name: web, port: 80}]}]
"""
    # 2. A rule only the Gateway has: /admin goes to another backend that also answers 200.
    + _ingress("main", ["main.example"], WEB_ROOT)
    + """
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: main, namespace: demo}
spec:
  parentRefs: [{name: gw}]
  hostnames: [main.example, beta.example]
  rules:
    - backendRefs: [{name: web, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /admin}}]
      backendRefs: [{name: admin, port: 80}]
"""
    # 3. Header, method and query matches only on the Gateway.
    + _ingress("canary", ["canary.example"], WEB_ROOT)
    + """
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: canary, namespace: demo}
spec:
  parentRefs: [{name: gw}]
  hostnames: [canary.example]
  rules:
    - backendRefs: [{name: web, port: 80}]
    - matches:
        - path: {type: PathPrefix, value: /}
          headers: [{name: x-canary, value: "true"}]
        - path: {type: PathPrefix, value: /api}
          method: POST
          queryParams: [{name: mode, type: RegularExpression, value: "fast|slow"}]
      backendRefs: [{name: canary, port: 80}]
"""
    # 4. A regex rule: nginx's ~* "^path" (prefix, any case) against the Gateway's whole-path regex.
    + _ingress(
        "regex",
        ["regex.example"],
        "          - {path: '/api/v[0-9]+', pathType: ImplementationSpecific,"
        " backend: {service: {name: web, port: {number: 80}}}}",
        annotations='{nginx.ingress.kubernetes.io/use-regex: "true"}',
    )
    + """
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: regex, namespace: demo}
spec:
  parentRefs: [{name: gw}]
  hostnames: [regex.example]
  rules:
    - matches: [{path: {type: RegularExpression, value: "/api/v[0-9]+"}}]
      backendRefs: [{name: web, port: 80}]
"""
)


@pytest.fixture(scope="module")
def seeded_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    directory = tmp_path_factory.mktemp("derived-probes")
    (directory / "demo.yaml").write_text(SEEDED)
    state = Path(tempfile.mkdtemp(prefix="cutover-test-lab-"))
    lab = Lab(LabOptions(manifests=directory, state_dir=state, profile="cilium-1.20", detach=False))
    try:
        lab.prepare()
        lab.start()
        yield RunningLab(lab, parse_targets(lab.targets()))  # after start: it may have chosen new ports
    finally:
        lab.stop_started()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def seeded_cases(seeded_lab: RunningLab) -> dict[str, Case]:
    return {case.id: case for case in paths.cases(seeded_lab.targets)}


@pytest.fixture(scope="module")
def run_case(seeded_lab: RunningLab, seeded_cases: dict[str, Case]) -> Callable[[str], Outcome]:
    context = ProbeContext(seeded_lab.targets, attempts=1, max_attempts=3)

    def run(case_id: str) -> Outcome:
        assert case_id in seeded_cases, f"{case_id} not among {sorted(seeded_cases)}"
        return seeded_cases[case_id].run(context)

    return run


def _failed(outcome: Outcome) -> dict[str, tuple[Any, Any]]:
    return {d.field: (d.nginx, d.gateway) for d in outcome.failures}


# -- 1. a second host --------------------------------------------------------------
def test_every_ingress_host_is_a_probe_source_with_its_own_host(seeded_cases: dict[str, Case]) -> None:
    assert "twohosts[GET /]" in seeded_cases  # the first host keeps the ids it always had
    second = seeded_cases["twohosts[GET two.example/]"]
    assert second.params["host"] == "two.example"
    assert second.params["nginx_backend"] == "demo/web"  # nginx must serve it: the baseline


def test_second_host_the_httproute_forgot_fails_with_both_sides(run_case: Callable[[str], Outcome]) -> None:
    outcome = run_case("twohosts[GET two.example/]")
    assert _failed(outcome)["status"] == (200, 404)
    assert _failed(outcome)["backend"] == ("demo/web:80", None)
    assert outcome.evidence["nginx"]["request"].startswith("GET http://two.example/")
    assert outcome.evidence["gateway"]["request"].startswith("GET http://two.example/")
    assert outcome.evidence["rule"] == "Ingress demo/twohosts"
    assert not run_case("twohosts[GET /]").failures  # the host the route has: parity


def test_second_https_host_is_probed_with_its_own_sni(run_case: Callable[[str], Outcome]) -> None:
    outcome = run_case("tlshosts[GET tls-two.example/]")
    # nginx serves tls-two.example's own certificate for that SNI; the Gateway has none for it.
    assert outcome.evidence["nginx"]["status"] == 200
    assert outcome.evidence["nginx"]["request"].startswith("GET https://tls-two.example/")
    assert outcome.evidence["gateway"]["status"] is None
    assert "certificate" in str(outcome.evidence["gateway"]["error"]).lower()
    assert _failed(outcome)["backend"] == ("demo/web:80", None)
    assert not run_case("tlshosts[GET /]").failures


# -- 2. a rule only the Gateway has ------------------------------------------------
def test_rule_only_on_the_gateway_fails_on_the_backend(
    run_case: Callable[[str], Outcome], seeded_cases: dict[str, Case]
) -> None:
    outcome = run_case("main[GET /admin]")
    # Both answer 200: only the backend tells them apart.
    assert "status" not in _failed(outcome)
    assert _failed(outcome)["backend"] == ("demo/web:80", "demo/admin:80")
    assert outcome.evidence["rule"] == "rule exists only on the Gateway (HTTPRoute demo/main)"
    assert all(outcome.evidence["rule"] in d.note for d in outcome.failures)
    message = str(ParityFailure(seeded_cases["main[GET /admin]"], outcome))
    assert "backend: nginx demo/web:80, gateway demo/admin:80 (" in message
    assert "rule exists only on the Gateway (HTTPRoute demo/main))" in message
    assert not run_case("main[GET /]").failures


def test_hostname_only_the_gateway_serves_is_probed(run_case: Callable[[str], Outcome]) -> None:
    outcome = run_case("main[GET beta.example/]")
    # Probed over HTTPS, as the Gateway serves it: nginx has no server and no certificate for the host.
    assert outcome.evidence["gateway"]["request"].startswith("GET https://beta.example/")
    assert _failed(outcome)["status"] == ("connect", 200)
    assert "certificate" in str(outcome.evidence["nginx"]["error"]).lower()
    assert _failed(outcome)["backend"] == (None, "demo/web:80")
    assert outcome.evidence["rule"] == "rule exists only on the Gateway (HTTPRoute demo/main)"


def test_gateway_only_rule_has_no_nginx_baseline(seeded_cases: dict[str, Case]) -> None:
    case = seeded_cases["main[GET /admin]"]
    assert case.params["label"] == "path"
    assert case.params["rule"].source == "httproute"
    assert case.params["nginx_backend"] is None
    assert seeded_cases["main[GET /]"].params["nginx_backend"] == "demo/web"


# -- 3. header, method and query matches -------------------------------------------
def test_header_match_is_sent_and_fails_on_the_backend(
    run_case: Callable[[str], Outcome], seeded_cases: dict[str, Case]
) -> None:
    case_id = "canary[GET / [x-canary: true]]"
    assert seeded_cases[case_id].params["headers"] == {"x-canary": "true"}
    outcome = run_case(case_id)
    assert _failed(outcome)["backend"] == ("demo/web:80", "demo/canary:80")
    assert "only on the Gateway (HTTPRoute demo/canary)" in outcome.evidence["rule"]


def test_method_and_regex_query_match_are_sent(run_case: Callable[[str], Outcome]) -> None:
    outcome = run_case("canary[POST /api?mode=fast]")
    assert outcome.evidence["nginx"]["request"].startswith("POST http://canary.example/api?mode=fast")
    assert _failed(outcome)["backend"] == ("demo/web:80", "demo/canary:80")
    assert outcome.evidence["gateway"]["request"].startswith("POST http://canary.example/api?mode=fast")
    # Without the Gateway's matches, the main rule answers on both sides: parity.
    assert not run_case("canary[GET /cutover-probe]").failures


# -- 4. a regex rule ----------------------------------------------------------------
def test_regex_rules_are_probed_with_matching_paths_never_the_regex_text(seeded_cases: dict[str, Case]) -> None:
    regex_cases = [case for case in seeded_cases.values() if case.service.name == "regex"]
    sent = {case.params["path"] for case in regex_cases}
    assert "/api/v0" in sent
    assert not any("[" in path for path in sent), sent
    labels = {case.params["label"] for case in regex_cases}
    assert {"path", "near miss", "regex match"} <= labels


def test_regex_rule_differences_fail_with_both_sides(run_case: Callable[[str], Outcome]) -> None:
    assert not run_case("regex[GET /api/v0]").failures  # both regexes match: parity
    # nginx ~* "^/api/v[0-9]+" is a prefix match in any case; the Gateway's regex must match the whole path.
    sub_path = run_case("regex[GET /api/v0/sub]")
    assert _failed(sub_path)["status"] == (200, 404)
    assert sub_path.failures[0].note == "from regex '/api/v[0-9]+' of Ingress demo/regex"
    assert _failed(run_case("regex[GET /API/V0]"))["status"] == (200, 404)
    # A near miss matches neither side.
    assert not run_case("regex[GET /api/v]").failures


# -- the targets file and the draft --------------------------------------------------
def test_lab_targets_record_where_each_rule_comes_from(seeded_lab: RunningLab) -> None:
    rules = {s.name: s.paths for s in seeded_lab.targets.services}
    assert PathRule("/", "Prefix", "demo/web", source="ingress", object="demo/twohosts") in rules["twohosts"]
    assert (
        PathRule("/", "Prefix", "demo/web", host="two.example", source="ingress", object="demo/twohosts")
        in rules["twohosts"]
    )
    admin = [r for r in rules["main"] if r.path == "/admin" and r.host is None]
    assert admin == [PathRule("/admin", "PathPrefix", "demo/admin", source="httproute", object="demo/main")]
    assert admin[0].origin == "HTTPRoute demo/main"
    regex = [r for r in rules["regex"] if r.source == "ingress"]
    assert regex[0].regex and regex[0].regex_mode == "nginx"


def test_corrected_fixture_gains_no_probe_and_keeps_its_ids() -> None:
    """Its HTTPRoutes mirror the Ingresses: the derived matches add rules, not requests."""
    state = Path(tempfile.mkdtemp(prefix="cutover-test-prepare-"))
    try:
        targets = parse_targets(Lab(LabOptions(manifests=CORRECTED, state_dir=state, detach=False)).prepare())
    finally:
        shutil.rmtree(state, ignore_errors=True)
    ids = [case.id for case in paths.cases(targets) if case.skip_reason is None]
    assert any(rule.source == "httproute" for service in targets.services for rule in service.paths)
    for service in targets.services:
        service.paths = [rule for rule in service.paths if rule.source == "ingress"]
    assert ids == [case.id for case in paths.cases(targets) if case.skip_reason is None]
    assert len(ids) == len(set(ids)) == 48
    assert "mlflow[GET /api/sub]" in ids and "grafana[GET /]" in ids


def _targets_with(path_entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "endpoints": {
            "nginx": {"address": "127.0.0.1", "http_port": 1, "https_port": 2},
            "gateway": {"address": "127.0.0.1", "http_port": 3, "https_port": 4},
        },
        "services": [{"name": "web", "host": "web.example", "paths": [path_entry]}],
    }


def test_targets_accept_every_rule_field() -> None:
    targets = parse_targets(
        _targets_with(
            {
                "path": "/api",
                "type": "PathPrefix",
                "backend": "demo/canary",
                "host": "other.example",
                "scheme": "http",
                "method": "post",
                "headers": {"x-canary": "true"},
                "query": [{"name": "mode", "value": "fast|slow", "type": "RegularExpression"}],
                "source": "httproute",
                "object": "demo/canary",
            }
        )
    )
    rule = targets.services[0].paths[0]
    assert rule == PathRule(
        "/api",
        "PathPrefix",
        "demo/canary",
        host="other.example",
        scheme="http",
        method="POST",
        headers=(ValueMatch("x-canary", "true"),),
        query=(ValueMatch("mode", "fast|slow", "RegularExpression"),),
        source="httproute",
        object="demo/canary",
    )
    (case,) = paths.cases(targets)[:1]
    assert case.id == "web[POST other.example/api?mode=fast [x-canary: true]]"
    assert case.params["scheme"] == "http"


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ({"path": "/a", "type": "Prefx"}, "services[web].paths[0].type", "must be one of"),
        ({"path": "/a", "method": "FETCH"}, "services[web].paths[0].method", "must be an HTTP method"),
        ({"path": "/a", "source": "gateway"}, "services[web].paths[0].source", "must be one of ingress, httproute"),
        ({"path": "/a", "scheme": "ftp"}, "services[web].paths[0].scheme", "must be http or https"),
        ({"path": "/a", "regex": "yes"}, "services[web].paths[0].regex", "must be true or false"),
        ({"path": "/a(", "type": "RegularExpression"}, "services[web].paths[0].path", "not a valid regular"),
        ({"path": "a"}, "services[web].paths[0].path", "must start with '/'"),
        (
            {"path": "/a", "headers": [{"name": "x", "value": "1", "type": "Prefix"}]},
            "services[web].paths[0].headers[0].type",
            "must be one of Exact, RegularExpression",
        ),
        ({"path": "/a", "headers": [{"value": "1"}]}, "services[web].paths[0].headers[0].name", "is missing"),
    ],
)
def test_bad_rule_fields_get_one_line_naming_file_and_field(entry: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_targets(_targets_with(entry), "staging.yaml")
    text = str(caught.value)
    assert "staging.yaml" in text and field in text and message in text
    assert "\n" not in text


def test_a_regex_outside_the_subset_is_not_run_with_the_reason() -> None:
    targets = parse_targets(
        _targets_with({"path": "/a(?=b)", "type": "RegularExpression", "source": "httproute", "object": "demo/x"})
    )
    (case,) = paths.cases(targets)
    assert case.skip_kind == "not run"
    assert case.skip_reason is not None
    assert case.skip_reason.startswith("not run: cannot generate a request for regex '/a(?=b)' (HTTPRoute demo/x)")


def test_draft_targets_write_every_host_and_rule(tmp_path: Path) -> None:
    directory = tmp_path / "manifests"
    directory.mkdir()
    (directory / "demo.yaml").write_text(SEEDED)
    manifests = parse_documents(directory, [(str(directory / "demo.yaml"), obj) for obj in yaml.safe_load_all(SEEDED)])
    draft = draft_targets(ClusterState("test", False, manifests))
    services = {s["name"]: s for s in draft["services"]}
    assert {"path": "/", "type": "Prefix", "backend": "demo/web", "host": "two.example"}.items() <= next(
        p for p in services["twohosts"]["paths"] if p.get("host") == "two.example"
    ).items()
    assert any(p["path"] == "/admin" and p["source"] == "httproute" for p in services["main"]["paths"])
    # The draft is a valid targets file once the endpoints are filled in.
    draft["endpoints"]["nginx"]["address"] = draft["endpoints"]["gateway"]["address"] = "127.0.0.1"
    assert parse_targets(draft).services


def test_httproute_on_another_listener_than_the_clients_use_is_not_probed_there() -> None:
    """The corrected fixture's https-redirect route is on the HTTP listener; its hosts are HTTPS."""
    from cutover.manifests import load_manifests

    manifests = load_manifests(CORRECTED)
    grafana = next(i for i in manifests.ingresses if i.name == "grafana")
    assert [r["object"] for r in path_rules(manifests, grafana)] == ["monitoring/grafana", "monitoring/grafana"]
    assert [r["source"] for r in path_rules(manifests, grafana)] == ["ingress", "httproute"]


def test_first_path_of_a_regex_rule_is_a_request_it_matches() -> None:
    targets = parse_targets(_targets_with({"path": "/api/v[0-9]+", "type": "ImplementationSpecific", "regex": True}))
    assert targets.services[0].first_path == "/api/v0"
    on_other_host = parse_targets(_targets_with({"path": "/x", "host": "other.example"}))
    assert on_other_host.services[0].first_path == "/"


SHARED_HOST = (
    SERVICES
    + _ingress(
        "a",
        ["shared.example"],
        "          - {path: /a, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}",
    )
    + _ingress(
        "b",
        ["shared.example"],
        "          - {path: /b, pathType: Prefix, backend: {service: {name: admin, port: {number: 80}}}}",
    )
    + """
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shared, namespace: demo}
spec:
  parentRefs: [{name: gw}]
  hostnames: [shared.example]
  rules:
    - matches: [{path: {type: PathPrefix, value: /a}}]
      backendRefs: [{name: web, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /b}}]
      backendRefs: [{name: admin, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /c}}]
      backendRefs: [{name: canary, port: 80}]
"""
)


def test_shared_host_leaves_another_ingress_rule_to_its_own_service() -> None:
    manifests = parse_documents(Path("."), [("shared.yaml", obj) for obj in yaml.safe_load_all(SHARED_HOST)])
    ingress_a = next(i for i in manifests.ingresses if i.name == "a")
    rules = [(r["path"], r["source"]) for r in path_rules(manifests, ingress_a)]
    # /b is Ingress b's rule (probed by service b, with its baseline); /c exists on the Gateway only.
    assert rules == [("/a", "ingress"), ("/a", "httproute"), ("/c", "httproute")]
