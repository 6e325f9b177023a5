"""Hubble flows from Hubble Relay's gRPC Observer API or from `hubble observe -o jsonpb` files.

No generated code: the few messages cutover reads are described here by their field
numbers (Cilium's api/v1/flow and api/v1/observer, Apache-2.0) and built with protobuf's
descriptor API; fields not described here are skipped on the wire, as protobuf does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, timestamp_pb2

from cutover.errors import CutoverError, InputError

__all__ = ["OBSERVER_GET_FLOWS", "flow_messages", "flows_from_file", "flows_from_relay", "parse_time"]

OBSERVER_GET_FLOWS = "/observer.Observer/GetFlows"
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
        ("node_name", 1000, _F.TYPE_STRING, _OPT, ""),
        ("time", 1001, _F.TYPE_MESSAGE, _OPT, ".google.protobuf.Timestamp"),
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
    timestamp = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(timestamp)
    pool.Add(timestamp)
    pool.Add(_file("flow/flow.proto", "flow", _MESSAGES, _ENUMS, ["google/protobuf/timestamp.proto"]))
    pool.Add(
        _file(
            "observer/observer.proto", "observer", _OBSERVER, {}, ["google/protobuf/timestamp.proto", "flow/flow.proto"]
        )
    )
    names = {
        "Flow": "flow.Flow",
        "FlowFilter": "flow.FlowFilter",
        "GetFlowsRequest": "observer.GetFlowsRequest",
        "GetFlowsResponse": "observer.GetFlowsResponse",
    }
    return {short: message_factory.GetMessageClass(pool.FindMessageTypeByName(full)) for short, full in names.items()}


_CLASSES: dict[str, Any] | None = None


def flow_messages() -> dict[str, Any]:
    """The message classes: Flow, FlowFilter, GetFlowsRequest, GetFlowsResponse."""
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


def flows_from_file(path: Path) -> Iterator[dict[str, Any]]:
    """Flows from `hubble observe -o jsonpb` (one GetFlowsResponse as JSON per line)."""
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
        flow = event.get("flow") if isinstance(event, dict) else None
        if isinstance(flow, dict):
            yield flow


def flows_from_relay(
    address: str,
    since: dt.datetime,
    until: dt.datetime,
    namespaces: list[str],
    ca_file: str | None = None,
    timeout: float = 120.0,
) -> Iterator[dict[str, Any]]:
    """Flows over a window from Hubble Relay's Observer.GetFlows (server streaming)."""
    import grpc

    classes = flow_messages()
    request = classes["GetFlowsRequest"]()
    request.since.FromDatetime(since.astimezone(dt.UTC).replace(tzinfo=None))
    request.until.FromDatetime(until.astimezone(dt.UTC).replace(tzinfo=None))
    for namespace in namespaces:
        # One filter per direction: a flow to or from the namespace.
        request.whitelist.add().source_pod.append(f"{namespace}/")
        request.whitelist.add().destination_pod.append(f"{namespace}/")
    if ca_file:
        credentials = grpc.ssl_channel_credentials(root_certificates=Path(ca_file).read_bytes())
        channel = grpc.secure_channel(address, credentials)
    else:
        channel = grpc.insecure_channel(address)
    call = channel.unary_stream(
        OBSERVER_GET_FLOWS,
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=classes["GetFlowsResponse"].FromString,
    )
    try:
        for response in call(request, timeout=timeout):
            if response.HasField("flow"):
                yield json_format.MessageToDict(response.flow, preserving_proto_field_name=True)
    except grpc.RpcError as exc:
        raise CutoverError(f"Hubble Relay at {address} answered {exc.code().name}: {exc.details()}") from None
    finally:
        channel.close()
