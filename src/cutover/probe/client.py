"""One request to one endpoint, addressed like `curl --resolve`: the endpoint's IP in the
URL, the service's Host header and SNI, a chosen source address, a fresh connection.

httpx pools connections by scheme+IP+port, so a pooled client would reuse one TLS
session (and its SNI) for every host: each request here gets a connection of its own,
opened for it and closed after it, and keep-alive is off (../shared/ref/lessons.md).

The request goes through httpcore's HTTPConnection, the one-connection layer under httpx's
client and pool: the same HTTP/1.1 and TLS code, without the client, URL and model objects
httpx builds around it, which cost more CPU than the request itself when a run sends a
hundred thousand of them. The request on the wire is the one httpx's client sends (same
headers, in the same order), and errors carry httpx's exception names.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

__all__ = ["Endpoint", "Identity", "ProbeResult", "fetch", "tls_context"]

# The keys every probe-backend echo carries (cutover.lab.backend): how its JSON is recognised.
ECHO_KEYS = ("service", "raw_target", "headers")


@dataclass(frozen=True)
class Endpoint:
    name: str
    address: str
    http_port: int
    https_port: int

    def port(self, scheme: str) -> int:
        return self.https_port if scheme == "https" else self.http_port


@dataclass(frozen=True)
class Identity:
    """Where a real backend names itself when the probe backend's echo is not there: a response
    header (`header: X-Served-By`) or a field of a JSON body (`json: "$.pod"`, dotted)."""

    header: str | None = None
    json: str | None = None

    def describe(self) -> str:
        return f"response header {self.header}" if self.header else f"JSON body field {self.json}"

    def read(self, headers: dict[str, str], body: Any) -> str | None:
        if self.header:
            return headers.get(self.header.lower())
        value: Any = body
        for key in (self.json or "").removeprefix("$").strip(".").split("."):
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return None if value is None or isinstance(value, dict | list) else str(value)


@dataclass
class ProbeResult:
    """What came back: a status and headers, or the error that took their place."""

    endpoint: str
    method: str
    url: str
    host: str
    path: str
    scheme: str
    source: str | None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    elapsed: float = 0.0
    error: str | None = None
    error_kind: str | None = None
    # Set by the caller when the targets say how a real backend names itself.
    identity: Identity | None = None
    # The body parsed once: comparisons read the echo many times per result.
    _parsed: tuple[bytes, dict[str, Any] | None] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def json(self) -> dict[str, Any] | None:
        if self._parsed is not None and self._parsed[0] is self.body:
            return self._parsed[1]
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            value = None
        parsed = value if isinstance(value, dict) else None
        self._parsed = (self.body, parsed)
        return parsed

    @property
    def echo(self) -> dict[str, Any] | None:
        """The probe backend's description of the request it received, when it answered."""
        data = self.json
        return data if data is not None and all(key in data for key in ECHO_KEYS) else None

    @property
    def backend(self) -> str | None:
        """The Service that answered: named by the targets' identity when set, else by the
        probe backend's echo (`namespace/name`); None when nothing names it."""
        if self.identity is not None:
            return self.identity.read(self.headers, self.json)
        echo = self.echo
        return str(echo["service"]) if echo is not None else None

    @property
    def backend_port(self) -> int | None:
        """The Service port that answered (probe backend echo only)."""
        echo = self.echo
        if self.identity is not None or echo is None or echo.get("service_port") is None:
            return None
        return int(echo["service_port"])

    @property
    def served_by(self) -> str | None:
        """Service and port, `inference/qdrant:6333`, or whatever the identity names."""
        backend = self.backend
        if backend is None or self.backend_port is None:
            return backend
        return f"{backend}:{self.backend_port}"

    @property
    def identified(self) -> bool:
        """Whether the answer names the backend that served it."""
        return self.backend is not None

    def outcome_text(self) -> str:
        """The result in a few words: `200 from mlflow/mlflow:5000`, `refused (...)`."""
        if self.error is not None:
            return f"{self.error_kind} ({self.error})"
        served = self.served_by
        return f"{self.status} from {served}" if served else f"{self.status} (no backend named)"

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _error_kind(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError | httpcore.ConnectError):
        return "refused" if "refused" in str(exc).lower() else "connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpcore.RemoteProtocolError | httpcore.ReadError):
        return "reset"
    return type(exc).__name__


# httpx's client defaults (httpx 0.28 Client.__init__): the request headers are merged into
# them the way httpx merged them, so a request sent here is byte for byte the one
# `httpx.Client(trust_env=False).send()` sent before (tests/test_probe_client.py).
_CLIENT_HEADERS = httpx.Headers(
    {
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate",  # always replaced by identity below
        "Connection": "keep-alive",  # always replaced by close below
        "User-Agent": f"python-httpx/{httpx.__version__}",
    }
)
_TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
    httpx.HTTPError,
)


def _request_headers(
    host: str, method: str, headers: dict[str, str] | None, body: bytes | None
) -> list[tuple[bytes, bytes]]:
    """As httpx's Client._merge_headers and Request._prepare (headers must be ASCII, as there)."""
    merged = httpx.Headers(_CLIENT_HEADERS)
    merged.update({"Host": host, "Accept-Encoding": "identity", "Connection": "close", **(headers or {})})
    if body:
        merged.setdefault("Content-Length", str(len(body)))
    elif "Content-Length" not in merged and "Transfer-Encoding" not in merged and method in ("POST", "PUT", "PATCH"):
        return [(b"Content-Length", b"0"), *merged.raw]
    return merged.raw


def _decode_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """As httpx decodes response headers: ASCII, else UTF-8, else ISO-8859-1; names lower-cased;
    a repeated header keeps its last value."""
    for encoding in ("ascii", "utf-8"):
        try:
            return {name.decode(encoding).lower(): value.decode(encoding) for name, value in raw}
        except UnicodeDecodeError:
            continue
    return {name.decode("iso-8859-1").lower(): value.decode("iso-8859-1") for name, value in raw}


def _decoded_body(status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """The body as httpx hands it over: a Content-Encoding the server applied anyway is undone."""
    encodings = [value for name, value in raw_headers if name.lower() == b"content-encoding"]
    if not encodings or all(value.strip().lower() in (b"", b"identity") for value in encodings):
        return body
    return httpx.Response(status, headers=raw_headers, stream=httpx.ByteStream(body)).read()


@functools.lru_cache(maxsize=16)
def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A client TLS context trusting ca_bundle (or the system store); built once per bundle."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()


def fetch(
    endpoint: Endpoint,
    host: str,
    path: str,
    *,
    scheme: str = "https",
    method: str = "GET",
    source: str | None = None,
    headers: dict[str, str] | None = None,
    ca_bundle: str | None = None,
    timeout: float = 30.0,
    body: bytes | None = None,
    identity: Identity | None = None,
) -> ProbeResult:
    """Send one request; network errors are returned in the result, never raised."""
    port = endpoint.port(scheme)
    url = f"{scheme}://{endpoint.address}:{port}{path}"
    result = ProbeResult(endpoint.name, method, url, host, path, scheme, source, identity=identity)
    request = httpcore.Request(
        method.encode("ascii"),
        # The target goes out exactly as given ('//', '%2F', case): nothing normalises it.
        httpcore.URL(
            scheme=scheme.encode("ascii"), host=endpoint.address.encode("ascii"), port=port, target=path.encode()
        ),
        headers=_request_headers(host, method, headers, body),
        content=body or b"",
        extensions={
            "sni_hostname": host,
            "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout},
        },
    )
    # One connection for this request alone: nothing is shared with another host or SNI.
    connection = httpcore.HTTPConnection(
        httpcore.Origin(request.url.scheme, request.url.host, port),
        ssl_context=tls_context(ca_bundle) if scheme == "https" else None,
        local_address=source,
        retries=0,
    )
    started = time.monotonic()
    try:
        with connection:
            response = connection.handle_request(request)
            try:
                raw = response.read()
            finally:
                response.close()
        # Decoded before anything is recorded: a body that does not decode is an error, never
        # a status with an error beside it.
        body = _decoded_body(response.status, response.headers, raw)
        result.status = response.status
        result.headers = _decode_headers(response.headers)
        result.body = body
    except _TRANSPORT_ERRORS as exc:
        # httpx raised these under the same names, with the same messages.
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        result.error_kind = _error_kind(exc)
    result.elapsed = time.monotonic() - started
    return result
