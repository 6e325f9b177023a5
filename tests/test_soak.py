"""The soak check through a real gRPC server on loopback that serves recorded Hubble flows
(Observer.GetFlows), and through exported jsonpb files: drops fail, clean flows pass."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import kubernetes_validate
import pytest
import trustme
import yaml
from google.protobuf import json_format

from cutover.checks.base import ProbeContext
from cutover.errors import CutoverError
from cutover.soak.check import NOT_VERIFIED, analyse, soak_cases
from cutover.soak.collect import collect
from cutover.soak.hubble import (
    HubbleRead,
    RelayTLS,
    flow_messages,
    flows_from_file,
    flows_from_relay,
    parse_time,
    read_files,
    read_relay,
)
from cutover.targets import ServiceTarget, parse_targets
from tests.conftest import ROOT, run_checks

FLOWS = ROOT / "fixtures" / "hubble"
END = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


class RecordedRelay:
    """A gRPC Observer service on 127.0.0.1 that answers GetFlows from a recorded file,
    honouring since/until and the namespace filters, and records the requests it got.

    `extra` GetFlowsResponse messages (lost events, node status) follow the flows; `status` is
    what ServerStatus answers; `tls` serves TLS (and requires a client certificate when set)."""

    def __init__(
        self,
        recording: Path | list[dict[str, Any]],
        extra: list[dict[str, Any]] | None = None,
        status: dict[str, Any] | None = None,
        tls: grpc.ServerCredentials | None = None,
    ) -> None:
        if isinstance(recording, Path):
            self.responses = [json.loads(line) for line in recording.read_text().splitlines() if line.strip()]
        else:
            self.responses = recording
        self.requests: list[dict[str, Any]] = []
        classes = flow_messages()

        def get_flows(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            self.requests.append(json_format.MessageToDict(request, preserving_proto_field_name=True))
            since = request.since.ToDatetime(tzinfo=dt.UTC) if request.HasField("since") else None
            until = request.until.ToDatetime(tzinfo=dt.UTC) if request.HasField("until") else None
            wanted = {p.rstrip("/") for f in request.whitelist for p in (*f.source_pod, *f.destination_pod)}
            for event in self.responses:
                flow = event["flow"]
                when = parse_time(flow["time"])
                if (since and when < since) or (until and when > until):
                    continue
                namespaces = {(flow.get(side) or {}).get("namespace") for side in ("source", "destination")}
                if wanted and not wanted & namespaces:
                    continue
                response = classes["GetFlowsResponse"]()
                json_format.ParseDict(flow, response.flow, ignore_unknown_fields=True)
                response.node_name = event.get("node_name", "")
                yield response
            for message in extra or []:
                yield json_format.ParseDict(message, classes["GetFlowsResponse"](), ignore_unknown_fields=True)

        def server_status(request: Any, context: grpc.ServicerContext) -> Any:
            return json_format.ParseDict(status or {}, classes["ServerStatusResponse"]())

        handler = grpc.method_handlers_generic_handler(
            "observer.Observer",
            {
                "GetFlows": grpc.unary_stream_rpc_method_handler(
                    get_flows,
                    request_deserializer=classes["GetFlowsRequest"].FromString,
                    response_serializer=lambda message: message.SerializeToString(),
                ),
                "ServerStatus": grpc.unary_unary_rpc_method_handler(
                    server_status,
                    request_deserializer=classes["ServerStatusRequest"].FromString,
                    response_serializer=lambda message: message.SerializeToString(),
                ),
            },
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
        if tls is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self.server.add_secure_port("127.0.0.1:0", tls)
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None).wait()


@pytest.fixture
def relay() -> Iterator[Any]:
    started: list[RecordedRelay] = []

    def start(recording: str | list[dict[str, Any]], **kwargs: Any) -> RecordedRelay:
        server = RecordedRelay(FLOWS / recording if isinstance(recording, str) else recording, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


SERVICES = [
    ServiceTarget("qdrant", "qdrant.metalkube.internal", 2, "inference", backends=["inference/qdrant"]),
    ServiceTarget("llm-gateway", "api.metalkube.internal", 2, "inference", backends=["inference/llm-gateway"]),
    ServiceTarget("grafana", "grafana.metalkube.internal", 1, "monitoring", backends=["monitoring/grafana"]),
]


def test_analyse_counts_per_service_inside_the_window() -> None:
    results, total = analyse(
        flows_from_file(FLOWS / "flows-dropped.jsonpb"), SERVICES, END - dt.timedelta(hours=48), END
    )
    assert total > 300
    assert (results["qdrant"].dropped, results["llm-gateway"].http_5xx, results["grafana"].dropped) == (3, 1, 0)
    assert (
        "POLICY_DENIED" in results["qdrant"].examples[0]
        and "reserved:ingress -> inference/qdrant-0" in results["qdrant"].examples[0]
    )
    clean, _ = analyse(flows_from_file(FLOWS / "flows-clean.jsonpb"), SERVICES, END - dt.timedelta(hours=48), END)
    assert clean["qdrant"].dropped == 0  # the drop 60 h back is outside the window
    wide, _ = analyse(flows_from_file(FLOWS / "flows-clean.jsonpb"), SERVICES, END - dt.timedelta(hours=72), END)
    assert wide["qdrant"].dropped == 1


def test_relay_client_reads_the_window_over_grpc(relay: Any) -> None:
    server = relay("flows-dropped.jsonpb")
    flows = list(flows_from_relay(server.address, END - dt.timedelta(hours=48), END, ["inference"]))
    assert flows and all(
        "inference" in {(f.get(s) or {}).get("namespace") for s in ("source", "destination")} for f in flows
    )
    assert sum(1 for f in flows if f.get("verdict") == "DROPPED") == 3
    request = server.requests[0]
    assert request["since"].startswith("2026-11-22T12:00:00") and request["until"].startswith("2026-11-24T12:00:00")
    assert {"source_pod": ["inference/"]} in request["whitelist"]


def run_soak(*args: str) -> subprocess.CompletedProcess[str]:
    return run_checks("-m", "soak", "--no-go-report", *args, timeout=300)


@pytest.mark.parametrize("via", ["file", "grpc"])
def test_dropped_flows_fail_the_soak_check(relay: Any, via: str) -> None:
    if via == "file":
        args = ["--hubble-flows", str(FLOWS / "flows-dropped.jsonpb")]
    else:
        args = ["--hubble-relay", relay("flows-dropped.jsonpb").address, "--soak-until", END.isoformat()]
    result = run_soak(*args)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "qdrant: DROPPED verdicts: expected 0, found 3 (over 48 h" in result.stdout
    assert "llm-gateway: HTTP 5xx through the Gateway: expected 0, found 1" in result.stdout
    assert "2026-11-22T12:00:00+00:00 .. 2026-11-24T12:00:00+00:00" in result.stdout or via == "file"


@pytest.mark.parametrize("via", ["file", "grpc"])
def test_clean_flows_pass(relay: Any, via: str) -> None:
    # The recording covers the 48 h ending at END: flows every hour, none for the last hour.
    if via == "file":
        args = ["--hubble-flows", str(FLOWS / "flows-clean.jsonpb"), "--soak-until", END.isoformat()]
    else:
        args = ["--hubble-relay", relay("flows-clean.jsonpb").address, "--soak-until", END.isoformat()]
    result = run_soak(*args)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "6 passed" in result.stdout


def test_no_hubble_source_is_not_a_pass(tmp_path: Path) -> None:
    result = run_checks("-m", "soak", "--report-dir", str(tmp_path), timeout=300)
    assert result.returncode == 1
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    assert summary["verdict"] == "NO-GO"
    assert {c["outcome"] for c in summary["checks"]} == {"not run"}
    assert "--hubble-relay" in summary["checks"][0]["message"]


def test_unreachable_relay_is_a_clear_error() -> None:
    with pytest.raises(Exception, match=r"Hubble Relay at 127\.0\.0\.1:9 answered UNAVAILABLE"):
        list(flows_from_relay("127.0.0.1:9", END - dt.timedelta(hours=1), END, [], timeout=5))


# -- coverage of the window, lost events, unavailable nodes, TLS ---------------------------------


def gateway_flow(service: ServiceTarget, when: dt.datetime, verdict: str = "FORWARDED") -> dict[str, Any]:
    """One recorded flow from the Gateway (the reserved:ingress identity) to a service's pod."""
    namespace, _, name = service.backends[0].partition("/")
    return {
        "flow": {
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.000000000Z"),
            "verdict": verdict,
            "source": {"identity": 8, "labels": ["reserved:ingress"]},
            "destination": {"namespace": namespace, "pod_name": f"{name}-0", "labels": [f"k8s:app={name}"]},
            "destination_service": {"name": name, "namespace": namespace},
            "Type": "L3_L4",
            "node_name": "metalkube-worker-1",
        },
        "node_name": "metalkube-worker-1",
    }


def hourly(services: list[ServiceTarget], hours: int = 48, skip: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """Gateway flows to every service every hour over the window ending at END, but the skipped hours."""
    return [
        gateway_flow(service, END - dt.timedelta(hours=hour, minutes=30))
        for hour in range(hours)
        if hour not in skip
        for service in services
    ]


def write_flows(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def judge(
    read: Any, max_gap: dt.timedelta = dt.timedelta(hours=1), services: list[ServiceTarget] = SERVICES
) -> dict[str, Any]:
    """Run the soak cases on flows already read; returns each service's outcome."""
    context = ProbeContext(
        parse_targets(
            {"endpoints": {"nginx": {"address": "127.0.0.1"}, "gateway": {"address": "127.0.0.1"}}, "services": []}
        )
    )
    cases = soak_cases(services, "test", read, dt.timedelta(hours=48), END, max_gap)
    return {case.service.name: case.run(context) for case in cases}


def test_hourly_gateway_flows_cover_the_window() -> None:
    outcomes = judge(lambda: HubbleRead(flows=[e["flow"] for e in hourly(SERVICES)]))
    assert {name: o.failures for name, o in outcomes.items()} == {s.name: [] for s in SERVICES}
    assert outcomes["qdrant"].evidence["verdict"] == "passed"
    assert outcomes["qdrant"].evidence["largest_gap"].startswith("1 h")


def test_a_gap_just_over_the_bound_is_not_verified() -> None:
    # Hour 20 has no flows: the gap between hour 21's and hour 19's flows is 2 h, just over the 1 h bound.
    read = HubbleRead(flows=[e["flow"] for e in hourly(SERVICES, skip=(20,))])
    outcome = judge(lambda: read)["qdrant"]
    assert outcome.evidence["verdict"] == NOT_VERIFIED
    (difference,) = outcome.failures
    assert difference.line().startswith(
        "not verified: Gateway flows to qdrant: expected no gap over 1 h, found 47 flows, a gap of 2 h "
        "(2026-11-23T14:30:00+00:00 .. 2026-11-23T16:30:00+00:00)"
    )
    # The same flows pass with a bound just above the gap.
    assert judge(lambda: read, max_gap=dt.timedelta(minutes=121))["qdrant"].failures == []


def test_one_flow_in_48_hours_is_not_a_soak() -> None:
    read = HubbleRead(flows=[gateway_flow(s, END - dt.timedelta(hours=24))["flow"] for s in SERVICES])
    outcome = judge(lambda: read)["grafana"]
    assert outcome.evidence["verdict"] == NOT_VERIFIED
    assert "found 1 flows, a gap of 24 h" in outcome.failures[0].line()


def test_drops_are_failures_even_when_the_window_is_not_verified() -> None:
    flows = [e["flow"] for e in hourly(SERVICES, hours=3)]
    flows.append(gateway_flow(SERVICES[0], END - dt.timedelta(hours=1), "DROPPED")["flow"])
    outcome = judge(lambda: HubbleRead(flows=flows))["qdrant"]
    assert outcome.evidence["verdict"] == "failed"
    assert [d.field for d in outcome.failures] == [
        "not verified: Gateway flows to qdrant",
        "qdrant: DROPPED verdicts",
    ]


def test_lost_events_in_a_file_leave_the_window_not_verified(tmp_path: Path) -> None:
    lost = {
        "lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": "1200"},
        "node_name": "worker-2",
        "time": "2026-11-23T03:00:00Z",
    }
    path = write_flows(tmp_path / "flows.jsonpb", [*hourly(SERVICES), lost])
    read = read_files(path)
    assert read.lost == ["1200 events lost (HUBBLE_RING_BUFFER) on worker-2 at 2026-11-23T03:00:00Z"]
    outcome = judge(lambda: read)["llm-gateway"]
    assert outcome.evidence["verdict"] == NOT_VERIFIED
    assert [d.field for d in outcome.failures] == ["not verified: lost events"]


METALKUBE_SERVICES = [
    *SERVICES,
    ServiceTarget("mlflow", "mlflow.metalkube.internal", 1, "mlflow", backends=["mlflow/mlflow"]),
    ServiceTarget("ml-serving", "ml.metalkube.internal", 1, "ml-serving", backends=["ml-serving/ml-serving"]),
    ServiceTarget("argocd", "argocd.metalkube.internal", 3, "argocd", backends=["argocd/argocd-server"]),
]


def test_a_directory_of_collected_files_is_read_whole(tmp_path: Path) -> None:
    # A follow-mode collector rotates its output: hours 0-23 in one file, 24-47 in the next.
    events = hourly(METALKUBE_SERVICES)
    write_flows(tmp_path / "flows-1.jsonpb", events[: len(events) // 2])
    write_flows(tmp_path / "flows-2.jsonpb", events[len(events) // 2 :])
    assert len(read_files(tmp_path).flows) == len(events)
    result = run_soak("--hubble-flows", str(tmp_path), "--soak-until", END.isoformat())
    assert result.returncode == 0, result.stdout[-2000:]
    assert "6 passed" in result.stdout
    older_half = run_soak("--hubble-flows", str(tmp_path / "flows-2.jsonpb"), "--soak-until", END.isoformat())
    assert older_half.returncode == 1
    assert "a gap of 24.5 h (2026-11-23T11:30:00+00:00 .. 2026-11-24T12:00:00+00:00)" in older_half.stdout


def test_unavailable_nodes_over_grpc_leave_the_window_not_verified(relay: Any) -> None:
    unavailable = {
        "node_status": {"state_change": "NODE_UNAVAILABLE", "node_names": ["worker-3"], "message": "connection refused"}
    }
    server = relay(
        hourly(SERVICES),
        extra=[unavailable],
        status={"max_flows": "12285", "num_unavailable_nodes": 1, "unavailable_nodes": ["worker-3"]},
    )
    read = read_relay(server.address, END - dt.timedelta(hours=48), END, ["inference", "monitoring"])
    assert read.unavailable_nodes == [
        "worker-3 NODE_UNAVAILABLE: connection refused",
        "worker-3 unavailable (ServerStatus)",
    ]
    outcome = judge(lambda: read)["grafana"]
    assert outcome.evidence["verdict"] == NOT_VERIFIED
    assert [d.field for d in outcome.failures] == ["not verified: unavailable nodes"]


def test_the_live_mode_says_which_window_it_really_saw(relay: Any) -> None:
    # A ring buffer holds the last two hours only: the soak must say so, not pass.
    server = relay(hourly(SERVICES, hours=2), status={"max_flows": "4095", "num_connected_nodes": 3})
    result = run_soak("--hubble-relay", server.address, "--soak-until", END.isoformat())
    assert result.returncode == 1, result.stdout[-2000:]
    assert (
        "not verified: Gateway flows to qdrant: expected no gap over 1 h, found 2 flows, a gap of 46.5 h "
        "(2026-11-22T12:00:00+00:00 .. 2026-11-24T10:30:00+00:00)" in result.stdout
    )
    assert "returned flows over 2026-11-24T10:30:00+00:00 .. 2026-11-24T11:30:00+00:00" in result.stdout
    assert "ring buffers (4095 flows in all)" in result.stdout


@pytest.fixture(scope="module")
def relay_pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A CA, Relay's certificate for *.hubble-relay.cilium.io (as Cilium issues it), a client certificate."""
    ca = trustme.CA()
    directory = tmp_path_factory.mktemp("relay-pki")
    server = ca.issue_cert("relay.hubble-relay.cilium.io")
    client = ca.issue_cert("cutover.hubble-relay.cilium.io")
    files = {"ca": directory / "ca.pem", "cert": directory / "client.pem", "key": directory / "client.key"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    credentials = grpc.ssl_server_credentials(
        [(server.private_key_pem.bytes(), b"".join(p.bytes() for p in server.cert_chain_pems))],
        root_certificates=ca.cert_pem.bytes(),
        require_client_auth=True,
    )
    return {"files": {k: str(v) for k, v in files.items()}, "server": credentials}


def test_relay_over_mtls_with_a_server_name_override(relay: Any, relay_pki: dict[str, Any]) -> None:
    server = relay("flows-clean.jsonpb", tls=relay_pki["server"])
    files = relay_pki["files"]
    since = END - dt.timedelta(hours=48)
    tls = RelayTLS(ca=files["ca"], server_name="relay.hubble-relay.cilium.io", cert=files["cert"], key=files["key"])
    assert len(list(flows_from_relay(server.address, since, END, ["inference"], tls=tls))) > 100
    # Reached as 127.0.0.1 without the override, the certificate's name does not match.
    with pytest.raises(CutoverError, match="answered UNAVAILABLE"):
        list(
            flows_from_relay(
                server.address,
                since,
                END,
                [],
                tls=RelayTLS(ca=files["ca"], cert=files["cert"], key=files["key"]),
                timeout=10,
            )
        )
    # Without a client certificate the relay refuses the handshake.
    with pytest.raises(CutoverError, match="answered UNAVAILABLE"):
        list(
            flows_from_relay(
                server.address,
                since,
                END,
                [],
                tls=RelayTLS(ca=files["ca"], server_name="relay.hubble-relay.cilium.io"),
                timeout=10,
            )
        )


def test_soak_options_reach_the_relay_over_mtls(relay: Any, relay_pki: dict[str, Any]) -> None:
    server = relay("flows-clean.jsonpb", tls=relay_pki["server"])
    files = relay_pki["files"]
    result = run_soak(
        "--hubble-relay",
        server.address,
        "--soak-until",
        END.isoformat(),
        "--hubble-tls-ca",
        files["ca"],
        "--hubble-tls-server-name",
        "relay.hubble-relay.cilium.io",
        "--hubble-tls-cert",
        files["cert"],
        "--hubble-tls-key",
        files["key"],
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "6 passed" in result.stdout


def test_soak_max_gap_option_is_checked() -> None:
    result = run_soak("--hubble-flows", str(FLOWS / "flows-clean.jsonpb"), "--soak-max-gap", "an hour")
    assert result.returncode == 2  # a usage error stops collection
    assert "--soak-max-gap: 'an hour' is not a duration" in result.stdout


def test_the_follow_mode_collector_keeps_the_window_for_the_soak(relay: Any, tmp_path: Path) -> None:
    inside = {
        "lost_events": {"source": "PERF_EVENT_RING_BUFFER", "num_events_lost": "7"},
        "node_name": "worker-1",
        "time": "2026-11-23T03:00:00Z",
    }
    # No time: the collector stamps it on receipt (today), outside the window that ends at END.
    undated = {"lost_events": {"source": "OBSERVER_EVENTS_QUEUE", "num_events_lost": "2"}, "node_name": "worker-2"}
    server = relay(hourly(METALKUBE_SERVICES), extra=[inside, undated])
    out = tmp_path / "flows"
    written = collect(server.address, out, ["inference"], keep_going=lambda: False, log=lambda line: None)
    assert server.requests[0]["follow"] is True
    read = read_files(out)
    assert written == len(read.flows) + 2 == 2 * 48 + 2  # inference: qdrant and llm-gateway, every hour
    assert len(list(out.glob("flows-*.jsonpb"))) >= 48  # one file per hour
    assert read.lost[0] == "7 events lost (PERF_EVENT_RING_BUFFER) on worker-1 at 2026-11-23T03:00:00Z"
    assert read.lost_times[1] is not None and read.lost_times[1] > END
    outcome = judge(lambda: read)["qdrant"]
    assert [d.line() for d in outcome.failures] == [
        "not verified: lost events: expected none, found 1 lost-events messages (Hubble dropped events, so flows "
        "may be missing; first: 7 events lost (PERF_EVENT_RING_BUFFER) on worker-1 at 2026-11-23T03:00:00Z)"
    ]


def test_the_collector_deployment_validates() -> None:
    path = ROOT / "deploy" / "nightly" / "soak-collector.yaml"
    (deployment,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    kubernetes_validate.validate(deployment, "1.31.0", strict=True)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "cutover.soak.collect"]
    usage = subprocess.run(
        [sys.executable, "-m", "cutover.soak.collect", "--help"], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 0 and "--hubble-relay" in usage.stdout
