"""One request to one endpoint, addressed like `curl --resolve`: the endpoint's IP in the
URL, the service's Host header and SNI, a chosen source address, a fresh connection.

httpx pools connections by scheme+IP+port, so a pooled client would reuse one TLS
session (and its SNI) for every host: each probe here gets its own client and
keep-alive is off (../shared/ref/lessons.md).
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

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

    @property
    def json(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None

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
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "refused" if "refused" in str(exc).lower() else "connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "reset"
    return type(exc).__name__


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
    url = f"{scheme}://{endpoint.address}:{endpoint.port(scheme)}{path}"
    result = ProbeResult(endpoint.name, method, url, host, path, scheme, source, identity=identity)
    request_headers = {"Host": host, "Accept-Encoding": "identity", "Connection": "close", **(headers or {})}
    transport = httpx.HTTPTransport(
        local_address=source,
        verify=tls_context(ca_bundle),
        limits=httpx.Limits(max_keepalive_connections=0),
        retries=0,
    )
    started = time.monotonic()
    try:
        with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                method, httpx.URL(url), headers=request_headers, content=body, extensions={"sni_hostname": host}
            )
            # Keep the path exactly as given ('//', '%2F', case): httpx would otherwise normalise it.
            request.url = request.url.copy_with(raw_path=path.encode())
            response = client.send(request)
            result.status = response.status_code
            result.headers = {k.lower(): v for k, v in response.headers.multi_items()}
            result.body = response.content
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        result.error_kind = _error_kind(exc)
    result.elapsed = time.monotonic() - started
    return result
