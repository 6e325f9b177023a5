"""The client source IP: what the backend sees through each side, and whether the
allowlist lets the allowed client in and keeps the denied one out on both sides."""

from __future__ import annotations

from typing import Any

from cutover.checks.base import (
    Case,
    CheckInfo,
    Difference,
    Outcome,
    ProbeContext,
    converge,
    not_applicable,
    not_configured,
    on_both,
    side_summary,
)
from cutover.probe.client import ProbeResult
from cutover.targets import Targets

__all__ = ["INFO", "cases", "denial", "seen_by_backend"]

INFO = CheckInfo(
    kind="source_ip",
    title="Client source IP and allowlist",
    description="Allowed vantage points get through and denied ones are refused on both sides (nginx 403; the "
    "Gateway 403 or a refused/reset connection); a client-supplied X-Forwarded-For gets no denied client in.",
    protects=("whitelist-source-range", "allowlist-source-range"),
)
SEEN_HEADERS = ("x-forwarded-for", "x-real-ip", "x-envoy-external-address", "x-envoy-internal")


def seen_by_backend(result: ProbeResult) -> dict[str, Any] | None:
    """The client identity the backend could read: TCP peer and forwarding headers."""
    data = result.json
    if not data or "peer" not in data:
        return None
    headers = data.get("headers") or {}
    return {"peer": (data.get("peer") or {}).get("address"), **{h: headers.get(h) for h in SEEN_HEADERS}}


def denial(result: ProbeResult) -> str | None:
    """How a request was denied (`403`, `refused`, `reset`), or None when it was not."""
    if result.status == 403:
        return "403"
    if result.error_kind in ("refused", "reset", "connect"):
        return result.error_kind
    return None


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        allowed = [str(v) for v in service.source_ip.get("allowed") or []]
        denied = [str(v) for v in service.source_ip.get("denied") or []]
        if "source_ip" not in service.checks:
            result.append(not_applicable(INFO, service, "the target declares no allowlist"))
            continue
        if not (allowed or denied):
            result.append(not_configured(INFO, service, "source_ip is listed but no allowed/denied vantage points"))
            continue
        for vantage in allowed:
            result.append(Case(INFO, service, f"allowed {vantage}", {"vantage": vantage, "expect": "allowed"}, _run))
        for vantage in denied:
            result.append(Case(INFO, service, f"denied {vantage}", {"vantage": vantage, "expect": "denied"}, _run))
            if allowed:
                spoof = targets.vantage_points[allowed[0]].address
                result.append(
                    Case(
                        INFO,
                        service,
                        f"denied {vantage} spoofing XFF",
                        {"vantage": vantage, "expect": "denied", "xff": spoof},
                        _run,
                    )
                )
    return result


def _run(case: Case, context: ProbeContext) -> Outcome:
    vantage = str(case.params["vantage"])
    source = context.source(case.service, vantage)
    headers = {"X-Forwarded-For": str(case.params["xff"])} if case.params.get("xff") else {}
    path = case.service.first_path

    def once() -> Outcome:
        nginx, gateway = on_both(
            context.targets,
            lambda endpoint: context.fetch(endpoint, case.service, path, source=source, headers=headers),
        )
        differences: list[Difference] = []
        if case.params["expect"] == "allowed":
            for side, result in (("nginx", nginx), ("gateway", gateway)):
                if result.status != 200 or result.backend is None:
                    differences.append(
                        Difference(
                            f"{side} lets {vantage} in",
                            _outcome(nginx),
                            _outcome(gateway),
                            note=f"{vantage} ({source}) is on the allowlist",
                        )
                    )
            seen_gateway = seen_by_backend(gateway) or {}
            if (
                gateway.backend is not None
                and source
                and source not in str(seen_gateway.get("x-forwarded-for"))
                and (seen_gateway.get("x-envoy-external-address") != source)
            ):
                differences.append(
                    Difference(
                        "client address at the backend",
                        seen_by_backend(nginx),
                        seen_gateway,
                        note="the backend behind the Gateway cannot see the client address",
                    )
                )
        else:
            for side, result in (("nginx", nginx), ("gateway", gateway)):
                if denial(result) is None:
                    differences.append(
                        Difference(
                            f"{side} denies {vantage}",
                            _outcome(nginx),
                            _outcome(gateway),
                            note=f"{vantage} ({source}) is not on the allowlist"
                            + (f"; it sent X-Forwarded-For: {case.params['xff']}" if headers else ""),
                        )
                    )
        return Outcome(
            differences=differences,
            evidence={
                "nginx": side_summary(nginx) | {"seen": seen_by_backend(nginx), "denied": denial(nginx)},
                "gateway": side_summary(gateway) | {"seen": seen_by_backend(gateway), "denied": denial(gateway)},
                "vantage": {"name": vantage, "address": source},
            },
        )

    return converge(once, context.attempts, context.max_attempts)


def _outcome(result: ProbeResult) -> str:
    how = denial(result)
    if how is not None:
        return f"denied ({how})"
    if result.status is None:
        return result.error_kind or "error"
    return f"{result.status} from {result.backend}" if result.backend else str(result.status)
