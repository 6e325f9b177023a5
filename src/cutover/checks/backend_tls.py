"""TLS to the backend: where nginx reached the backend over HTTPS, the Gateway must too
(option A, BackendTLSPolicy: the backend reports the TLS session and the SNI), or the
target declares option B (plain backend, TLS ends at the Gateway) and that is verified."""

from __future__ import annotations

from cutover.checks.base import (
    Case,
    CheckInfo,
    Difference,
    Outcome,
    ProbeContext,
    converge,
    not_applicable,
    on_both,
    side_summary,
)
from cutover.targets import Targets

__all__ = ["INFO", "cases"]

INFO = CheckInfo(
    kind="backend_tls",
    title="Backend TLS",
    description="Option A: the Gateway talks TLS to the backend with the policy's SNI and answers like nginx; "
    "option B: the backend is plain HTTP and TLS ends at the Gateway.",
    protects=("backend-protocol",),
)


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        if "backend_tls" not in service.checks:
            result.append(not_applicable(INFO, service, "the old side did not reach this backend over HTTPS"))
            continue
        mode = str(service.backend_tls.get("mode", "A"))
        label = "option A (BackendTLSPolicy)" if mode == "A" else "option B (plain backend)"
        result.append(Case(INFO, service, label, {"mode": mode}, _run))
    return result


def _run(case: Case, context: ProbeContext) -> Outcome:
    mode = case.params["mode"]
    expected_sni = case.service.backend_tls.get("hostname")
    path = case.service.first_path

    def once() -> Outcome:
        nginx, gateway = on_both(context.targets, lambda endpoint: context.fetch(endpoint, case.service, path))
        differences: list[Difference] = []
        nginx_tls = (nginx.json or {}).get("tls")
        gateway_tls = (gateway.json or {}).get("tls")
        if gateway.status != 200 or gateway.backend is None:
            reason = (gateway.body[:160].decode(errors="replace") if gateway.body else gateway.error) or ""
            differences.append(
                Difference("status", nginx.status, gateway.status or gateway.error_kind, note=reason.strip())
            )
        elif mode == "A":
            if not gateway_tls:
                differences.append(
                    Difference("backend TLS", nginx_tls, None, note="the Gateway reached the backend in plaintext")
                )
            elif expected_sni and gateway_tls.get("sni") != expected_sni:
                differences.append(Difference("backend SNI", expected_sni, gateway_tls.get("sni")))
        elif gateway_tls:
            differences.append(
                Difference(
                    "backend TLS",
                    "plain HTTP (option B)",
                    gateway_tls,
                    note="the target declares option B but the backend saw TLS",
                )
            )
        return Outcome(
            differences=differences,
            evidence={
                "nginx": side_summary(nginx) | {"backend_tls": nginx_tls},
                "gateway": side_summary(gateway) | {"backend_tls": gateway_tls},
                "mode": mode,
            },
        )

    return converge(once, context.attempts, context.max_attempts)
