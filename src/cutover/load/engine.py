"""The load engine: raw HTTP/1.1 over asyncio streams (TLS with SNI, a chosen source
address), bounded concurrency, one connection per SSE stream, a few KB per open stream.

httpx stays the probe client; for load it collapses under contention (../shared/ref/lessons.md:
~530 req/s pooled async). This engine speaks just enough HTTP/1.1 for the lab's and a real
LLM gateway's answers: Content-Length and chunked bodies, server-sent events.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import json
import resource
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoadResult", "LoadSpec", "RequestSample", "StreamSample", "percentile", "raise_fd_limit", "run_load"]

# Short requests per worker whose body is parsed to see which backend answered.
IDENTIFY_PER_WORKER = 500


@dataclass(frozen=True)
class LoadSpec:
    address: str
    port: int
    host: str
    scheme: str = "https"
    source: str | None = None
    ca_bundle: str | None = None
    stream_path: str = "/"
    streams: int = 50
    request_path: str = "/"
    rate: float = 20.0  # short requests per second, spread evenly; 0 = as fast as possible
    request_connections: int = 4
    duration: float = 10.0
    stream_timeout: float = 120.0


@dataclass
class StreamSample:
    ok: bool
    status: int | None
    error: str | None
    first_event: float | None
    total: float
    events: int


@dataclass
class RequestSample:
    ok: bool
    status: int | None
    error: str | None
    latency: float
    # The Service that answered, when the response names it (the lab's probe backend); sampled.
    backend: str | None = None


@dataclass
class LoadResult:
    side: str
    streams: list[StreamSample] = field(default_factory=list)
    requests: list[RequestSample] = field(default_factory=list)
    elapsed: float = 0.0

    def errors(self, samples: list[StreamSample] | list[RequestSample] | None = None) -> dict[str, int]:
        """Failures by kind (timeout, reset, refused, tls, a status code), streams and requests together
        unless `samples` names one of them."""
        counts: dict[str, int] = {}
        chosen: list[StreamSample | RequestSample] = (
            [*self.streams, *self.requests] if samples is None else list(samples)
        )
        for sample in chosen:
            if not sample.ok:
                kind = sample.error or (f"{sample.status}" if sample.status else "error")
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def backends(self) -> dict[str, int]:
        """How many of the sampled short requests each backend answered."""
        counts: dict[str, int] = {}
        for sample in self.requests:
            if sample.backend is not None:
                counts[sample.backend] = counts.get(sample.backend, 0) + 1
        return dict(sorted(counts.items()))

    def summary(self) -> dict[str, Any]:
        done = [s for s in self.streams if s.ok]
        firsts = [s.first_event for s in done if s.first_event is not None]
        totals = [s.total for s in done]
        latencies = [r.latency for r in self.requests if r.ok]
        return {
            "streams": len(self.streams),
            "completed": len(done),
            "completion_rate": round(len(done) / len(self.streams), 4) if self.streams else None,
            "requests": len(self.requests),
            "requests_ok": len(latencies),
            "requests_per_second": round(len(self.requests) / self.elapsed, 1) if self.elapsed else 0,
            "request_error_rate": round(1 - len(latencies) / len(self.requests), 4) if self.requests else None,
            "errors": self.errors(),
            "stream_errors": self.errors(self.streams),
            "request_errors": self.errors(self.requests),
            "backends": self.backends(),
            "first_event": {f"p{p}": _ms(percentile(firsts, p)) for p in (50, 95, 99)},
            "stream_total": {f"p{p}": _ms(percentile(totals, p)) for p in (50, 95, 99)},
            "request_latency": {f"p{p}": _ms(percentile(latencies, p)) for p in (50, 95, 99)},
            "stream_totals_ms": [_ms(t) for t in sorted(totals)][:2000],
            "request_latencies_ms": [_ms(t) for t in sorted(latencies)][:2000],
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def raise_fd_limit(wanted: int) -> int:
    """Raise the open-files soft limit towards wanted (one descriptor per open stream)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted)) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


class _Connection:
    def __init__(self, spec: LoadSpec, context: ssl.SSLContext | None) -> None:
        self.spec = spec
        self.context = context
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        spec = self.spec
        self.reader, self.writer = await asyncio.open_connection(
            spec.address,
            spec.port,
            ssl=self.context,
            server_hostname=spec.host if self.context else None,
            local_addr=(spec.source, 0) if spec.source else None,
            limit=64 * 1024,
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def request(self, path: str, *, keep_alive: bool, accept: str = "*/*") -> tuple[int, dict[str, str]]:
        assert self.reader is not None and self.writer is not None
        connection = "keep-alive" if keep_alive else "close"
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.spec.host}\r\nAccept: {accept}\r\n"
            f"Accept-Encoding: identity\r\nConnection: {connection}\r\nUser-Agent: cutover-load\r\n\r\n".encode()
        )
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed before the status line")
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    async def body_chunks(self, headers: dict[str, str]) -> Any:
        """Yield the body as it arrives (chunked, sized, or until close)."""
        assert self.reader is not None
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = await self.reader.readline()
                if not size_line:
                    raise ConnectionResetError("connection closed inside a chunked body")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await self.reader.readline()
                    return
                data = await self.reader.readexactly(size)
                await self.reader.readexactly(2)
                yield data
        elif "content-length" in headers:
            remaining = int(headers["content-length"])
            while remaining > 0:
                data = await self.reader.read(min(remaining, 65536))
                if not data:
                    raise ConnectionResetError("connection closed inside the body")
                remaining -= len(data)
                yield data
        else:
            while data := await self.reader.read(65536):
                yield data


def _small_tls_buffers() -> None:
    """asyncio's TLS protocol reads into a 256 KiB buffer per connection; at 1,000 open
    streams that alone is 250 MB. TLS records are at most 16 KiB: 32 KiB is plenty."""
    protocol = getattr(asyncio.sslproto, "SSLProtocol", None)
    if protocol is not None and getattr(protocol, "max_size", 0) > 32 * 1024:
        protocol.max_size = 32 * 1024


def _context(spec: LoadSpec) -> ssl.SSLContext | None:
    if spec.scheme != "https":
        return None
    _small_tls_buffers()
    return ssl.create_default_context(cafile=spec.ca_bundle) if spec.ca_bundle else ssl.create_default_context()


def _kind(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError | asyncio.IncompleteReadError | BrokenPipeError):
        return "reset"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    return type(exc).__name__


async def one_stream(spec: LoadSpec, context: ssl.SSLContext | None, hold: asyncio.Event | None = None) -> StreamSample:
    started = time.monotonic()
    connection = _Connection(spec, context)
    first: float | None = None
    events = 0
    status: int | None = None
    try:
        async with asyncio.timeout(spec.stream_timeout):
            await connection.open()
            status, headers = await connection.request(spec.stream_path, keep_alive=False, accept="text/event-stream")
            if status != 200:
                return StreamSample(
                    False,
                    status,
                    f"{status}" if status >= 500 else f"status {status}",
                    None,
                    time.monotonic() - started,
                    0,
                )
            pending = b""
            async for chunk in connection.body_chunks(headers):
                pending += chunk
                while b"\n\n" in pending:
                    block, pending = pending.split(b"\n\n", 1)
                    if b"data: [DONE]" in block:
                        return StreamSample(True, status, None, first, time.monotonic() - started, events)
                    if b"data:" in block:
                        events += 1
                        if first is None:
                            first = time.monotonic() - started
                            if hold is not None:
                                await hold.wait()
            return StreamSample(False, status, "cut off", first, time.monotonic() - started, events)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        return StreamSample(False, status, _kind(exc), first, time.monotonic() - started, events)
    finally:
        connection.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """Read one whole response; returns (status, server asked to close, body). The hot path of
    the short-request load: one readuntil for the head, one readexactly for the body."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    index = lower.find(b"\r\ncontent-length:")
    if index >= 0:
        end = lower.index(b"\r\n", index + 2)
        body = await reader.readexactly(int(lower[index + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            chunks.append((await reader.readexactly(size + 2))[:size])
            if size == 0:
                break
        body = b"".join(chunks)
    else:
        return status, True, await reader.read()
    return status, b"\r\nconnection: close" in lower, body


def _backend_of(body: bytes) -> str | None:
    """The Service named by the lab's probe backend (its JSON `service` field), if the body is its echo."""
    if not body.startswith(b"{"):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return str(value["service"]) if isinstance(value, dict) and "service" in value else None


async def _request_worker(
    spec: LoadSpec,
    context: ssl.SSLContext | None,
    deadline: float,
    tokens: asyncio.Queue[None] | None,
    samples: list[RequestSample],
) -> None:
    request = (
        f"GET {spec.request_path} HTTP/1.1\r\nHost: {spec.host}\r\nAccept: */*\r\n"
        "Accept-Encoding: identity\r\nUser-Agent: cutover-load\r\n\r\n"
    ).encode()
    connection: _Connection | None = None
    clock = time.monotonic
    started = clock()
    identified = 0
    try:
        # One watchdog for the whole worker instead of a timer per request (the hot path).
        async with asyncio.timeout(max(1.0, deadline - clock()) + 30):
            while clock() < deadline:
                if tokens is not None:
                    try:
                        await asyncio.wait_for(tokens.get(), timeout=max(0.01, deadline - clock()))
                    except TimeoutError:
                        break
                started = clock()
                try:
                    if connection is None:
                        connection = _Connection(spec, context)
                        await connection.open()
                    assert connection.writer is not None and connection.reader is not None
                    connection.writer.write(request)
                    status, close, body = await _read_response(connection.reader)
                    latency = clock() - started
                    # A 403 or 404 under load is a failure too: the request did not reach its backend.
                    ok = 200 <= status < 400
                    # Which backend answered, where the answer says so: a capped sample keeps the hot path lean.
                    backend = _backend_of(body) if identified < IDENTIFY_PER_WORKER else None
                    identified += 1
                    samples.append(RequestSample(ok, status, None if ok else f"{status}", latency, backend))
                    if close:
                        connection.close()
                        connection = None
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                    samples.append(RequestSample(False, None, _kind(exc), clock() - started))
                    if connection is not None:
                        connection.close()
                    connection = None
    except TimeoutError:
        samples.append(RequestSample(False, None, "timeout", clock() - started))
    finally:
        if connection is not None:
            connection.close()


async def _pace(tokens: asyncio.Queue[None], rate: float, deadline: float) -> None:
    interval = 1.0 / rate
    next_at = time.monotonic()
    while next_at < deadline:
        tokens.put_nowait(None)
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def run_load_async(spec: LoadSpec, side: str, progress: Callable[[str], None] | None = None) -> LoadResult:
    raise_fd_limit(spec.streams + spec.request_connections + 64)
    context = _context(spec)
    result = LoadResult(side)
    started = time.monotonic()
    deadline = started + spec.duration
    tokens: asyncio.Queue[None] | None = asyncio.Queue() if spec.rate > 0 else None
    tasks = [asyncio.create_task(one_stream(spec, context)) for _ in range(spec.streams)]
    workers = [
        asyncio.create_task(_request_worker(spec, context, deadline, tokens, result.requests))
        for _ in range(spec.request_connections)
    ]
    pacer = asyncio.create_task(_pace(tokens, spec.rate, deadline)) if tokens is not None else None
    pending = set(tasks)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=2.0)
        if progress is not None:
            finished = spec.streams - len(pending)
            progress(
                f"load {side}: {finished}/{spec.streams} streams done, {len(result.requests)} requests, "
                f"{time.monotonic() - started:.0f} s"
            )
    await asyncio.gather(*workers)
    if pacer is not None:
        pacer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pacer
    result.streams = [t.result() for t in tasks]
    result.elapsed = time.monotonic() - started
    return result


def run_load(spec: LoadSpec, side: str, progress: Callable[[str], None] | None = None) -> LoadResult:
    return asyncio.run(run_load_async(spec, side, progress))
