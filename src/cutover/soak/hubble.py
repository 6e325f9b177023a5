"""Hubble flows from Hubble Relay's gRPC Observer API or from `hubble observe -o jsonpb` files.

No generated code: the few messages cutover reads are described here by their field
numbers (Cilium's api/v1/flow and api/v1/observer, Apache-2.0) and built with protobuf's
descriptor API; fields not described here are skipped on the wire, as protobuf does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, timestamp_pb2, wrappers_pb2

from cutover.errors import CutoverError, InputError

__all__ = [
    "OBSERVER_GET_FLOWS",
    "OBSERVER_SERVER_STATUS",
    "HubbleRead",
    "RelayTLS",
    "flow_messages",
    "flows_from_file",
    "flows_from_relay",
    "parse_time",
    "read_files",
    "read_relay",
    "relay_channel",
    "responses_from_file",
    "responses_from_relay",
    "server_status",
]

OBSERVER_GET_FLOWS = "/observer.Observer/GetFlows"
OBSERVER_SERVER_STATUS = "/observer.Observer/ServerStatus"
_F = descriptor_pb2.FieldDescriptorProto

_ENUMS: dict[str, list[tuple[str, int]]] = {
    "Verdict": [
        ("VERDICT_UNKNOWN", 0),
        ("FORWARDED", 1),
        ("DROPPED", 2),
        ("ERROR", 3),
        ("AUDIT", 4),
        ("REDIRECTED", 5),
        ("TRACED", 6),
        ("TRANSLATED", 7),
    ],
    "FlowType": [("UNKNOWN_TYPE", 0), ("L3_L4", 1), ("L7", 2), ("SOCK", 3)],
    "L7FlowType": [("UNKNOWN_L7_TYPE", 0), ("REQUEST", 1), ("RESPONSE", 2), ("SAMPLE", 3)],
    "TrafficDirection": [("TRAFFIC_DIRECTION_UNKNOWN", 0), ("INGRESS", 1), ("EGRESS", 2)],
    "LostEventSource": [
        ("UNKNOWN_LOST_EVENT_SOURCE", 0),
        ("PERF_EVENT_RING_BUFFER", 1),
        ("OBSERVER_EVENTS_QUEUE", 2),
        ("HUBBLE_RING_BUFFER", 3),
    ],
    "DropReason": [
        ("DROP_REASON_UNKNOWN", 0),
        ("POLICY_DENIED", 133),
        ("INVALID_PACKET_DROPPED", 134),
        ("SERVICE_BACKEND_NOT_FOUND", 158),
        ("POLICY_DENY", 181),
        ("AUTH_REQUIRED", 189),
    ],
}
# (message, [(field, number, type, label, type_name)])
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_MESSAGES: dict[str, list[tuple[str, int, int, int, str]]] = {
    "Endpoint": [
        ("ID", 1, _F.TYPE_UINT32, _OPT, ""),
        ("identity", 2, _F.TYPE_UINT32, _OPT, ""),
        ("namespace", 3, _F.TYPE_STRING, _OPT, ""),
        ("labels", 4, _F.TYPE_STRING, _REP, ""),
        ("pod_name", 5, _F.TYPE_STRING, _OPT, ""),
    ],
    "Service": [("name", 1, _F.TYPE_STRING, _OPT, ""), ("namespace", 2, _F.TYPE_STRING, _OPT, "")],
    "HTTP": [
        ("code", 1, _F.TYPE_UINT32, _OPT, ""),
        ("method", 2, _F.TYPE_STRING, _OPT, ""),
        ("url", 3, _F.TYPE_STRING, _OPT, ""),
        ("protocol", 4, _F.TYPE_STRING, _OPT, ""),
    ],
    "Layer7": [
        ("type", 1, _F.TYPE_ENUM, _OPT, ".flow.L7FlowType"),
        ("latency_ns", 2, _F.TYPE_UINT64, _OPT, ""),
        ("http", 101, _F.TYPE_MESSAGE, _OPT, ".flow.HTTP"),
    ],
    "Flow": [
        ("time", 1, _F.TYPE_MESSAGE, _OPT, ".google.protobuf.Timestamp"),
        ("verdict", 2, _F.TYPE_ENUM, _OPT, ".flow.Verdict"),
        ("source", 8, _F.TYPE_MESSAGE, _OPT, ".flow.Endpoint"),
        ("destination", 9, _F.TYPE_MESSAGE, _OPT, ".flow.Endpoint"),
        ("Type", 10, _F.TYPE_ENUM, _OPT, ".flow.FlowType"),
        ("node_name", 11, _F.TYPE_STRING, _OPT, ""),
        ("l7", 15, _F.TYPE_MESSAGE, _OPT, ".flow.Layer7"),
        ("source_service", 20, _F.TYPE_MESSAGE, _OPT, ".flow.Service"),
        ("destination_service", 21, _F.TYPE_MESSAGE, _OPT, ".flow.Service"),
        ("traffic_direction", 22, _F.TYPE_ENUM, _OPT, ".flow.TrafficDirection"),
        ("drop_reason_desc", 25, _F.TYPE_ENUM, _OPT, ".flow.DropReason"),
        ("Summary", 100000, _F.TYPE_STRING, _OPT, ""),
    ],
    "FlowFilter": [("source_pod", 2, _F.TYPE_STRING, _REP, ""), ("destination_pod", 4, _F.TYPE_STRING, _REP, "")],
    "LostEvent": [
        ("source", 1, _F.TYPE_ENUM, _OPT, ".flow.LostEventSource"),
        ("num_events_lost", 2, _F.TYPE_UINT64, _OPT, ""),
        ("first", 4, _F.TYPE_MESSAGE, _OPT, ".google.protobuf.Timestamp"),
        ("last", 5, _F.TYPE_MESSAGE, _OPT, ".google.protobuf.Timestamp"),
    ],
}
# Cilium's api/v1/relay/relay.proto: what Relay says about the nodes behind a GetFlows call.
_RELAY_ENUMS: dict[str, list[tuple[str, int]]] = {
    "NodeState": [
        ("UNKNOWN_NODE_STATE", 0),
        ("NODE_CONNECTED", 1),
        ("NODE_UNAVAILABLE", 2),
        ("NODE_GONE", 3),
        ("NODE_ERROR", 4),
    ],
}
_RELAY: dict[str, list[tuple[str, int, int, int, str]]] = {
    "NodeStatusEvent": [
        ("state_change", 1, _F.TYPE_ENUM, _OPT, ".relay.NodeState"),
        ("node_names", 2, _F.TYPE_STRING, _REP, ""),
        ("message", 3, _F.TYPE_STRING, _OPT, ""),
    ],
}
_OBSERVER: dict[str, list[tuple[str, int, int, int, str]]] = {
    "GetFlowsRequest": [
        ("number", 1, _F.TYPE_UINT64, _OPT, ""),
        ("follow", 3, _F.TYPE_BOOL, _OPT, ""),
        ("whitelist", 6, _F.TYPE_MESSAGE, _REP, ".flow.FlowFilter"),
        ("since", 7, _F.TYPE_MESSAGE, _OPT, ".google.protobuf.Timestamp"),
        ("until", 8, _F.TYPE_MESSAGE, _OPT, ".google.protobuf.Timestamp"),
        ("first", 9, _F.TYPE_BOOL, _OPT, ""),
    ],
    "GetFlowsResponse": [
        ("flow", 1, _F.TYPE_MESSAGE, _OPT, ".flow.Flow"),
        ("node_status", 2, _F.TYPE_MESSAGE, _OPT, ".relay.NodeStatusEvent"),
        ("lost_events", 3, _F.TYPE_MESSAGE, _OPT, ".flow.LostEvent"),
        ("node_name", 1000, _F.TYPE_STRING, _OPT, ""),
        ("time", 1001, _F.TYPE_MESSAGE, _OPT, ".google.protobuf.Timestamp"),
    ],
    "ServerStatusRequest": [],
    "ServerStatusResponse": [
        ("num_flows", 1, _F.TYPE_UINT64, _OPT, ""),
        ("max_flows", 2, _F.TYPE_UINT64, _OPT, ""),
        ("seen_flows", 3, _F.TYPE_UINT64, _OPT, ""),
        ("uptime_ns", 4, _F.TYPE_UINT64, _OPT, ""),
        ("num_connected_nodes", 5, _F.TYPE_MESSAGE, _OPT, ".google.protobuf.UInt32Value"),
        ("num_unavailable_nodes", 6, _F.TYPE_MESSAGE, _OPT, ".google.protobuf.UInt32Value"),
        ("unavailable_nodes", 7, _F.TYPE_STRING, _REP, ""),
        ("version", 8, _F.TYPE_STRING, _OPT, ""),
    ],
}


def _file(
    name: str,
    package: str,
    messages: dict[str, list[tuple[str, int, int, int, str]]],
    enums: dict[str, list[tuple[str, int]]],
    deps: list[str],
) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3", dependency=deps)
    for enum_name, values in enums.items():
        enum = proto.enum_type.add(name=enum_name)
        for value_name, number in values:
            enum.value.add(name=value_name, number=number)
    for message_name, fields in messages.items():
        message = proto.message_type.add(name=message_name)
        for field_name, number, kind, label, type_name in fields:
            added = message.field.add(name=field_name, number=number, type=kind, label=label, json_name=field_name)
            if type_name:
                added.type_name = type_name
    return proto


def _build() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    for well_known in (timestamp_pb2, wrappers_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        well_known.DESCRIPTOR.CopyToProto(proto)
        pool.Add(proto)
    pool.Add(_file("flow/flow.proto", "flow", _MESSAGES, _ENUMS, ["google/protobuf/timestamp.proto"]))
    pool.Add(_file("relay/relay.proto", "relay", _RELAY, _RELAY_ENUMS, []))
    pool.Add(
        _file(
            "observer/observer.proto",
            "observer",
            _OBSERVER,
            {},
            [
                "google/protobuf/timestamp.proto",
                "google/protobuf/wrappers.proto",
                "flow/flow.proto",
                "relay/relay.proto",
            ],
        )
    )
    names = {
        "Flow": "flow.Flow",
        "FlowFilter": "flow.FlowFilter",
        "GetFlowsRequest": "observer.GetFlowsRequest",
        "GetFlowsResponse": "observer.GetFlowsResponse",
        "ServerStatusRequest": "observer.ServerStatusRequest",
        "ServerStatusResponse": "observer.ServerStatusResponse",
    }
    return {short: message_factory.GetMessageClass(pool.FindMessageTypeByName(full)) for short, full in names.items()}


_CLASSES: dict[str, Any] | None = None


def flow_messages() -> dict[str, Any]:
    """The message classes: Flow, FlowFilter, GetFlowsRequest, GetFlowsResponse, ServerStatusRequest,
    ServerStatusResponse."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _build()
    return _CLASSES


def parse_time(value: str) -> dt.datetime:
    text = value.strip().replace("Z", "+00:00")
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class RelayTLS:
    """TLS to Hubble Relay, like `hubble --tls --tls-ca-cert-files --tls-server-name
    --tls-client-cert-file --tls-client-key-file`. The relay's certificate is issued for
    `*.hubble-relay.cilium.io`, not for the address clients dial: `server_name` overrides the
    name checked (e.g. `relay.hubble-relay.cilium.io`)."""

    ca: str | None = None
    server_name: str | None = None
    cert: str | None = None
    key: str | None = None

    @property
    def enabled(self) -> bool:
        return any((self.ca, self.server_name, self.cert, self.key))


@dataclass
class HubbleRead:
    """What a Hubble source returned: the flows, and what says they are not the whole story."""

    flows: list[dict[str, Any]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    # When each lost-events message was observed (None when it carries no time).
    lost_times: list[dt.datetime | None] = field(default_factory=list)
    unavailable_nodes: list[str] = field(default_factory=list)
    # Relay's ServerStatus: how many flows it can hold at all (the nodes' ring buffers).
    status: dict[str, Any] = field(default_factory=dict)

    def lost_within(self, since: dt.datetime, until: dt.datetime) -> list[str]:
        """Lost-events messages inside the window, or without a time (they may be)."""
        return [
            text
            for text, when in zip(self.lost, self.lost_times, strict=True)
            if when is None or since <= when <= until
        ]

    def seen(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The first and last flow time actually returned."""
        times = [parse_time(str(f["time"])) for f in self.flows if f.get("time")]
        return (min(times), max(times)) if times else None


_BAD_NODE_STATES = {"NODE_UNAVAILABLE", "NODE_GONE", "NODE_ERROR", 2, 3, 4}


def _either(event: dict[str, Any], snake: str, camel: str) -> Any:
    return event.get(snake) if snake in event else event.get(camel)


def collect(responses: Iterable[dict[str, Any]]) -> HubbleRead:
    """Sort GetFlowsResponse (or exporter ExportEvent) messages, as dicts, into a HubbleRead."""
    read = HubbleRead()
    for event in responses:
        flow = event.get("flow")
        if isinstance(flow, dict):
            read.flows.append(flow)
            continue
        node = str(_either(event, "node_name", "nodeName") or "")
        lost = _either(event, "lost_events", "lostEvents")
        if isinstance(lost, dict):
            count = _either(lost, "num_events_lost", "numEventsLost") or 0
            source = lost.get("source") or "UNKNOWN_LOST_EVENT_SOURCE"
            when = event.get("time") or lost.get("first")
            read.lost.append(f"{count} events lost ({source}){' on ' + node if node else ''} at {when or '?'}")
            read.lost_times.append(parse_time(str(when)) if when else None)
            continue
        status = _either(event, "node_status", "nodeStatus")
        if isinstance(status, dict) and _either(status, "state_change", "stateChange") in _BAD_NODE_STATES:
            names = _either(status, "node_names", "nodeNames") or [node or "?"]
            state = _either(status, "state_change", "stateChange")
            message = f": {status['message']}" if status.get("message") else ""
            read.unavailable_nodes += [f"{name} {state}{message}" for name in names]
    return read


def responses_from_file(path: Path) -> Iterator[dict[str, Any]]:
    """`hubble observe -o jsonpb` lines (GetFlowsResponse) or flow exporter lines (ExportEvent)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror}", file=str(path), field="--hubble-flows") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            raise InputError(
                f"line {number} is not JSON (expected `hubble observe -o jsonpb` output)",
                file=str(path),
                field="--hubble-flows",
            ) from None
        if isinstance(event, dict):
            yield event


def flows_from_file(path: Path) -> Iterator[dict[str, Any]]:
    """Flows from `hubble observe -o jsonpb` (one GetFlowsResponse as JSON per line)."""
    for event in responses_from_file(path):
        flow = event.get("flow")
        if isinstance(flow, dict):
            yield flow


def read_files(path: Path) -> HubbleRead:
    """One file, or every file in a directory (a follow-mode collector's or the exporter's rotated files)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise InputError("holds no flow files", file=str(path), field="--hubble-flows")
    else:
        files = [path]
    return collect(event for file in files for event in responses_from_file(file))


def relay_channel(address: str, tls: RelayTLS | None) -> Any:
    import grpc

    if tls is None or not tls.enabled:
        return grpc.insecure_channel(address)

    def read(name: str | None, what: str) -> bytes | None:
        if not name:
            return None
        try:
            return Path(name).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot be read: {exc.strerror}", file=name, field=what) from None

    if bool(tls.cert) != bool(tls.key):
        raise InputError(
            "--hubble-tls-cert and --hubble-tls-key go together (a client certificate and its key)",
            field="--hubble-tls-cert",
        )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(tls.ca, "--hubble-tls-ca"),
        private_key=read(tls.key, "--hubble-tls-key"),
        certificate_chain=read(tls.cert, "--hubble-tls-cert"),
    )
    options = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
    return grpc.secure_channel(address, credentials, options=options)


def _relay_error(address: str, exc: Any) -> CutoverError:
    return CutoverError(f"Hubble Relay at {address} answered {exc.code().name}: {exc.details()}")


def responses_from_relay(
    address: str,
    since: dt.datetime,
    until: dt.datetime,
    namespaces: list[str],
    tls: RelayTLS | None = None,
    timeout: float = 120.0,
) -> Iterator[dict[str, Any]]:
    """Every GetFlowsResponse over a window from Hubble Relay's Observer.GetFlows (server
    streaming), as dicts: flows, lost events and node status messages."""
    import grpc

    classes = flow_messages()
    request = classes["GetFlowsRequest"]()
    request.since.FromDatetime(since.astimezone(dt.UTC).replace(tzinfo=None))
    request.until.FromDatetime(until.astimezone(dt.UTC).replace(tzinfo=None))
    for namespace in namespaces:
        # One filter per direction: a flow to or from the namespace.
        request.whitelist.add().source_pod.append(f"{namespace}/")
        request.whitelist.add().destination_pod.append(f"{namespace}/")
    channel = relay_channel(address, tls)
    call = channel.unary_stream(
        OBSERVER_GET_FLOWS,
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=classes["GetFlowsResponse"].FromString,
    )
    try:
        for response in call(request, timeout=timeout):
            yield json_format.MessageToDict(response, preserving_proto_field_name=True)
    except grpc.RpcError as exc:
        raise _relay_error(address, exc) from None
    finally:
        channel.close()


def flows_from_relay(
    address: str,
    since: dt.datetime,
    until: dt.datetime,
    namespaces: list[str],
    ca_file: str | None = None,
    timeout: float = 120.0,
    tls: RelayTLS | None = None,
) -> Iterator[dict[str, Any]]:
    """Flows over a window from Hubble Relay's Observer.GetFlows."""
    tls = tls or (RelayTLS(ca=ca_file) if ca_file else None)
    for event in responses_from_relay(address, since, until, namespaces, tls, timeout):
        flow = event.get("flow")
        if isinstance(flow, dict):
            yield flow


def server_status(address: str, tls: RelayTLS | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Relay's ServerStatus (flows held, ring capacity, unavailable nodes); {} when not implemented."""
    import grpc

    classes = flow_messages()
    channel = relay_channel(address, tls)
    call = channel.unary_unary(
        OBSERVER_SERVER_STATUS,
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=classes["ServerStatusResponse"].FromString,
    )
    try:
        response = call(classes["ServerStatusRequest"](), timeout=timeout)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return {}
        raise _relay_error(address, exc) from None
    finally:
        channel.close()
    result: dict[str, Any] = json_format.MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return result


def read_relay(
    address: str,
    since: dt.datetime,
    until: dt.datetime,
    namespaces: list[str],
    tls: RelayTLS | None = None,
    timeout: float = 120.0,
) -> HubbleRead:
    """The window from Relay, with its ServerStatus: unavailable nodes make the read incomplete."""
    status = server_status(address, tls, timeout=min(timeout, 30.0))
    read = collect(responses_from_relay(address, since, until, namespaces, tls, timeout))
    read.status = status
    read.unavailable_nodes += [f"{name} unavailable (ServerStatus)" for name in status.get("unavailable_nodes") or []]
    unavailable = int(status.get("num_unavailable_nodes") or 0)
    if unavailable and not status.get("unavailable_nodes"):
        read.unavailable_nodes.append(f"{unavailable} nodes unavailable (ServerStatus)")
    return read
