"""The soak check through a real gRPC server on loopback that serves recorded Hubble flows
(Observer.GetFlows), and through exported jsonpb files: drops fail, clean flows pass."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from cutover.soak.check import analyse
from cutover.soak.hubble import flow_messages, flows_from_file, flows_from_relay, parse_time
from cutover.targets import ServiceTarget
from tests.conftest import ROOT, run_checks

FLOWS = ROOT / "fixtures" / "hubble"
END = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


class RecordedRelay:
    """A gRPC Observer service on 127.0.0.1 that answers GetFlows from a recorded file,
    honouring since/until and the namespace filters, and records the requests it got."""

    def __init__(self, recording: Path) -> None:
        self.responses = [json.loads(line) for line in recording.read_text().splitlines() if line.strip()]
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

        handler = grpc.method_handlers_generic_handler(
            "observer.Observer",
            {
                "GetFlows": grpc.unary_stream_rpc_method_handler(
                    get_flows,
                    request_deserializer=classes["GetFlowsRequest"].FromString,
                    response_serializer=lambda message: message.SerializeToString(),
                ),
            },
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None).wait()


@pytest.fixture
def relay() -> Iterator[Any]:
    started: list[RecordedRelay] = []

    def start(name: str) -> RecordedRelay:
        server = RecordedRelay(FLOWS / name)
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
    if via == "file":
        args = ["--hubble-flows", str(FLOWS / "flows-clean.jsonpb")]
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
