"""HTTP -> HTTPS redirects: where nginx answered plain HTTP with a redirect to https, the
Gateway must answer with the same code (another one only when the targets accept it with a
reason), to the same Location (scheme, host, port, path and query compared one by one), and
the redirect's target must be served by the same backend; HTTPS is served, never redirected."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cutover.checks.base import (
    Case,
    CheckInfo,
    Difference,
    Outcome,
    ProbeContext,
    backend_difference,
    baseline_problem,
    converge,
    no_backend_named,
    not_applicable,
    on_both,
    side_summary,
)
from cutover.facts.annotations import verified_by
from cutover.probe.client import Endpoint, ProbeResult
from cutover.targets import ServiceTarget, Targets

__all__ = ["INFO", "REDIRECT_CODES", "cases", "location_differences", "location_parts"]

REDIRECT_CODES = (301, 302, 303, 307, 308)
# 301 and 302 let clients turn a POST into a GET (RFC 9110 15.4.2, 15.4.3); 303 demands it.
_METHOD_CHANGING = (301, 302, 303)
_DEFAULT_PORTS = {"http": 80, "https": 443}
INFO = CheckInfo(
    kind="redirects",
    title="HTTP to HTTPS redirect",
    description="Plain HTTP gets the same redirect code to the same https URL on both sides, served by the same "
    "backend once followed; HTTPS is served, not redirected.",
    protects=verified_by("redirects"),
    marker="HTTP to HTTPS redirects",
    finding="HTTP->HTTPS redirect differs",
    settings="redirects",
)


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        if "redirects" not in service.checks:
            result.append(not_applicable(INFO, service, "the host had no ssl-redirect"))
            continue
        base = service.first_path
        exact = bool(service.paths) and service.paths[0].type == "Exact"
        # Under a prefix rule, a sub-path with a query shows that both survive the redirect.
        probe_path = base + "?q=1" if exact else base.rstrip("/") + "/cutover-redirect?q=1"
        result.append(Case(INFO, service, f"http GET {probe_path}", {"path": probe_path, "scheme": "http"}, _run))
        result.append(Case(INFO, service, f"https GET {base}", {"path": base, "scheme": "https"}, _run))
    return result


def location_parts(location: str | None) -> dict[str, Any]:
    """A Location's scheme, host, port (the scheme's default when absent), path and query."""
    if not location:
        return {"scheme": None, "host": None, "port": None, "path": None, "query": None}
    parts = urlsplit(location)
    scheme = parts.scheme or None
    try:
        port = parts.port
    except ValueError:
        port = None
    return {
        "scheme": scheme,
        "host": parts.hostname,
        "port": port if port is not None else _DEFAULT_PORTS.get(scheme or ""),
        "path": parts.path,
        "query": parts.query,
    }


def _expected_backend(service: ServiceTarget) -> str | None:
    return service.paths[0].backend if service.paths else None


def _nginx_redirect_problem(nginx: ProbeResult, service: ServiceTarget) -> str | None:
    problem = baseline_problem(nginx, own_rule=False)
    if problem is not None:
        return problem
    location = location_parts(nginx.header("location"))
    if nginx.status not in REDIRECT_CODES or location["scheme"] != "https" or location["host"] != service.host:
        return (
            f"nginx answered plain HTTP with {nginx.status} {nginx.header('location') or '(no Location)'}, "
            f"not a redirect to https://{service.host}: the host's ssl-redirect is not in effect"
        )
    return None


def _status_difference(nginx: ProbeResult, gateway: ProbeResult, service: ServiceTarget) -> Difference | None:
    if gateway.status == nginx.status and gateway.error is None:
        return None
    shown = gateway.status or gateway.error_kind
    if gateway.status == 200 or (gateway.status is not None and gateway.status not in REDIRECT_CODES):
        note = "the Gateway serves plain HTTP" if gateway.status == 200 else "not a redirect"
        return Difference("status", nginx.status, shown, note=note)
    accepted = service.accepted_redirect(gateway.status)
    note = ""
    if nginx.status not in _METHOD_CHANGING and gateway.status in _METHOD_CHANGING:
        note = f"a {nginx.status} that becomes {gateway.status} turns a POST into a GET"
    if accepted is not None:
        return Difference("status", nginx.status, shown, expected=accepted.reason, note=note)
    note = (note + "; " if note else "") + "accept another code with redirects.accept and a reason"
    return Difference("status", nginx.status, shown, note=note)


def location_differences(nginx: ProbeResult, gateway: ProbeResult) -> list[Difference]:
    if gateway.header("location") is None:
        return [Difference("location", nginx.header("location"), None)]
    old, new = location_parts(nginx.header("location")), location_parts(gateway.header("location"))
    differences = [Difference(f"location {part}", old[part], new[part]) for part in old if old[part] != new[part]]
    if old["port"] == new["port"]:
        # Cilium sets port_redirect 443 for `scheme: https`, so Envoy writes https://host:443/ where
        # nginx writes https://host/ (shared/ref/cilium-gateway.md): the same URL to every client.
        written = urlsplit(nginx.header("location") or "").netloc, urlsplit(gateway.header("location") or "").netloc
        if written[0] != written[1] and old["host"] == new["host"]:
            differences.append(
                Difference("location port", *written, severity="info", note="the same port, written out on one side")
            )
    return differences


def _follow(context: ProbeContext, endpoint: Endpoint, service: ServiceTarget, result: ProbeResult) -> ProbeResult:
    """The redirect's target, fetched from the same side (like curl --resolve for its host)."""
    parts = urlsplit(result.header("location") or "")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    scheme = parts.scheme if parts.scheme in ("http", "https") else result.scheme  # a relative Location
    return context.fetch(endpoint, service, path, scheme=scheme, host=parts.hostname or service.host)


def _run(case: Case, context: ProbeContext) -> Outcome:
    path = str(case.params["path"])
    scheme = str(case.params["scheme"])
    once = _http_once if scheme == "http" else _https_once
    return converge(lambda: once(context, case.service, path, scheme), context.attempts, context.max_attempts)


def _http_once(context: ProbeContext, service: ServiceTarget, path: str, scheme: str) -> Outcome:
    """Plain HTTP: the Gateway must redirect as nginx does, to where the same backend answers."""
    nginx, gateway = on_both(context.targets, lambda endpoint: context.fetch(endpoint, service, path, scheme=scheme))
    evidence: dict[str, Any] = {
        "nginx": side_summary(nginx),
        "gateway": side_summary(gateway),
        "accepted": [{"codes": list(a.codes), "reason": a.reason} for a in service.redirect_accept],
    }
    outcome = Outcome(evidence=evidence)
    outcome.baseline = _nginx_redirect_problem(nginx, service)
    if outcome.baseline is not None:
        return outcome
    status = _status_difference(nginx, gateway, service)
    if status is not None:
        outcome.differences.append(status)
    outcome.differences += location_differences(nginx, gateway)
    if gateway.status in REDIRECT_CODES and gateway.header("location") is not None:
        _judge_followed_leg(context, service, nginx, gateway, outcome)
    return outcome


def _judge_followed_leg(
    context: ProbeContext, service: ServiceTarget, nginx: ProbeResult, gateway: ProbeResult, outcome: Outcome
) -> None:
    """The followed leg: the redirect's target must be served by the same backend."""
    followed_nginx, followed_gateway = (
        _follow(context, context.targets.nginx, service, nginx),
        _follow(context, context.targets.gateway, service, gateway),
    )
    outcome.evidence["followed"] = {"nginx": side_summary(followed_nginx), "gateway": side_summary(followed_gateway)}
    problem = baseline_problem(followed_nginx, _expected_backend(service))
    if problem is not None:
        outcome.baseline = f"after the redirect, {problem}"
        return
    if followed_nginx.status != followed_gateway.status:
        outcome.differences.append(
            Difference("followed status", followed_nginx.status, followed_gateway.status or followed_gateway.error_kind)
        )
    if followed_nginx.identified:
        backend = backend_difference(followed_nginx, followed_gateway, "followed backend")
        if backend is not None:
            outcome.differences.append(backend)
    else:
        outcome.not_run = "the redirect's target: " + no_backend_named(context.targets.identity_of(service))


def _https_once(context: ProbeContext, service: ServiceTarget, path: str, scheme: str) -> Outcome:
    """HTTPS: served, not redirected again (a redirect to itself is a loop), by the same backend."""
    nginx, gateway = on_both(context.targets, lambda endpoint: context.fetch(endpoint, service, path, scheme=scheme))
    outcome = Outcome(evidence={"nginx": side_summary(nginx), "gateway": side_summary(gateway)})
    outcome.baseline = baseline_problem(nginx, _expected_backend(service))
    nginx_location = nginx.header("location") or ""
    if (
        outcome.baseline is None
        and nginx.status in REDIRECT_CODES
        and nginx_location.startswith(f"https://{service.host}")
    ):
        outcome.baseline = f"nginx redirects HTTPS to itself ({nginx.status} {nginx_location}): a redirect loop"
    if outcome.baseline is not None:
        return outcome
    location = gateway.header("location") or ""
    if gateway.status in REDIRECT_CODES and location.startswith(f"https://{service.host}"):
        outcome.differences.append(
            Difference("gateway on https", nginx.status, gateway.status, note=f"redirect loop to {location}")
        )
    elif gateway.status != nginx.status:
        outcome.differences.append(Difference("status", nginx.status, gateway.status or gateway.error_kind))
    if nginx.identified:
        backend = backend_difference(nginx, gateway)
        if backend is not None:
            outcome.differences.append(backend)
    else:
        outcome.not_run = no_backend_named(context.targets.identity_of(service))
    return outcome
