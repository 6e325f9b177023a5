"""The coverage check's timeout part, rule by rule: each Ingress rule is compared with the
timeout of the HTTPRoute rule that serves it (not the longest over all rules), and on a
streaming Ingress a total-duration limit (timeouts.request) is named for what it is."""

from __future__ import annotations

from pathlib import Path

from cutover.checks.base import Outcome, ProbeContext
from cutover.cluster.checks import ClusterSettings, cluster_cases
from cutover.cluster.source import ManifestSource
from cutover.cluster.state import read_state
from cutover.targets import parse_targets

OBJECTS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: llm
  namespace: inference
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "120"
    nginx.ingress.kubernetes.io/proxy-buffering: "off"
spec:
  ingressClassName: nginx
  rules:
    - host: llm.example
      http:
        paths:
          - {path: /v1, pathType: Prefix, backend: {service: {name: llm, port: {number: 8080}}}}
          - {path: /batch, pathType: Prefix, backend: {service: {name: llm, port: {number: 8080}}}}
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
metadata: {name: llm, namespace: inference}
spec:
  parentRefs: [{name: gw}]
  hostnames: [llm.example]
  rules:
    - matches: [{path: {type: PathPrefix, value: /v1}}]
      V1_TIMEOUTS
      backendRefs: [{name: llm, port: 8080}]
    - matches: [{path: {type: PathPrefix, value: /batch}}]
      BATCH_TIMEOUTS
      backendRefs: [{name: llm, port: 8080}]
"""
SETTINGS = ClusterSettings(cilium_version="1.20.0")


def _timeouts_case(tmp_path: Path, v1: str, batch: str) -> Outcome:
    directory = tmp_path / "objects"
    directory.mkdir()
    text = OBJECTS.replace("V1_TIMEOUTS", v1 or "filters: []").replace("BATCH_TIMEOUTS", batch or "filters: []")
    (directory / "objects.yaml").write_text(text)
    context = ProbeContext(
        parse_targets({"endpoints": {"nginx": {"address": "-"}, "gateway": {"address": "-"}}, "services": []})
    )
    cases = cluster_cases("coverage", read_state(ManifestSource(directory)), SETTINGS)
    case = next(c for c in cases if c.id == "llm[timeouts]")
    return case.run(context)


def test_no_total_limit_on_any_rule_passes(tmp_path: Path) -> None:
    outcome = _timeouts_case(tmp_path, "", "")
    assert outcome.differences == []
    assert [r["route_timeout"] for r in outcome.evidence["rules"]] == [None, None]


def test_each_rule_is_compared_not_the_longest(tmp_path: Path) -> None:
    # /batch's 600 s used to hide /v1's 30 s: the longest over all rules was compared.
    outcome = _timeouts_case(tmp_path, "timeouts: {request: 30s}", "timeouts: {request: 600s}")
    lines = [d.line() for d in outcome.failures]
    assert len(lines) == 1, lines
    assert (
        "for llm.example/v1: expected 120 s, found HTTPRoute timeout 30 s (HTTPRoute inference/llm rule 0)" in lines[0]
    )
    assert "the route gives up sooner than nginx did; and it is a total duration" in lines[0]
    # 600 s may be longer than every stream: a warning, the sse probes decide.
    assert [d.field for d in outcome.warnings] == [
        "Ingress inference/llm metadata.annotations[proxy-read-timeout] for llm.example/batch"
    ]


def test_a_request_timeout_copied_from_the_read_timeout_fails_on_a_streaming_rule(tmp_path: Path) -> None:
    outcome = _timeouts_case(tmp_path, "timeouts: {request: 120s, backendRequest: 120s}", "")
    lines = [d.line() for d in outcome.failures]
    assert len(lines) == 1, lines
    assert "expected 120 s (idle), found HTTPRoute timeout 120 s (HTTPRoute inference/llm rule 0), a total" in lines[0]
    assert "timeouts.request is a total duration: a stream still running at 120 s is cut" in lines[0]
