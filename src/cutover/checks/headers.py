"""Header parity: the response headers the client gets and the request headers the backend
sees, compared after learning the noise (Date, request ids) by asking nginx twice."""

from __future__ import annotations

from typing import Any

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
)
from cutover.probe.client import ProbeResult
from cutover.targets import ServiceTarget, Targets

__all__ = ["DEFAULT_SEVERITY", "INFO", "cases", "severity_of"]

INFO = CheckInfo(
    kind="headers",
    title="Headers",
    description="Security headers nginx added (HSTS), the upstream Host and X-Forwarded-Proto must survive; "
    "X-Real-IP matters where the client address does; the rest is shown as warnings.",
    protects=("hsts", "X-Forwarded-*", "X-Real-IP"),
    marker="response and upstream request headers",
    finding="headers differ",
    settings="headers",
)
NO_ECHO = (
    "the headers the backend received (Host, X-Forwarded-Proto, X-Real-IP) are only visible in the probe "
    "backend's echo, which nginx's answer does not carry (response headers were compared); to compare them, "
    "put an echo backend (cutover.lab.backend, or the Gateway API conformance echo server) behind the route"
)
# Fields never compared: connection management and body framing.
_SKIPPED = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
DEFAULT_SEVERITY: dict[str, str] = {
    "response:strict-transport-security": "fail",
    "response:server": "info",
    "response:x-envoy-upstream-service-time": "info",
    "request:host": "fail",
    "request:x-forwarded-proto": "fail",
    "request:x-envoy-external-address": "info",
    "request:x-envoy-expected-rq-timeout-ms": "info",
    "request:x-envoy-internal": "info",
    "request:x-request-id": "warn",
}


def severity_of(service: ServiceTarget, field: str) -> str:
    configured = {str(k).lower(): str(v) for k, v in (service.headers.get("severity") or {}).items()}
    if field in configured:
        return configured[field]
    name = field.split(":", 1)[1]
    if name in configured:
        return configured[name]
    if field == "request:x-real-ip":
        return "fail" if "source_ip" in service.checks else "warn"
    return DEFAULT_SEVERITY.get(field, "warn")


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        if "headers" not in service.checks:
            result.append(not_applicable(INFO, service, "the target declares no header check"))
            continue
        path = service.first_path
        result.append(Case(INFO, service, f"GET {path}", {"path": path}, _run))
    return result


def _fields(result: ProbeResult) -> dict[str, str]:
    fields = {f"response:{k}": v for k, v in result.headers.items() if k not in _SKIPPED}
    for name, value in ((result.json or {}).get("headers") or {}).items():
        if name not in _SKIPPED:
            fields[f"request:{name}"] = str(value)
    return fields


def _run(case: Case, context: ProbeContext) -> Outcome:
    path = str(case.params["path"])
    service = case.service
    # The probe is the first rule's own path: nginx must answer it from that rule's backend.
    expected_backend = service.paths[0].backend if service.paths else None
    identity = context.targets.identity_of(service)

    def once() -> Outcome:
        # The noise: what differs between two asks of the old side.
        first = context.fetch(context.targets.nginx, service, path)
        nginx, gateway = on_both(context.targets, lambda endpoint: context.fetch(endpoint, service, path))
        noisy = {name for name, value in _fields(first).items() if _fields(nginx).get(name) != value} | {
            "response:date",
            "response:content-length",
        }
        nginx_fields, gateway_fields = _fields(nginx), _fields(gateway)
        differences: list[Difference] = []
        for name in sorted(set(nginx_fields) | set(gateway_fields)):
            severity = severity_of(service, name)
            if severity == "ignore":
                continue
            old, new = nginx_fields.get(name), gateway_fields.get(name)
            if old is not None and new is None:
                differences.append(Difference(name, old, None, severity, note="lost through the Gateway"))
            elif old is None and new is not None:
                differences.append(
                    Difference(name, None, new, "info" if severity != "fail" else "warn", note="added by the Gateway")
                )
            elif old != new and name not in noisy:
                differences.append(Difference(name, old, new, severity))
        if gateway.status != nginx.status:
            differences.append(Difference("status", nginx.status, gateway.status or gateway.error_kind))
        if nginx.identified:
            backend = backend_difference(nginx, gateway)
            if backend is not None:
                differences.append(backend)
        evidence: dict[str, Any] = {
            side: {
                "status": result.status,
                "error": result.error,
                "served_by": result.served_by,
                "response": result.headers,
                "upstream": (result.json or {}).get("headers"),
                "body": result.body[:400].decode("utf-8", errors="replace"),
            }
            for side, result in (("nginx", nginx), ("gateway", gateway))
        }
        evidence |= {
            "noise": sorted(noisy),
        }
        outcome = Outcome(differences=differences, evidence=evidence)
        outcome.baseline = baseline_problem(nginx, expected_backend)
        if nginx.echo is None:
            outcome.not_run = NO_ECHO if nginx.identified else f"{no_backend_named(identity)}; {NO_ECHO}"
        return outcome

    return converge(once, context.attempts, context.max_attempts)
