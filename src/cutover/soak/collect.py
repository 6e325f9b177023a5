"""A follow-mode Hubble collector: keeps the soak window that Hubble Relay itself cannot hold.

Relay answers from each node's ring buffer (4,095 flows by default), so a 48 h query made at
the end returns minutes. This follows Observer.GetFlows (`follow: true`, like
`hubble observe --follow -o jsonpb`) and appends every response, flows, lost events and node
status alike, to hourly files `flows-YYYYMMDDTHH.jsonpb` in a directory; `pytest -m soak
--hubble-flows DIR` then reads the whole directory.

    python -m cutover.soak.collect --hubble-relay hubble-relay.kube-system.svc:80 --out /reports/flows \\
        [--namespace inference ...] [--hubble-tls-ca ca.crt --hubble-tls-server-name relay.hubble-relay.cilium.io]

After a broken stream it reconnects with `since` set to the last event it wrote, so flows still
in the ring buffers are not lost; what the collector missed while down shows as a gap.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from google.protobuf import json_format

from cutover.errors import CutoverError
from cutover.soak.hubble import OBSERVER_GET_FLOWS, RelayTLS, flow_messages, parse_time, relay_channel

__all__ = ["collect", "main"]

RECONNECT_SECONDS = 5.0


def _file_for(directory: Path, when: dt.datetime) -> Path:
    return directory / f"flows-{when.astimezone(dt.UTC).strftime('%Y%m%dT%H')}.jsonpb"


def collect(
    address: str,
    directory: Path,
    namespaces: Sequence[str] = (),
    tls: RelayTLS | None = None,
    since: dt.datetime | None = None,
    keep_going: Callable[[], bool] = lambda: True,
    log: Callable[[str], None] = print,
) -> int:
    """Follow Relay until keep_going() is false after a stream ends; returns how many events were written."""
    import grpc

    classes = flow_messages()
    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    last = since
    while True:
        request = classes["GetFlowsRequest"](follow=True)
        if last is not None:
            request.since.FromDatetime(last.astimezone(dt.UTC).replace(tzinfo=None))
        for namespace in namespaces:
            request.whitelist.add().source_pod.append(f"{namespace}/")
            request.whitelist.add().destination_pod.append(f"{namespace}/")
        channel = relay_channel(address, tls)
        call = channel.unary_stream(
            OBSERVER_GET_FLOWS,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=classes["GetFlowsResponse"].FromString,
        )
        try:
            for response in call(request):
                if response.HasField("time"):
                    when = response.time.ToDatetime(tzinfo=dt.UTC)
                elif response.HasField("flow") and response.flow.HasField("time"):
                    when = response.flow.time.ToDatetime(tzinfo=dt.UTC)
                else:
                    # A lost-events or node-status message without a time: stamp it on receipt.
                    when = dt.datetime.now(dt.UTC)
                    response.time.FromDatetime(when.replace(tzinfo=None))
                event = json_format.MessageToJson(response, preserving_proto_field_name=True, indent=None)
                with _file_for(directory, when).open("a", encoding="utf-8") as out:
                    out.write(event.replace("\n", " ") + "\n")
                written += 1
                last = max(last, when) if last is not None else when
            log(f"cutover soak collect: the stream from {address} ended after {written} events")
        except grpc.RpcError as exc:
            log(f"cutover soak collect: Hubble Relay at {address} answered {exc.code().name}: {exc.details()}")
        finally:
            channel.close()
        if not keep_going():
            return written
        time.sleep(RECONNECT_SECONDS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cutover.soak.collect", description=__doc__.splitlines()[0])
    parser.add_argument("--hubble-relay", required=True, metavar="HOST:PORT")
    parser.add_argument("--out", required=True, type=Path, help="directory for the hourly jsonpb files")
    parser.add_argument("--namespace", action="append", default=[], help="only flows to or from it (repeatable)")
    parser.add_argument("--since", default=None, help="ISO time to start from (default: what Relay still holds)")
    parser.add_argument("--hubble-tls-ca", default=None)
    parser.add_argument("--hubble-tls-server-name", default=None)
    parser.add_argument("--hubble-tls-cert", default=None)
    parser.add_argument("--hubble-tls-key", default=None)
    options = parser.parse_args(argv)
    tls = RelayTLS(
        options.hubble_tls_ca, options.hubble_tls_server_name, options.hubble_tls_cert, options.hubble_tls_key
    )
    since = parse_time(options.since) if options.since else None
    try:
        collect(options.hubble_relay, options.out, options.namespace, tls, since)
    except CutoverError as exc:
        print(f"cutover soak collect: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
