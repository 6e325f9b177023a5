"""Tests for the lab probe backend, run as a real subprocess on 127.0.0.1 sockets."""

from __future__ import annotations

import importlib
import itertools
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import httpx
import pytest
import trustme

SRC = Path(__file__).resolve().parents[1] / "src"
SERVICE = "argocd-server"
SNI_NAME = "argocd-server.argocd.svc"
START_TIMEOUT = 10.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
    env.pop("CUTOVER_BACKEND_LOG", None)
    return env


def _backend_module() -> ModuleType:
    # The package may not be installed into the venv yet; the source tree is enough.
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    return importlib.import_module("cutover.lab.backend")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Backend:
    proc: subprocess.Popen[bytes]
    port: int
    tls_port: int | None
    stderr_path: Path

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.port}{target}"


def _launch(workdir: Path, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
    ready = workdir / "backend.ready"
    stderr_path = workdir / "backend.stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cutover.lab.backend", *args, "--ready-file", str(ready)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=_env(),
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.exists():
        if proc.poll() is not None:
            pytest.fail(f"backend exited with {proc.returncode}: {stderr_path.read_text()}")
        if time.monotonic() > deadline:
            _stop(proc)
            pytest.fail("backend did not write its ready file in time")
        time.sleep(0.02)
    assert int(ready.read_text()) == proc.pid
    return proc, stderr_path


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    return proc.returncode


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    leaf = ca.issue_cert(SNI_NAME)
    directory = tmp_path_factory.mktemp("tls")
    cert = directory / "server.pem"
    key = directory / "server.key"
    leaf.private_key_pem.write_to_path(str(key))
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return ca, cert, key


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory, tls_files: tuple[trustme.CA, Path, Path]) -> Iterator[Backend]:
    _, cert, key = tls_files
    port, tls_port = _free_port(), _free_port()
    args = ["--service", SERVICE, "--listen", f"127.0.0.1:{port}", "--listen", f"127.0.0.1:{tls_port},tls"]
    proc, stderr_path = _launch(tmp_path_factory.mktemp("backend"), [*args, "--cert", str(cert), "--key", str(key)])
    try:
        yield Backend(proc, port, tls_port, stderr_path)
    finally:
        _stop(proc)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[], Backend]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> Backend:
        port = _free_port()
        workdir = tmp_path / f"spawn{len(started)}"
        workdir.mkdir()
        proc, stderr_path = _launch(workdir, ["--service", "spawned", "--listen", f"127.0.0.1:{port}"])
        started.append(proc)
        return Backend(proc, port, None, stderr_path)

    try:
        yield start
    finally:
        for proc in started:
            _stop(proc)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as http:
        yield http


def _read_response(stream: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    status_line = stream.readline().decode("latin-1")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0")))
    return status, headers, body


SSEBlock = tuple[float, str]


def _collect_sse(http: httpx.Client, url: str) -> tuple[httpx.Headers, float, list[SSEBlock]]:
    """Return response headers, when they arrived and every SSE block with its arrival time."""
    blocks: list[SSEBlock] = []
    buffer = b""
    with http.stream("GET", url) as response:
        assert response.status_code == 200
        headers_at = time.monotonic()
        for data in response.iter_raw():
            now = time.monotonic()
            buffer += data
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                blocks.append((now, block.decode()))
        headers = response.headers
    assert buffer == b""
    return headers, headers_at, blocks


def _events(blocks: list[SSEBlock]) -> list[tuple[float, dict[str, Any]]]:
    events = []
    for arrived, block in blocks:
        lines = block.split("\n")
        if lines[0].startswith("id: "):
            assert lines[1] == "event: completion.chunk"
            payload = json.loads(lines[2].removeprefix("data: "))
            assert lines[0] == f"id: {payload['index']}"
            events.append((arrived, payload))
    return events


def test_json_fields_raw_target_and_keepalive(backend: Backend) -> None:
    with socket.create_connection(("127.0.0.1", backend.port), timeout=5) as sock, sock.makefile("rb") as stream:
        sock.sendall(
            b"GET //api/v1//repos/a%2Fb?x=1&y=%2F HTTP/1.1\r\n"
            b"Host: argocd.example.test\r\n"
            b"X-Repeat: one\r\nX-Repeat: two\r\n\r\n"
        )
        status, headers, body = _read_response(stream)
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert headers["x-cutover-service"] == SERVICE
        info = json.loads(body)
        assert info["service"] == SERVICE
        assert info["method"] == "GET"
        assert info["path"] == "//api/v1//repos/a%2Fb"
        assert info["query"] == "x=1&y=%2F"
        assert info["raw_target"] == "//api/v1//repos/a%2Fb?x=1&y=%2F"
        assert info["host"] == "argocd.example.test"
        assert info["headers"]["x-repeat"] == "one, two"
        assert info["peer"]["address"] == "127.0.0.1"
        assert info["peer"]["port"] == sock.getsockname()[1]
        assert info["tls"] is None
        assert info["listen_port"] == backend.port
        assert info["body_bytes"] == 0

        # Same connection: keep-alive must survive a request body, sized or chunked.
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world")
        status, _, body = _read_response(stream)
        assert status == 200
        assert json.loads(body)["body_bytes"] == 11
        assert json.loads(body)["query"] == ""
        sock.sendall(
            b"PATCH /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )
        status, _, body = _read_response(stream)
        assert (status, json.loads(body)["body_bytes"], json.loads(body)["method"]) == (200, 5, "PATCH")


def test_peer_address_from_source_ip(backend: Backend) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.9")
    with httpx.Client(transport=transport, timeout=5) as http:
        response = http.request("DELETE", backend.url("/thing"), headers=[("X-A", "1"), ("x-a", "2")])
    assert response.status_code == 200
    info = response.json()
    assert info["peer"]["address"] == "127.0.0.9"
    assert info["host"] == f"127.0.0.1:{backend.port}"
    assert info["method"] == "DELETE"
    assert info["headers"]["x-a"] == "1, 2"


def test_delay(backend: Backend, client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.get(backend.url("/slow?delay=0.3"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["delayed"] == 0.3
    assert elapsed >= 0.25


def test_status_codes_echo_headers_and_healthz(backend: Backend, client: httpx.Client) -> None:
    for target in ("/status/503", "/api/status/503"):
        response = client.get(backend.url(target))
        assert response.status_code == 503
        assert response.json()["path"] == target

    response = client.head(backend.url("/status/503"))
    assert response.status_code == 503
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0

    response = client.get(backend.url("/status/204"))
    assert (response.status_code, response.content) == (204, b"")
    assert "content-length" not in response.headers

    response = client.post(backend.url("/x?status=418&echo_header=X-One:1&echo_header=X-Two:%20two"), content=b"abc")
    assert response.status_code == 418
    assert response.headers["x-one"] == "1"
    assert response.headers["x-two"] == "two"
    assert response.json()["body_bytes"] == 3

    response = client.get(backend.url("/healthz"))
    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["content-type"] == "text/plain"

    assert client.get(backend.url("/x?delay=soon")).status_code == 400
    assert client.get(backend.url("/x?echo_header=Bad%20Name:v")).status_code == 400


def test_sse_events_in_order_with_interval(backend: Backend, client: httpx.Client) -> None:
    headers, headers_at, blocks = _collect_sse(
        client, backend.url("/v1/chat/completions?stream=true&events=4&interval=0.2&first_delay=0.3")
    )
    assert headers["content-type"] == "text/event-stream"
    assert headers["cache-control"] == "no-cache"
    assert headers["transfer-encoding"] == "chunked"
    assert headers["x-cutover-service"] == SERVICE

    events = _events(blocks)
    assert [payload["index"] for _, payload in events] == [1, 2, 3, 4]
    assert [payload["choices"][0]["delta"]["content"] for _, payload in events] == ["tok1 ", "tok2 ", "tok3 ", "tok4 "]
    assert [payload["choices"][0]["finish_reason"] for _, payload in events] == [None, None, None, "stop"]
    assert all(p["service"] == SERVICE and p["object"] == "chat.completion.chunk" for _, p in events)
    assert blocks[-1][1] == "data: [DONE]"
    assert len(blocks) == 5

    arrivals = [arrived for arrived, _ in events]
    assert arrivals[0] - headers_at >= 0.2, "headers should arrive before first_delay elapses"
    assert all(later - earlier >= 0.1 for earlier, later in itertools.pairwise(arrivals))
    assert arrivals[-1] - arrivals[0] >= 0.45
    sent = [payload["sent_at"] for _, payload in events]
    assert sent == sorted(sent)

    _, _, blocks = _collect_sse(client, backend.url("/feed/sse?events=2&interval=0"))
    assert [payload["index"] for _, payload in _events(blocks)] == [1, 2]


def test_sse_silent_gap_and_heartbeats(backend: Backend, client: httpx.Client) -> None:
    _, _, blocks = _collect_sse(client, backend.url("/sse?events=3&interval=0.35&heartbeat=0.1&gap_after=1&gap=0.6"))
    kinds = ["heartbeat" if text == ": heartbeat" else text.split("\n")[0] for _, text in blocks]
    assert kinds[0] == "id: 1"
    assert kinds[1] == "id: 2", "nothing, not even a heartbeat, may be sent during the gap"
    assert blocks[1][0] - blocks[0][0] >= 0.45
    between = kinds[2 : kinds.index("id: 3")]
    assert between, "heartbeats expected between events 2 and 3"
    assert set(between) == {"heartbeat"}
    assert kinds[-1] == "data: [DONE]"


def test_tls_reports_sni_and_version(backend: Backend, tls_files: tuple[trustme.CA, Path, Path]) -> None:
    ca, _, _ = tls_files
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with httpx.Client(verify=context, timeout=5) as http:
        response = http.get(
            f"https://127.0.0.1:{backend.tls_port}/applications?refresh=1",
            extensions={"sni_hostname": SNI_NAME},
        )
    assert response.status_code == 200
    info = response.json()
    assert info["tls"]["sni"] == SNI_NAME
    assert info["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert info["listen_port"] == backend.tls_port
    assert info["path"] == "/applications"

    context.check_hostname = False
    with (
        socket.create_connection(("127.0.0.1", backend.tls_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=None) as tls,
        tls.makefile("rb") as stream,
    ):
        tls.sendall(b"GET /no-sni HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, body = _read_response(stream)
    assert status == 200
    assert json.loads(body)["tls"]["sni"] is None


def _wait_closed(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass


def test_bad_or_stalled_handshake_does_not_block(backend: Backend, tls_files: tuple[trustme.CA, Path, Path]) -> None:
    ca, _, _ = tls_files
    # Connected but never starts a handshake.
    with socket.create_connection(("127.0.0.1", backend.tls_port), timeout=5):
        with socket.create_connection(("127.0.0.1", backend.tls_port), timeout=5) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            _wait_closed(plain)

        context = ssl.create_default_context()
        ca.configure_trust(context)
        with httpx.Client(verify=context, timeout=5) as http:
            response = http.get(f"https://127.0.0.1:{backend.tls_port}/ok", extensions={"sni_hostname": SNI_NAME})
        # Served while the stalled client still holds its half-finished handshake.
        assert response.status_code == 200

    failures = [line for line in backend.stderr_path.read_text().splitlines() if "TLS handshake failed" in line]
    assert len(failures) >= 1
    assert "from 127.0.0.1:" in failures[0]


def test_sigterm_exits_cleanly_with_open_connections(spawn: Callable[[], Backend]) -> None:
    spawned = spawn()
    idle = socket.create_connection(("127.0.0.1", spawned.port), timeout=5)
    streaming = socket.create_connection(("127.0.0.1", spawned.port), timeout=5)
    try:
        idle.sendall(b"GET /first HTTP/1.1\r\nHost: h\r\n\r\n")
        with idle.makefile("rb") as stream:
            assert _read_response(stream)[0] == 200
        streaming.sendall(b"GET /sse?events=3&interval=60 HTTP/1.1\r\nHost: h\r\n\r\n")
        assert streaming.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert _stop(spawned.proc) == 0
        assert time.monotonic() - started < 4
    finally:
        idle.close()
        streaming.close()


@pytest.mark.parametrize(
    ("listen", "fragment"),
    [
        ("127.0.0.1", "missing ':PORT'"),
        ("127.0.0.1:http", "is not a number"),
        ("127.0.0.1:70000", "outside 1-65535"),
        ("127.0.0.1:8080,quic", "unknown option"),
        ("127.0.0.1:8443,tls", "needs --cert and --key"),
    ],
)
def test_bad_listen_is_a_one_line_error(listen: str, fragment: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cutover.lab.backend", "--service", "x", "--listen", listen],
        capture_output=True,
        env=_env(),
        timeout=10,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert fragment in lines[0]


def test_port_in_use_is_a_one_line_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "cutover.lab.backend", "--service", "x", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            env=_env(),
            timeout=10,
            check=False,
        )
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0]


def test_parse_listen() -> None:
    backend_module = _backend_module()
    listen_type = backend_module.Listen
    parse = backend_module.parse_listen
    assert parse("127.0.0.1:8080") == listen_type("127.0.0.1", 8080, False)
    assert parse("127.0.0.1:8443,tls") == listen_type("127.0.0.1", 8443, True)
    assert parse("[::1]:9000") == listen_type("::1", 9000, False)
    for bad in ("", ":80", "::1:80", "127.0.0.1:0", "host:80,tls,x"):
        with pytest.raises(ValueError, match="--listen"):
            parse(bad)


def _write_spec(path: Path, services: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"services": services}))
    return path


def test_one_process_serves_many_services_each_with_its_certificate_and_log(tmp_path: Path) -> None:
    ca = trustme.CA()
    services: list[dict[str, Any]] = []
    ports: dict[str, tuple[int, int]] = {}
    for name in ("alpha", "beta"):
        leaf = ca.issue_cert(f"{name}.team.svc")
        cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        leaf.private_key_pem.write_to_path(str(key))
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        plain, tls = _free_port(), _free_port()
        ports[name] = (plain, tls)
        services.append(
            {
                "service": f"team/{name}",
                "listen": [f"127.0.0.1:{plain},port=80", f"127.0.0.1:{tls},tls,port=443"],
                "cert": str(cert),
                "key": str(key),
                "log": str(tmp_path / f"{name}.log"),
            }
        )
    spec = _write_spec(tmp_path / "services.json", services)
    proc, _ = _launch(tmp_path, ["--spec", str(spec)])
    try:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        for name, (plain, tls) in ports.items():
            with httpx.Client(timeout=5) as http:
                info = http.get(f"http://127.0.0.1:{plain}/x").json()
            assert (info["service"], info["service_port"], info["listen_port"]) == (f"team/{name}", 80, plain)
            with httpx.Client(verify=context, timeout=5) as http:
                response = http.get(f"https://127.0.0.1:{tls}/y", extensions={"sni_hostname": f"{name}.team.svc"})
            info = response.json()
            assert (info["service"], info["service_port"], info["tls"]["sni"]) == (
                f"team/{name}",
                443,
                f"{name}.team.svc",
            )
        # beta's port presents beta's certificate: a client that expects alpha's name refuses it.
        with (
            pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED"),
            httpx.Client(verify=context, timeout=5) as http,
        ):
            http.get(f"https://127.0.0.1:{ports['beta'][1]}/", extensions={"sni_hostname": "alpha.team.svc"})
        # A plaintext request on alpha's TLS port is a failed handshake, logged in alpha's log only.
        with socket.create_connection(("127.0.0.1", ports["alpha"][1]), timeout=5) as plain_on_tls:
            plain_on_tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            _wait_closed(plain_on_tls)
        # The backend logs a failed handshake on its own thread, after the client has given up:
        # wait for both (beta's is the refused certificate above).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(
            "TLS handshake failed" in (tmp_path / f"{name}.log").read_text() for name in ("alpha", "beta")
        ):
            time.sleep(0.05)
        assert "cutover-backend[team/alpha]: TLS handshake failed" in (tmp_path / "alpha.log").read_text()
        # Each Service's messages go to its own log (beta logged the refused handshake above).
        for name in ("alpha", "beta"):
            lines = (tmp_path / f"{name}.log").read_text().splitlines()
            assert lines and all(line.startswith(f"cutover-backend[team/{name}]") for line in lines), lines
    finally:
        assert _stop(proc) == 0


@pytest.mark.parametrize(
    ("services", "fragment"),
    [
        ([], "expected a non-empty 'services' list"),
        ([{"service": "a", "listen": []}], "services[0] (a): 'listen' must be a non-empty list"),
        ([{"service": "a", "listen": ["127.0.0.1:8443,tls"]}], "needs --cert and --key"),
        ([{"service": "a", "listen": ["127.0.0.1:1"], "certs": "x"}], "unknown key 'certs'"),
    ],
)
def test_bad_spec_is_a_one_line_error(tmp_path: Path, services: list[dict[str, Any]], fragment: str) -> None:
    spec = _write_spec(tmp_path / "services.json", services)
    result = subprocess.run(
        [sys.executable, "-m", "cutover.lab.backend", "--spec", str(spec)],
        capture_output=True,
        env=_env(),
        timeout=10,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert fragment in lines[0]


def test_a_busy_port_of_one_service_names_it_and_leaves_nothing_listening(tmp_path: Path) -> None:
    free = _free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        services = [
            {"service": "team/first", "listen": [f"127.0.0.1:{free}"]},
            {"service": "team/second", "listen": [f"127.0.0.1:{busy}"]},
        ]
        result = subprocess.run(
            [sys.executable, "-m", "cutover.lab.backend", "--spec", str(_write_spec(tmp_path / "s.json", services))],
            capture_output=True,
            env=_env(),
            timeout=10,
            check=False,
        )
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"cannot listen on 127.0.0.1:{busy} for team/second" in lines[0]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", free)) != 0, "the first Service's port was left listening"
