"""cutover.probe.client.fetch sends through httpcore's HTTPConnection what httpx's client sent:
the same bytes on the wire, the same SNI and source address, the same results and error names.

The reference is the client fetch used before (httpx.Client with a transport of its own per
request), run here against the same real loopback servers."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme

from cutover.probe.client import Endpoint, ProbeResult, fetch, tls_context

HOST = "grafana.example.test"


@dataclass
class Capture:
    """A loopback server that records each request's bytes, peer and SNI, and answers as told."""

    mode: str = "answer"  # answer | silent | close | gzip
    requests: list[bytes] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)


def _serve(listener: socket.socket, capture: Capture, context: ssl.SSLContext | None, stop: threading.Event) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, peer = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        threading.Thread(target=_answer, args=(conn, peer, capture, context, stop), daemon=True).start()


def _answer(
    conn: socket.socket, peer: tuple[str, int], capture: Capture, context: ssl.SSLContext | None, stop: threading.Event
) -> None:
    sock: socket.socket = conn
    names: list[str | None] = [None]
    try:
        if context is not None:

            def remember(_: ssl.SSLObject | ssl.SSLSocket, name: str | None, __: ssl.SSLContext) -> None:
                names[0] = name

            context.sni_callback = remember  # type: ignore[assignment]
            sock = context.wrap_socket(conn, server_side=True)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
            0,
        )
        while len(rest) < length:
            rest += sock.recv(65536)
        capture.requests.append(head + b"\r\n\r\n" + rest)
        capture.peers.append(peer[0])
        capture.sni.append(names[0])
        if capture.mode == "silent":
            stop.wait(5)
            return
        if capture.mode == "close":
            return
        if capture.mode == "gzip":
            import gzip

            body = gzip.compress(b'{"zipped": true}')
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            return
        body = b'{"service": "monitoring/grafana", "raw_target": "x", "headers": {}}'
        sock.sendall(
            b"HTTP/1.1 201 Created\r\nX-Served-By: grafana-0\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
            b"Location: /next\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
    except OSError:
        return
    finally:
        sock.close()


@dataclass
class Server:
    capture: Capture
    endpoint: Endpoint
    ca_bundle: str


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    ca = trustme.CA()
    leaf = ca.issue_cert(HOST, "other.example.test")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(server_context)
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    capture = Capture()
    stop = threading.Event()
    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    threads = [
        threading.Thread(target=_serve, args=(listeners[0], capture, None, stop), daemon=True),
        threading.Thread(target=_serve, args=(listeners[1], capture, server_context, stop), daemon=True),
    ]
    for thread in threads:
        thread.start()
    ports = [listener.getsockname()[1] for listener in listeners]
    try:
        yield Server(capture, Endpoint("gateway", "127.0.0.1", ports[0], ports[1]), str(ca_path))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        for listener in listeners:
            listener.close()


def _httpx_reference(
    endpoint: Endpoint,
    host: str,
    path: str,
    *,
    scheme: str,
    method: str = "GET",
    source: str | None = None,
    headers: dict[str, str] | None = None,
    ca_bundle: str | None = None,
    timeout: float = 30.0,
    body: bytes | None = None,
) -> ProbeResult:
    """fetch as it was written on httpx.Client (before it went through httpcore directly)."""
    url = f"{scheme}://{endpoint.address}:{endpoint.port(scheme)}{path}"
    result = ProbeResult(endpoint.name, method, url, host, path, scheme, source)
    request_headers = {"Host": host, "Accept-Encoding": "identity", "Connection": "close", **(headers or {})}
    transport = httpx.HTTPTransport(
        local_address=source,
        verify=tls_context(ca_bundle),
        limits=httpx.Limits(max_keepalive_connections=0),
        retries=0,
    )
    try:
        with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                method, httpx.URL(url), headers=request_headers, content=body, extensions={"sni_hostname": host}
            )
            request.url = request.url.copy_with(raw_path=path.encode())
            response = client.send(request)
            result.status = response.status_code
            result.headers = {k.lower(): v for k, v in response.headers.multi_items()}
            result.body = response.content
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return result


REQUESTS = [
    pytest.param("http", "GET", "//Api/%2Fx//y?q=%20&b", None, None, id="raw path over http"),
    pytest.param("https", "GET", "/", None, None, id="https"),
    pytest.param("http", "POST", "/upload", {"X-Probe": "1", "accept": "text/plain"}, b"abc", id="post with body"),
    pytest.param("https", "PUT", "/empty", {"User-Agent": "probe/1"}, None, id="put without body"),
]


@pytest.mark.parametrize(("scheme", "method", "path", "headers", "body"), REQUESTS)
def test_the_wire_and_the_result_are_httpx_clients(
    server: Server, scheme: str, method: str, path: str, headers: dict[str, str] | None, body: bytes | None
) -> None:
    options = {"scheme": scheme, "method": method, "headers": headers, "body": body, "ca_bundle": server.ca_bundle}
    ours = fetch(server.endpoint, HOST, path, source="127.0.0.3", **options)  # type: ignore[arg-type]
    reference = _httpx_reference(server.endpoint, HOST, path, source="127.0.0.3", **options)  # type: ignore[arg-type]
    assert ours.error is None, ours.error
    sent, expected = server.capture.requests
    assert sent == expected
    assert sent.split(b"\r\n")[0] == f"{method} {path} HTTP/1.1".encode()
    assert server.capture.peers == ["127.0.0.3", "127.0.0.3"]
    assert server.capture.sni == ([HOST, HOST] if scheme == "https" else [None, None])
    assert (ours.status, ours.headers, ours.body) == (reference.status, reference.headers, reference.body)
    assert ours.headers["set-cookie"] == "b=2" and ours.backend == "monitoring/grafana"


def test_dot_segments_go_out_as_written(server: Server) -> None:
    """httpx's client removed `..` segments from the path; the probe sends the path it names."""
    result = fetch(server.endpoint, HOST, "/a/../b/./c", scheme="http")
    assert result.status == 201, result.error
    assert server.capture.requests[0].startswith(b"GET /a/../b/./c HTTP/1.1\r\n")


def test_a_header_that_is_not_ascii_is_refused_as_httpx_did(server: Server) -> None:
    for send in (fetch, _httpx_reference):
        with pytest.raises(UnicodeEncodeError):
            send(server.endpoint, HOST, "/", scheme="http", headers={"X-Name": "caf\u00e9"})
    assert server.capture.requests == []


def test_each_request_is_a_connection_with_its_own_sni(server: Server) -> None:
    for host in (HOST, "other.example.test", HOST):
        result = fetch(server.endpoint, host, "/", scheme="https", ca_bundle=server.ca_bundle)
        assert result.status == 201, result.error
    assert server.capture.sni == [HOST, "other.example.test", HOST]
    assert [request.split(b"\r\n")[1] for request in server.capture.requests] == [
        f"Host: {host}".encode() for host in (HOST, "other.example.test", HOST)
    ]


def test_a_compressed_answer_is_decoded_as_httpx_did(server: Server) -> None:
    server.capture.mode = "gzip"
    ours = fetch(server.endpoint, HOST, "/", scheme="http")
    reference = _httpx_reference(server.endpoint, HOST, "/", scheme="http")
    assert ours.body == reference.body == b'{"zipped": true}'


@pytest.mark.parametrize(
    ("mode", "kind", "error"),
    [
        ("silent", "timeout", "ReadTimeout: timed out"),
        ("close", "reset", "RemoteProtocolError: Server disconnected without sending a response."),
    ],
)
def test_errors_keep_httpx_names_and_messages(server: Server, mode: str, kind: str, error: str) -> None:
    server.capture.mode = mode
    started = time.monotonic()
    ours = fetch(server.endpoint, HOST, "/", scheme="http", timeout=0.5)
    reference = _httpx_reference(server.endpoint, HOST, "/", scheme="http", timeout=0.5)
    assert time.monotonic() - started < 30
    assert (ours.status, ours.error_kind, ours.error) == (None, kind, error)
    assert ours.error == reference.error


def test_refused_and_tls_failures_keep_httpx_names(server: Server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    refused = Endpoint("nginx", "127.0.0.1", closed, closed)
    ours = fetch(refused, HOST, "/", scheme="http")
    assert ours.error_kind == "refused" and ours.error == _httpx_reference(refused, HOST, "/", scheme="http").error
    assert ours.error is not None and ours.error.startswith("ConnectError: ")
    # Not trusted: the system store does not know the test CA.
    untrusted = fetch(server.endpoint, HOST, "/", scheme="https")
    assert untrusted.error_kind == "connect" and "CERTIFICATE_VERIFY_FAILED" in str(untrusted.error)
    reference = _httpx_reference(server.endpoint, HOST, "/", scheme="https")
    assert untrusted.error == reference.error
