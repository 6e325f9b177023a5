"""Probe backend: the HTTP(S) server that stands in for the Kubernetes Services of the local lab.

It answers every request with a JSON description of what actually arrived (raw request target,
headers, peer, TLS version and SNI), and can be told through the query string to delay, answer
with a given status, add response headers, or stream Server-Sent Events with controlled timing.

Usage::

    python -m cutover.lab.backend --service NAME --listen 127.0.0.1:8080 \\
        [--listen 127.0.0.1:8443,tls,port=443 ...] [--cert CERT.pem --key KEY.pem] [--ready-file PATH]
    python -m cutover.lab.backend --spec SERVICES.json [--ready-file PATH]

The second form serves every Service of the lab from one process (see ``load_spec``): each
Service on its own ports, with its own certificate and its own log file, so the lab costs
kilobytes per Service instead of one interpreter each. One thread accepts on every port; each
connection gets a thread of its own, as with one server per Service. The ready file is written
once, when every port of every Service is listening.

``port=N`` on a listen names the Service port it stands in for: the echo reports it as
``service_port`` (the listening port otherwise), so a check can tell which Service port answered.
With ``CUTOVER_BACKEND_ECHO=off`` in the environment, plain requests get ``ok`` (text/plain)
instead of the JSON echo, as a real backend would: how checks are tested without the echo.

Endpoints (any method):

* ``/healthz``: 200 ``ok`` (text/plain).
* path ending in ``/sse`` or query ``stream=true|1``: an event stream, see ``_SSEParams``.
* path ending in ``/status/<code>`` or query ``status=<code>``: that status with the JSON body.
* anything else: 200 with the JSON body. Query ``delay=<s>`` (capped at 600) sleeps first,
  ``echo_header=<Name>:<value>`` (repeatable) adds response headers; ``note=<text>`` is
  echoed verbatim in the JSON body.

Stdlib only, so it runs from any interpreter without the project's dependencies.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import queue
import re
import resource
import selectors
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs

MAX_DELAY_SECONDS = 600.0
# Long enough for a loaded CI box, short enough that a silent client frees its thread.
HANDSHAKE_TIMEOUT_SECONDS = 10.0
SNI_ATTRIBUTE = "cutover_sni"
LOG_ENV = "CUTOVER_BACKEND_LOG"
ECHO_ENV = "CUTOVER_BACKEND_ECHO"

_ABSOLUTE_FORM = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")
_STATUS_SUFFIX = re.compile(r"(?:^|/)status/(\d+)$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# As http.server escapes the request log: control characters as \xHH.
_CONTROL_CHARS = {c: rf"\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, ssl.SSLError, TimeoutError)


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    tls: bool = False
    # The Service port this listener stands in for (the lab maps Service ports to free ports).
    service_port: int | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f",port={self.service_port}" if self.service_port is not None else ""
        return f"{host}:{self.port}" + (",tls" if self.tls else "") + port


def parse_listen(text: str) -> Listen:
    """Parse ``HOST:PORT[,tls][,port=N]`` (IPv6 hosts in brackets: ``[::1]:8443,tls``)."""
    spec = text.strip()
    if not spec:
        raise ValueError("--listen: empty value, expected HOST:PORT[,tls]")
    address, _, options = spec.partition(",")
    tls = False
    service_port: int | None = None
    for option in options.split(",") if options else []:
        name, sep, value = option.strip().partition("=")
        if name.lower() == "tls" and not sep:
            tls = True
        elif name.lower() == "port" and sep and value.isdigit() and 1 <= int(value) <= 65535:
            service_port = int(value)
        else:
            raise ValueError(f"--listen {text!r}: unknown option {option!r}, the options are 'tls' and 'port=N'")
    if address.startswith("["):
        host, sep, port_text = address[1:].partition("]:")
        if not sep:
            raise ValueError(f"--listen {text!r}: expected [IPV6]:PORT")
    else:
        host, sep, port_text = address.rpartition(":")
        if not sep:
            raise ValueError(f"--listen {text!r}: missing ':PORT', expected HOST:PORT[,tls]")
        if ":" in host:
            raise ValueError(f"--listen {text!r}: put IPv6 hosts in brackets, e.g. [::1]:8443")
    if not host:
        raise ValueError(f"--listen {text!r}: missing host, expected HOST:PORT[,tls]")
    if not port_text.isdigit():
        raise ValueError(f"--listen {text!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"--listen {text!r}: port {port} is outside 1-65535")
    return Listen(host=host, port=port, tls=tls, service_port=service_port)


class _BadRequest(Exception):
    pass


def _one_value(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _float_param(params: dict[str, list[str]], name: str, default: float, cap: float | None = None) -> float:
    raw = _one_value(params, name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _BadRequest(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise _BadRequest(f"{name}={raw!r} must be a finite number >= 0")
    return min(value, cap) if cap is not None else value


def _int_param(params: dict[str, list[str]], name: str, default: int, minimum: int) -> int:
    raw = _one_value(params, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise _BadRequest(f"{name}={raw!r} must be >= {minimum}")
    return value


def _split_target(target: str) -> tuple[str, str]:
    """Return (path, query) of a request target without decoding or normalising anything."""
    before, _, query = target.partition("?")
    absolute = _ABSOLUTE_FORM.match(before)
    if absolute:
        before = before[absolute.end() :]
    return before, query


@dataclass(frozen=True)
class _SSEParams:
    """Stream shape. After event ``gap_after`` (1-based) the stream is silent for ``gap`` seconds
    and the next event follows right after the gap, so the silence measured by a proxy is ``gap``."""

    events: int = 5
    interval: float = 0.2
    heartbeat: float = 0.0
    gap_after: int = -1
    gap: float = 0.0
    first_delay: float = 0.0

    @classmethod
    def from_query(cls, params: dict[str, list[str]]) -> _SSEParams:
        return cls(
            events=_int_param(params, "events", 5, 0),
            interval=_float_param(params, "interval", 0.2, MAX_DELAY_SECONDS),
            heartbeat=_float_param(params, "heartbeat", 0.0, MAX_DELAY_SECONDS),
            gap_after=_int_param(params, "gap_after", -1, -1),
            gap=_float_param(params, "gap", 0.0, MAX_DELAY_SECONDS),
            first_delay=_float_param(params, "first_delay", 0.0, MAX_DELAY_SECONDS),
        )


class _HandlerThreads:
    """Threads that serve one connection after another: a connection takes an idle thread, or a
    new one when none is idle, so a run of a hundred thousand short connections does not start
    a hundred thousand threads, and any number of slow ones (delays, streams) still run at once.
    Daemon threads, as the stdlib's: a stop does not wait for a delay to end."""

    # Threads kept waiting for work after a burst; the rest end.
    MAX_IDLE = 64

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def run(self, call: Callable[[], None]) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._calls.put(call)
        if start:
            threading.Thread(target=self._work, name="cutover-backend-handler", daemon=True).start()

    def _work(self) -> None:
        while True:
            call = self._calls.get()
            # process_request_thread reports its own errors: nothing else may end the thread.
            with contextlib.suppress(Exception):
                call()
            with self._lock:
                if self._idle >= self.MAX_IDLE:
                    return
                self._idle += 1


_HANDLER_THREADS = _HandlerThreads()


class _ProbeServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default joins every handler thread on close, which hangs shutdown as long as a proxy
    # keeps an idle upstream keep-alive connection open.
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self, service: str, listen: Listen, tls_context: ssl.SSLContext | None, log_path: str | None = None
    ) -> None:
        self.service = service
        self.listen = listen
        # Where this Service's messages go (handshake failures, errors, the request log): its own
        # file when one process serves many Services, stderr otherwise.
        self.log_path = log_path
        self.address_family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
        super().__init__((listen.host, listen.port), _ProbeHandler)
        if tls_context is not None:
            # Handshakes happen in the handler thread (see _ProbeHandler.setup) so a client that
            # stalls mid-handshake cannot block accept().
            self.socket = tls_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def process_request(self, request: Any, client_address: Any) -> None:
        # As ThreadingMixIn, on a reused thread instead of a new one per connection.
        _HANDLER_THREADS.run(functools.partial(self.process_request_thread, request, client_address))

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall in a sandbox.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            # Peers vanishing mid-response are routine behind proxies that time out on purpose.
            return
        self.log_line(
            f"cutover-backend[{self.service}]: error handling {client_address}:\n{traceback.format_exc().rstrip()}"
        )

    def log_line(self, message: str) -> None:
        if self.log_path is None:
            print(message, file=sys.stderr, flush=True)
            return
        # Opened per message: messages are rare (errors, or the opt-in request log), and hundreds of
        # Services must not hold hundreds of descriptors. One write per line keeps lines whole.
        with contextlib.suppress(OSError), open(self.log_path, "a", encoding="utf-8") as sink:
            sink.write(message + "\n")


class _ProbeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a proxy that keeps the
    # connection alive waits for a delayed ACK (~40 ms) before the body: not the proxy's fault.
    disable_nagle_algorithm = True
    server_version = "cutover-backend"
    server: _ProbeServer

    _handshake_failed = False

    def setup(self) -> None:
        sock = self.request
        if isinstance(sock, ssl.SSLSocket):
            sock.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            try:
                sock.do_handshake()
            except (OSError, ValueError) as exc:
                self._handshake_failed = True
                peer = f"{self.client_address[0]}:{self.client_address[1]}"
                message = str(exc).replace("\n", " ") or type(exc).__name__
                self.server.log_line(
                    f"cutover-backend[{self.server.service}]: TLS handshake failed from {peer} "
                    f"on port {self.server.listen.port}: {message}"
                )
            else:
                sock.settimeout(None)
        super().setup()

    def handle(self) -> None:
        if self._handshake_failed:
            self.close_connection = True
            return
        super().handle()

    def __getattr__(self, name: str) -> Callable[[], None]:
        # http.server looks up do_<METHOD>; answering every method name lets the probe see
        # whatever a proxy forwards instead of a 501 from the stdlib.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get(LOG_ENV) == "1":
            self.server.log_line(
                f"{self.address_string()} - - [{self.log_date_time_string()}] "
                + (format % args).translate(_CONTROL_CHARS)
            )

    # request handling

    def _raw_target(self) -> str:
        # self.path has a leading '//' collapsed by the stdlib (gh-87389); the request line does not.
        words = self.requestline.split()
        return words[1] if len(words) >= 2 else self.path

    def _dispatch(self) -> None:
        raw_target = self._raw_target()
        path, query = _split_target(raw_target)
        params = parse_qs(query, keep_blank_values=True)
        try:
            body_bytes = self._drain_body()
        except _BadRequest as exc:
            self.close_connection = True
            self._send_json(HTTPStatus.BAD_REQUEST, {"service": self.server.service, "error": str(exc)})
            return
        try:
            if path == "/healthz":
                self._send_bytes(HTTPStatus.OK, b"ok", "text/plain")
            elif path.endswith("/sse") or _one_value(params, "stream") in ("true", "1"):
                self._stream_sse(_SSEParams.from_query(params))
            else:
                self._answer_probe(raw_target, path, query, params, body_bytes)
        except _BadRequest as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"service": self.server.service, "error": str(exc)})

    def _drain_body(self) -> int:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._drain_chunked()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return 0
        if not length_text.strip().isdigit():
            raise _BadRequest(f"invalid Content-Length {length_text!r}")
        remaining = int(length_text)
        total = remaining
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                raise _BadRequest("request body shorter than Content-Length")
            remaining -= len(chunk)
        return total

    def _drain_chunked(self) -> int:
        # Proxies may forward bodies chunked (nginx with request buffering off); leaving the
        # chunks unread would corrupt the next request on this keep-alive connection.
        total = 0
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequest(f"invalid chunk size line {line!r}") from None
            if size == 0:
                break
            data = self.rfile.read(size + 2)
            if len(data) < size + 2:
                raise _BadRequest("request body ended inside a chunk")
            total += size
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass
        return total

    def _describe(self, raw_target: str, path: str, query: str, body_bytes: int) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        tls: dict[str, Any] | None = None
        if isinstance(self.connection, ssl.SSLSocket):
            tls = {"version": self.connection.version(), "sni": getattr(self.connection, SNI_ATTRIBUTE, None)}
        return {
            "service": self.server.service,
            "method": self.command,
            "path": path,
            "query": query,
            "raw_target": raw_target,
            "host": self.headers.get("Host", ""),
            "headers": headers,
            "peer": {"address": self.client_address[0], "port": self.client_address[1]},
            "tls": tls,
            "listen_port": self.connection.getsockname()[1],
            "service_port": self.server.listen.service_port or self.server.listen.port,
            "body_bytes": body_bytes,
        }

    def _answer_probe(
        self, raw_target: str, path: str, query: str, params: dict[str, list[str]], body_bytes: int
    ) -> None:
        status = 200
        match = _STATUS_SUFFIX.search(path)
        if match:
            status = int(match.group(1))
        status_param = _one_value(params, "status")
        if status_param:
            if not status_param.isdigit():
                raise _BadRequest(f"status={status_param!r} is not a number")
            status = int(status_param)
        if not 100 <= status <= 599:
            raise _BadRequest(f"status {status} is outside 100-599")
        if status == 101:
            raise _BadRequest("status 101 needs a protocol upgrade and cannot be probed")
        extra_headers = self._echo_headers(params)
        delay = _float_param(params, "delay", 0.0, MAX_DELAY_SECONDS)

        payload = self._describe(raw_target, path, query, body_bytes)
        note = _one_value(params, "note")
        if note:
            # Echoed verbatim into the body: how the report's escaping is tested.
            payload["note"] = note
        if "delay" in params:
            time.sleep(delay)
            payload["delayed"] = delay
        if status < 200:
            # A 1xx is interim by definition; the client still needs a final answer.
            self.send_response_only(status)
            self.send_header("X-Cutover-Service", self.server.service)
            self.end_headers()
            payload["interim_status"] = status
            status = 200
        if os.environ.get(ECHO_ENV) == "off":
            self._send_bytes(status, b"ok\n", "text/plain", extra_headers)
            return
        self._send_json(status, payload, extra_headers)

    @staticmethod
    def _echo_headers(params: dict[str, list[str]]) -> list[tuple[str, str]]:
        result: list[tuple[str, str]] = []
        for item in params.get("echo_header", []):
            name, sep, value = item.partition(":")
            name = name.strip()
            if not sep or not _HEADER_NAME.match(name):
                raise _BadRequest(f"echo_header={item!r} must look like Name:value")
            if any(ch in value for ch in "\r\n\0"):
                raise _BadRequest(f"echo_header={item!r} contains a line break")
            result.append((name, value.strip()))
        return result

    # response writing

    def _connection_headers(self) -> None:
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")

    def _send_json(self, status: int, payload: dict[str, Any], extra: Sequence[tuple[str, str]] = ()) -> None:
        body = json.dumps(payload).encode() + b"\n"
        self._send_bytes(status, body, "application/json", extra)

    def _send_bytes(self, status: int, body: bytes, content_type: str, extra: Sequence[tuple[str, str]] = ()) -> None:
        bodyless = status in (204, 304)
        self.send_response(status)
        self.send_header("X-Cutover-Service", self.server.service)
        if not bodyless:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self._connection_headers()
        self.end_headers()
        if not bodyless and self.command != "HEAD":
            self.wfile.write(body)

    def _stream_sse(self, params: _SSEParams) -> None:
        # HTTP/1.0 peers (nginx's default upstream protocol) cannot take chunked encoding:
        # for them the stream is delimited by closing the connection.
        chunked = self.request_version != "HTTP/1.0"
        if not chunked:
            self.close_connection = True
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("X-Cutover-Service", self.server.service)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self._connection_headers()
            self.end_headers()
            self.wfile.flush()
            if self.command == "HEAD":
                return
            self._write_events(params, chunked)
        except _CLIENT_GONE:
            self.close_connection = True

    def _write_events(self, params: _SSEParams, chunked: bool) -> None:
        def emit(text: str) -> None:
            data = text.encode()
            if chunked:
                data = b"%x\r\n%s\r\n" % (len(data), data)
            self.wfile.write(data)
            self.wfile.flush()

        def wait(seconds: float, heartbeat: float) -> None:
            deadline = time.monotonic() + seconds
            if heartbeat > 0:
                next_beat = time.monotonic() + heartbeat
                while next_beat < deadline:
                    time.sleep(max(0.0, next_beat - time.monotonic()))
                    emit(": heartbeat\n\n")
                    next_beat += heartbeat
            time.sleep(max(0.0, deadline - time.monotonic()))

        time.sleep(params.first_delay)
        for n in range(1, params.events + 1):
            if n - 1 == params.gap_after:
                time.sleep(params.gap)
            elif n > 1:
                wait(params.interval, params.heartbeat)
            chunk = {
                "id": "chatcmpl-cutover",
                "object": "chat.completion.chunk",
                "service": self.server.service,
                "index": n,
                "sent_at": time.time(),
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": f"tok{n} "},
                        "finish_reason": "stop" if n == params.events else None,
                    }
                ],
            }
            emit(f"id: {n}\nevent: completion.chunk\ndata: {json.dumps(chunk)}\n\n")
        if params.gap_after == params.events:
            time.sleep(params.gap)
        emit("data: [DONE]\n\n")
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()


def _sni_callback(sock: ssl.SSLSocket | ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
    setattr(sock, SNI_ATTRIBUTE, server_name)


def _tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile=cert, keyfile=key)
    # Clients that insist on ALPN (some Envoy setups) get a match; h2-only clients get no ALPN.
    context.set_alpn_protocols(["http/1.1"])
    context.sni_callback = _sni_callback
    return context


def _write_ready_file(path: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class ServiceSpec:
    """One Service the process serves: its name in the echo, its ports, its certificate, its log."""

    service: str
    listens: list[Listen]
    cert: str | None = None
    key: str | None = None
    log: str | None = None


def load_spec(path: str) -> list[ServiceSpec]:
    """Read ``--spec``: ``{"services": [{"service": NAME, "listen": ["HOST:PORT[,tls][,port=N]", ...],
    "cert": PEM, "key": PEM, "log": FILE}, ...]}`` (cert, key and log optional)."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--spec {path}: not valid JSON: {exc}") from None
    entries = document.get("services") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"--spec {path}: expected a non-empty 'services' list")
    specs: list[ServiceSpec] = []
    for index, entry in enumerate(entries):
        where = f"--spec {path}: services[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("service"), str) or not entry["service"]:
            raise ValueError(f"{where}: 'service' must be a non-empty string")
        listens = entry.get("listen")
        if not isinstance(listens, list) or not listens or not all(isinstance(item, str) for item in listens):
            raise ValueError(f"{where} ({entry['service']}): 'listen' must be a non-empty list of HOST:PORT strings")
        unknown = set(entry) - {"service", "listen", "cert", "key", "log"}
        if unknown:
            raise ValueError(f"{where} ({entry['service']}): unknown key {sorted(unknown)[0]!r}")
        optional = {name: entry.get(name) for name in ("cert", "key", "log")}
        for name, value in optional.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{where} ({entry['service']}): {name!r} must be a path")
        specs.append(
            ServiceSpec(
                entry["service"],
                [parse_listen(item) for item in listens],
                optional["cert"],
                optional["key"],
                optional["log"],
            )
        )
    return specs


def _bind(spec: ServiceSpec) -> list[_ProbeServer]:
    if not spec.listens:
        raise ValueError("at least one --listen is required")
    if (spec.cert is None) != (spec.key is None):
        raise ValueError("--cert and --key must be given together")
    tls_listens = [listen for listen in spec.listens if listen.tls]
    if tls_listens and spec.cert is None:
        raise ValueError(f"--listen {tls_listens[0]} needs --cert and --key")
    context: ssl.SSLContext | None = None
    if tls_listens and spec.cert and spec.key:
        try:
            context = _tls_context(spec.cert, spec.key)
        except (OSError, ssl.SSLError) as exc:
            raise OSError(f"cannot load the certificate of {spec.service} ({spec.cert}): {exc}") from exc
    servers: list[_ProbeServer] = []
    try:
        for listen in spec.listens:
            try:
                servers.append(_ProbeServer(spec.service, listen, context if listen.tls else None, spec.log))
            except OSError as exc:
                message = f"cannot listen on {listen} for {spec.service}: {exc.strerror or exc}"
                raise OSError(exc.errno, message) from exc
    except BaseException:
        for server in servers:
            server.server_close()
        raise
    return servers


def _raise_descriptor_limit(wanted: int) -> None:
    # Every port is a descriptor and so is every connection: hundreds of Services outgrow the
    # usual soft limit of 1024 long before the hard one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))


def _accept(server: _ProbeServer) -> None:
    """One connection from a readable listening socket, handed to a thread of its own
    (what socketserver's serve_forever does for each ready request)."""
    try:
        request, client_address = server.get_request()
    except OSError:
        return
    if server.verify_request(request, client_address):
        try:
            server.process_request(request, client_address)
        except Exception:
            server.handle_error(request, client_address)
            server.shutdown_request(request)
        except BaseException:
            server.shutdown_request(request)
            raise
    else:
        server.shutdown_request(request)


def serve_all(specs: Sequence[ServiceSpec], ready_file: str | None, *, stop: threading.Event | None = None) -> None:
    """Serve every Service until SIGTERM/SIGINT (main thread only) or until ``stop`` is set.

    Raises ValueError for an unusable configuration and OSError/ssl.SSLError if a socket cannot be
    bound or a certificate cannot be loaded; nothing is left listening in that case.
    """
    if not specs:
        raise ValueError("no Service to serve")
    _raise_descriptor_limit(4 * sum(len(spec.listens) for spec in specs) + 4096)
    stop_event = stop if stop is not None else threading.Event()
    servers: list[_ProbeServer] = []
    try:
        for spec in specs:
            servers.extend(_bind(spec))
    except BaseException:
        for server in servers:
            server.server_close()
        raise

    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_event.set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)

    selector = selectors.DefaultSelector()
    try:
        for server in servers:
            selector.register(server, selectors.EVENT_READ, server)
        if ready_file:
            _write_ready_file(ready_file)
        # One thread accepts for every port; a timed select keeps it responsive to signals and `stop`.
        while not stop_event.is_set():
            for key, _ in selector.select(timeout=0.2):
                _accept(key.data)
    finally:
        selector.close()
        for server in servers:
            server.server_close()
        for restored, handler in previous.items():
            signal.signal(restored, handler)


def serve(
    service: str,
    listens: list[Listen],
    cert: str | None,
    key: str | None,
    ready_file: str | None,
    *,
    stop: threading.Event | None = None,
) -> None:
    """Serve one Service (the ``--service`` form); see ``serve_all``."""
    serve_all([ServiceSpec(service, listens, cert, key)], ready_file, stop=stop)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cutover.lab.backend",
        description="Probe backend for the Services of the cutover lab: one (--service) or many (--spec).",
    )
    parser.add_argument("--service", help="Service name reported in every response")
    parser.add_argument(
        "--listen",
        action="append",
        metavar="HOST:PORT[,tls]",
        help="address to listen on; repeat for several ports; ',tls' serves TLS on that port",
    )
    parser.add_argument("--cert", help="PEM certificate (chain) for the TLS ports")
    parser.add_argument("--key", help="PEM private key for the TLS ports")
    parser.add_argument(
        "--spec",
        metavar="FILE",
        help='JSON {"services": [{"service", "listen": [...], "cert", "key", "log"}]}: every Service, one process',
    )
    parser.add_argument("--ready-file", help="written with the pid once every port is listening")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    prog = "cutover.lab.backend"
    if args.spec is not None and (args.service or args.listen or args.cert or args.key):
        parser.error("--spec describes every Service; it cannot be combined with --service, --listen, --cert or --key")
    if args.spec is None and (not args.service or not args.listen):
        parser.error("either --spec FILE, or --service and at least one --listen, are required")
    try:
        if args.spec is not None:
            specs = load_spec(args.spec)
        else:
            specs = [ServiceSpec(args.service, [parse_listen(text) for text in args.listen], args.cert, args.key)]
        serve_all(specs, args.ready_file)
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ssl.SSLError) as exc:
        message = str(exc).replace("\n", " ")
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
