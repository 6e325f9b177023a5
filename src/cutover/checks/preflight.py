"""Before any probe: do both endpoints answer at all? A TCP connection to the http and https
ports from the default vantage point's source address, and a TLS handshake on the https port
with a service's host as SNI, verified against the targets' CA bundle. One line per problem,
naming the side, the address and the port, so a run against a closed port says so up front
instead of producing a page of identical failures (or, worse, agreement)."""

from __future__ import annotations

import socket
import ssl

from cutover.probe.client import Endpoint, tls_context
from cutover.targets import Targets

__all__ = ["preflight"]


def _connect(endpoint: Endpoint, port: int, source: str | None, timeout: float) -> socket.socket:
    return socket.create_connection(
        (endpoint.address, port), timeout=timeout, source_address=(source, 0) if source else None
    )


def _problem(endpoint: Endpoint, port: int, what: str, exc: OSError, timeout: float) -> str:
    where = f"{endpoint.name} endpoint {endpoint.address}:{port}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection ({what})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"{where} did not answer within {timeout:g} s ({what})"
    return f"{where} is unreachable: {exc.strerror or exc} ({what})"


def _handshake(endpoint: Endpoint, host: str, source: str | None, ca_bundle: str | None, timeout: float) -> str | None:
    port = endpoint.https_port
    try:
        raw = _connect(endpoint, port, source, timeout)
    except OSError as exc:
        return _problem(endpoint, port, "https port", exc, timeout)
    try:
        with tls_context(ca_bundle).wrap_socket(raw, server_hostname=host) as tls:
            tls.version()
    except ssl.SSLCertVerificationError as exc:
        return (
            f"{endpoint.name} endpoint {endpoint.address}:{port} presented a certificate that does not verify "
            f"for {host}: {exc.verify_message or exc.reason}"
        )
    except ssl.SSLError as exc:
        return f"{endpoint.name} endpoint {endpoint.address}:{port} failed the TLS handshake for {host}: {exc.reason}"
    except OSError as exc:
        return _problem(endpoint, port, f"TLS handshake for {host}", exc, timeout)
    finally:
        raw.close()
    return None


def preflight(targets: Targets, timeout: float = 5.0) -> list[str]:
    """One line per endpoint problem; an empty list when both sides answer."""
    default = targets.default_vantage_point
    source = targets.vantage_points[default].address if default is not None else None
    problems: list[str] = []
    if source:
        try:
            with socket.socket(socket.AF_INET6 if ":" in source else socket.AF_INET) as probe:
                probe.bind((source, 0))
        except OSError as exc:
            return [f"the source address {source} (default vantage point) cannot be used here: {exc.strerror or exc}"]
    https_hosts = [s.host for s in targets.services if s.scheme == "https"]
    for endpoint in (targets.nginx, targets.gateway):
        for port, what in ((endpoint.http_port, "http port"), (endpoint.https_port, "https port")):
            if what == "https port" and (https_hosts or targets.services):
                # Asked by the handshake below when a service uses https; an HTTP-only estate
                # has no https listener to ask.
                continue
            try:
                _connect(endpoint, port, source, timeout).close()
            except OSError as exc:
                problems.append(_problem(endpoint, port, what, exc, timeout))
        if https_hosts:
            problem = _handshake(endpoint, https_hosts[0], source, targets.ca_bundle, timeout)
            if problem is not None:
                problems.append(problem)
    return problems
