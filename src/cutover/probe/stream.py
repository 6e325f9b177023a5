"""Server-sent events through one endpoint, with the arrival time of every event.

sseclient-py parses the stream; the byte iterator it reads is wrapped so each chunk is
timestamped on arrival (heartbeat comments included). That is how buffering shows:
content can match while every event arrives at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import sseclient

from cutover.probe.client import Endpoint, _error_kind, tls_context

__all__ = ["SSEEvent", "StreamResult", "stream_events"]


@dataclass(frozen=True)
class SSEEvent:
    at: float  # seconds since the request was sent
    event: str
    data: str
    id: str

    @property
    def backend(self) -> str | None:
        """The Service that sent this event, when the probe backend stamped it (`service`)."""
        try:
            value = json.loads(self.data)
        except ValueError:
            return None
        return str(value["service"]) if isinstance(value, dict) and "service" in value else None


@dataclass
class StreamResult:
    endpoint: str
    url: str
    status: int | None = None
    content_type: str = ""
    events: list[SSEEvent] = field(default_factory=list)
    comments: list[float] = field(default_factory=list)
    done: bool = False
    error: str | None = None
    error_kind: str | None = None
    elapsed: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def first_event(self) -> float | None:
        return self.events[0].at if self.events else None

    @property
    def backends(self) -> list[str | None]:
        """Which Service sent each event, in order (None: the event carries no stamp)."""
        return [event.backend for event in self.events]

    def summary(self) -> dict[str, Any]:
        return {
            "request": self.url,
            "status": self.status,
            "content_type": self.content_type,
            "events": len(self.events),
            "done": self.done,
            "first_event": None if self.first_event is None else round(self.first_event, 3),
            "arrivals": [round(e.at, 3) for e in self.events],
            "heartbeats": [round(t, 3) for t in self.comments],
            "backends": sorted({b or "(none)" for b in self.backends}),
            "error": self.error,
            "elapsed": round(self.elapsed, 3),
        }


class _Timestamped:
    """A byte iterator that notes when each chunk arrived and which chunks held comments."""

    def __init__(self, chunks: Iterator[bytes], started: float, result: StreamResult) -> None:
        self.chunks = chunks
        self.started = started
        self.result = result
        self.last_arrival = 0.0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.last_arrival = time.monotonic() - self.started
            for line in chunk.split(b"\n"):
                if line.startswith(b":"):
                    self.result.comments.append(self.last_arrival)
            yield chunk


def stream_events(
    endpoint: Endpoint,
    host: str,
    path: str,
    *,
    scheme: str = "https",
    source: str | None = None,
    ca_bundle: str | None = None,
    timeout: float = 120.0,
    idle_timeout: float = 60.0,
) -> StreamResult:
    url = f"{scheme}://{endpoint.address}:{endpoint.port(scheme)}{path}"
    result = StreamResult(endpoint.name, f"GET {scheme}://{host}{path}")
    transport = httpx.HTTPTransport(
        local_address=source, verify=tls_context(ca_bundle), limits=httpx.Limits(max_keepalive_connections=0)
    )
    headers = {"Host": host, "Accept": "text/event-stream", "Accept-Encoding": "identity", "Connection": "close"}
    started = time.monotonic()
    deadline = started + timeout
    try:
        client_timeout = httpx.Timeout(idle_timeout, connect=10.0)
        with httpx.Client(transport=transport, timeout=client_timeout, trust_env=False) as client:
            request = client.build_request("GET", url, headers=headers, extensions={"sni_hostname": host})
            request.url = request.url.copy_with(raw_path=path.encode())
            response = client.send(request, stream=True)
            try:
                result.status = response.status_code
                result.headers = {k.lower(): v for k, v in response.headers.items()}
                result.content_type = response.headers.get("content-type", "")
                stamped = _Timestamped(response.iter_raw(), started, result)
                for event in sseclient.SSEClient(iter(stamped)).events():
                    if event.data == "[DONE]":
                        result.done = True
                        break
                    result.events.append(SSEEvent(stamped.last_arrival, event.event, event.data, event.id or ""))
                    if time.monotonic() > deadline:
                        result.error, result.error_kind = "client deadline reached", "timeout"
                        break
            finally:
                response.close()
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        result.error_kind = _error_kind(exc)
    result.elapsed = time.monotonic() - started
    return result
