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
    backend_difference,
    baseline_problem,
    converge,
    not_applicable,
    on_both,
    side_summary,
)
from cutover.facts.annotations import verified_by
from cutover.targets import Targets

__all__ = ["INFO", "cases"]

NO_ECHO = (
    "the TLS session between proxy and backend (version, SNI) is reported only by the probe backend's echo, "
    "which nginx's answer does not carry; verify it from the backend's own logs, or run the check against "
    "an echo backend (cutover.lab.backend) that serves TLS with the backend's certificate"
)

INFO = CheckInfo(
    kind="backend_tls",
    title="Backend TLS",
    description="Option A: the Gateway talks TLS to the backend with the policy's SNI and answers like nginx; "
    "option B: the backend is plain HTTP and TLS ends at the Gateway.",
    protects=verified_by("backend_tls"),
    marker="TLS to the backend (BackendTLSPolicy or option B)",
    finding="TLS to the backend differs",
    settings="backend_tls",
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
    expected_backend = case.service.paths[0].backend if case.service.paths else None

    def once() -> Outcome:
        nginx, gateway = on_both(context.targets, lambda endpoint: context.fetch(endpoint, case.service, path))
        differences: list[Difference] = []
        nginx_tls = (nginx.echo or {}).get("tls")
        gateway_tls = (gateway.echo or {}).get("tls")
        if gateway.status != 200 or (gateway.backend is None and nginx.identified):
            reason = (gateway.body[:160].decode(errors="replace") if gateway.body else gateway.error) or ""
            differences.append(
                Difference("status", nginx.status, gateway.status or gateway.error_kind, note=reason.strip())
            )
        elif gateway.echo is None:
            pass  # nothing reports the Gateway's TLS session: "not run" below, unless nginx's echo is there
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
        if nginx.identified and gateway.status == 200 and gateway.backend is not None:
            backend = backend_difference(nginx, gateway)
            if backend is not None:
                differences.append(backend)
        outcome = Outcome(
            differences=differences,
            evidence={
                "nginx": side_summary(nginx) | {"backend_tls": nginx_tls},
                "gateway": side_summary(gateway) | {"backend_tls": gateway_tls},
                "mode": mode,
            },
        )
        outcome.baseline = baseline_problem(nginx, expected_backend)
        if outcome.baseline is None and nginx.echo is not None and not nginx_tls:
            outcome.baseline = (
                f"nginx reached {nginx.served_by} in plaintext: the old side's backend-protocol HTTPS is not in effect"
            )
        if nginx.echo is None or gateway.echo is None:
            outcome.not_run = NO_ECHO
        return outcome

    return converge(once, context.attempts, context.max_attempts)
