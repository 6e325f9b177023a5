"""Limits at their real values, with limits of a few seconds: nginx's proxy-read-timeout is 6 s
here, so the silent probes stay silent 4 s, the long stream lasts 9 s with an event every second,
and the beyond-limit probe is silent 11 s (past the Gateway's stream idle timeout, set to 8 s). Each seeded fault sits close to the threshold and must fail the
right probe for the right reason; the clean lab passes every probe.

The probes run in-process against real nginx and Envoy (one lab per configuration, all probes
of all labs at once), so each outcome, its baseline and its differences are read directly.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from cutover.checks import sse, timeouts
from cutover.checks.base import Case, Outcome, ParityFailure, ProbeContext
from tests.conftest import RunningLab

MANIFESTS = """
apiVersion: v1
kind: Service
metadata: {name: llm-gateway, namespace: inference}
spec: {ports: [{name: http, port: 8080}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: llm-gateway
  namespace: inference
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "6"
    nginx.ingress.kubernetes.io/proxy-buffering: "off"
spec:
  ingressClassName: nginx
  rules:
    - host: llm.example
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: llm-gateway, port: {number: 8080}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: inference}
spec:
  gatewayClassName: cilium
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llm-gateway, namespace: inference}
spec:
  parentRefs: [{name: gw}]
  hostnames: [llm.example]
  rules:
    # No timeouts: Cilium then sets max_stream_duration 0s, no total limit, as nginx has none.
    - backendRefs: [{name: llm-gateway, port: 8080}]
"""
SETTINGS = {"outlast_margin": 3, "beyond_limit": True, "beyond_margin": 3}


# The Gateway sends the route to another Service that also answers 200 and streams the same events.
OTHER_BACKEND = (
    MANIFESTS.replace(
        "    - backendRefs: [{name: llm-gateway, port: 8080}]", "    - backendRefs: [{name: llm-canary, port: 8080}]"
    )
    + """---
apiVersion: v1
kind: Service
metadata: {name: llm-canary, namespace: inference}
spec: {ports: [{name: http, port: 8080}]}
"""
)


def _manifests(
    directory: Path, objects: str = MANIFESTS, stream_idle_timeout: float = 8, **timeout_settings: object
) -> Path:
    directory.mkdir()
    (directory / "objects.yaml").write_text(objects)
    overlay = {
        # The Gateway's stream idle timeout (Cilium's proxy-stream-idle-timeout-seconds) at 8 s,
        # so the beyond-limit probe (silent past both idle limits) stays short.
        "lab": {"profile": "cilium-1.20", "stream_idle_timeout": stream_idle_timeout},
        "services": {"llm-gateway": {"timeouts": {**SETTINGS, **timeout_settings}, "sse": {"streams": []}}},
    }
    (directory / "cutover.yaml").write_text(yaml.safe_dump(overlay))
    return directory


# (manifests variant, seeded fault): "clean" is the correct mapping, "overstated" a targets
# file that claims a longer read timeout than nginx has.
CONFIGURATIONS = {
    "clean": ("clean", None),
    "request-timeout-as-read-timeout": ("clean", "request-timeout-as-read-timeout"),
    "request-timeout-under-read-timeout": ("clean", "request-timeout-under-read-timeout"),
    "idle-under-read-timeout": ("clean", "idle-under-read-timeout"),
    "early-answer": ("clean", "early-answer"),
    "overstated": ("overstated", None),
    "other-backend": ("other-backend", None),
    # proxy-read-timeout 20 s and a route without timeouts under cilium-1.15.0: Envoy's 15 s default.
    "no-llm-timeouts": ("read-20", "no-llm-timeouts"),
    # The same route under cilium-1.20: max_stream_duration 0s, no 15 s default (the clean twin).
    "read-20": ("read-20", None),
}
# Only the silent request runs at the 20 s read timeout: it is the probe Envoy's 15 s default cuts.
SILENT_ONLY = {"no-llm-timeouts", "read-20"}


@pytest.fixture(scope="module")
def outcomes(
    start_lab: Callable[..., RunningLab], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, tuple[Case, Outcome]]]:
    base = tmp_path_factory.mktemp("limits")
    variants = {
        "clean": _manifests(base / "clean"),
        "overstated": _manifests(base / "overstated", read_timeout=10),
        "other-backend": _manifests(base / "other-backend", OTHER_BACKEND),
        "read-20": _manifests(
            base / "read-20", MANIFESTS.replace('proxy-read-timeout: "6"', 'proxy-read-timeout: "20"'), 300
        ),
    }
    work: list[tuple[str, Case, ProbeContext]] = []
    for name, (variant, fault) in CONFIGURATIONS.items():
        lab = start_lab(variants[variant], faults=(fault,) if fault else ())
        context = ProbeContext(lab.targets)
        for case in [*timeouts.cases(lab.targets), *sse.cases(lab.targets)]:
            if case.runner is not None and (name not in SILENT_ONLY or case.probe.startswith("silent")):
                work.append((name, case, context))
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        futures = [(name, case, pool.submit(case.run, context)) for name, case, context in work]
        result: dict[str, dict[str, tuple[Case, Outcome]]] = {name: {} for name in CONFIGURATIONS}
        for name, case, future in futures:
            result[name][case.probe] = (case, future.result())
    return result


def _failure_text(case: Case, outcome: Outcome) -> str:
    return str(ParityFailure(case, outcome))


def test_the_probes_follow_the_limits(outcomes: dict[str, dict[str, tuple[Case, Outcome]]]) -> None:
    assert sorted(outcomes["clean"]) == ["beyond 6s /", "silent 4s /", "sse outlast 9s", "sse silent 4s"]


def test_the_correct_mapping_passes_every_probe(outcomes: dict[str, dict[str, tuple[Case, Outcome]]]) -> None:
    for probe, (case, outcome) in outcomes["clean"].items():
        assert outcome.baseline is None, f"{probe}: {outcome.baseline}"
        assert not outcome.failures, _failure_text(case, outcome)
    silent = outcomes["clean"]["silent 4s /"][1].evidence
    assert silent["durations"]["nginx"] >= 4 and silent["durations"]["gateway"] >= 4
    stream = outcomes["clean"]["sse outlast 9s"][1].evidence
    assert stream["nginx"]["done"] and stream["gateway"]["done"] and stream["gateway"]["elapsed"] >= 9
    assert stream["gateway"]["backends"] == ["inference/llm-gateway"]


def test_a_request_timeout_equal_to_the_read_timeout_cuts_the_long_stream(
    outcomes: dict[str, dict[str, tuple[Case, Outcome]]],
) -> None:
    found = outcomes["request-timeout-as-read-timeout"]
    case, outcome = found["sse outlast 9s"]
    text = _failure_text(case, outcome)
    assert outcome.baseline is None
    assert "completion: nginx 10 events + [DONE] in 9." in text, text
    assert "timeouts.request is a total duration: it cut the stream at 6." in text, text
    assert "proxy-read-timeout 6 s is an idle limit, served it to the end in 9 s" in text, text
    # Silences and the idle limit itself are fine: only the long stream shows the total limit.
    assert not found["silent 4s /"][1].failures and not found["sse silent 4s"][1].failures


def test_a_total_limit_under_the_read_timeout_fails_the_silent_request(
    outcomes: dict[str, dict[str, tuple[Case, Outcome]]],
) -> None:
    case, outcome = outcomes["request-timeout-under-read-timeout"]["silent 4s /"]
    text = _failure_text(case, outcome)
    assert "result: nginx 200 from inference/llm-gateway after 4." in text, text
    assert "gateway 504 after 3." in text, text
    assert "its route timeout (timeouts.request/backendRequest) is 3 s" in text, text


def test_an_idle_limit_under_the_read_timeout_cuts_silences_early(
    outcomes: dict[str, dict[str, tuple[Case, Outcome]]],
) -> None:
    found = outcomes["idle-under-read-timeout"]
    case, outcome = found["silent 4s /"]
    text = _failure_text(case, outcome)
    assert "the Gateway cut the request at 3." in text and "before nginx's 6 s idle limit" in text, text
    case, outcome = found["beyond 6s /"]
    text = _failure_text(case, outcome)
    assert outcome.baseline is None
    assert "cut at: nginx 6." in text and "gateway 3." in text and "before nginx (tolerance 1 s)" in text, text
    case, outcome = found["sse silent 4s"]
    text = _failure_text(case, outcome)
    assert "the Gateway cut the stream during a 4 s silence that nginx's 6 s idle limit allows" in text, text
    # Regular events keep an idle limit from firing: the long stream still completes.
    assert not found["sse outlast 9s"][1].failures


def test_an_answer_sooner_than_asked_is_not_a_pass(outcomes: dict[str, dict[str, tuple[Case, Outcome]]]) -> None:
    case, outcome = outcomes["early-answer"]["silent 4s /"]
    text = _failure_text(case, outcome)
    assert outcome.evidence["gateway"]["status"] == 200
    assert "elapsed: nginx 4." in text and "the Gateway answered before the 4 s the probe asked for" in text, text


def test_nginx_failing_where_it_should_succeed_is_a_broken_baseline(
    outcomes: dict[str, dict[str, tuple[Case, Outcome]]],
) -> None:
    found = outcomes["overstated"]
    _, outcome = found["silent 8s /"]
    assert outcome.baseline is not None
    assert outcome.baseline.startswith("nginx did not serve a request silent for 8 s (504 after 6."), outcome.baseline
    _, outcome = found["sse silent 8s"]
    assert outcome.baseline is not None and "nginx did not complete the stream" in outcome.baseline


def test_a_wrong_backend_that_also_answers_is_named(outcomes: dict[str, dict[str, tuple[Case, Outcome]]]) -> None:
    found = outcomes["other-backend"]
    case, outcome = found["silent 4s /"]
    text = _failure_text(case, outcome)
    assert "backend: nginx inference/llm-gateway, gateway inference/llm-canary" in text, text
    case, outcome = found["sse outlast 9s"]
    text = _failure_text(case, outcome)
    assert "event backend: nginx all 10 events from inference/llm-gateway" in text, text
    assert "10 of 10 events from elsewhere (event 1: inference/llm-canary)" in text, text


def test_envoys_15_s_route_default_is_the_classic_regression(
    outcomes: dict[str, dict[str, tuple[Case, Outcome]]],
) -> None:
    case, outcome = outcomes["no-llm-timeouts"]["silent 18s /"]
    text = _failure_text(case, outcome)
    assert "result: nginx 200 from inference/llm-gateway after 18." in text and "gateway 504 after 15." in text, text
    assert "the classic 15 s regression" in text, text


def test_without_timeouts_cilium_1_20_serves_past_envoys_15_s_default(
    outcomes: dict[str, dict[str, tuple[Case, Outcome]]],
) -> None:
    """The clean twin of the regression above, in the same 18 s: Cilium's max_stream_duration 0s
    switches the route default off, so both sides serve the 18 s silence."""
    case, outcome = outcomes["read-20"]["silent 18s /"]
    assert outcome.baseline is None and not outcome.failures, _failure_text(case, outcome)
    assert outcome.evidence["gateway"]["status"] == 200
    assert outcome.evidence["durations"]["gateway"] >= 18
