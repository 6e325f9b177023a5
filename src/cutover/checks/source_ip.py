"""The client source IP: every service, probed from every vantage point, must let in through the
Gateway exactly the clients nginx lets in, reach the same backend, and show the backend who the
client is.

nginx is the reference, learned per vantage point from its own answer: the rule's backend
answers (let in) or nginx answers 403 (denied). Anything else from nginx (a refused or reset
connection, a timeout, a 404 or 5xx) means nginx is not a valid reference: the case is an
error (`Outcome.baseline`), not a pass. On the Gateway's side only a 403 is a denial: a refused,
reset or timed-out connection is a failure, since a client cannot tell it from an outage.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from cutover.checks.base import (
    Case,
    CheckInfo,
    Difference,
    Outcome,
    ProbeContext,
    converge,
    not_configured,
    on_both,
    side_summary,
)
from cutover.facts.annotations import verified_by
from cutover.probe.client import ProbeResult
from cutover.targets import ServiceTarget, Targets

__all__ = ["INFO", "cases", "denial", "seen_by_backend", "unreachable_vantage_point"]

INFO = CheckInfo(
    kind="source_ip",
    title="Client source IP and allowlist",
    description="From every vantage point, for every service: a client nginx lets in reaches the same backend "
    "through the Gateway, a client nginx refuses with 403 gets a 403 from the Gateway (a refused or reset "
    "connection is an error, not a denial), a client-supplied X-Forwarded-For gets no one in, and the backend "
    "behind the Gateway can read the client address.",
    protects=verified_by("source_ip"),
    marker="client source IP and allowlist parity",
    finding="client IP or allowlist differs",
    settings="source_ip",
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
    """`403` when the side denied the request; None otherwise (a refused connection is not a denial)."""
    return "403" if result.status == 403 else None


def unreachable_vantage_point(targets: Targets, service: ServiceTarget, name: str) -> str | None:
    """Why this host cannot send requests as vantage point `name`, or None when it can.

    A vantage point with an address is reachable when this host can bind that address (nothing
    is sent to find out). One without an address is this host's own network, so it is reachable
    only when it is where this host sits (the service's or the default vantage point)."""
    address = targets.vantage_points[name].address
    if address is None:
        here = service.vantage_point or targets.default_vantage_point
        if name == here:
            return None
        return (
            f"vantage point {name} has no address, and this host is {here or 'no named vantage point'}: "
            f"give {name} a local address this host can bind, or run from {name}'s network with "
            f"default_vantage_point: {name}"
        )
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        return f"vantage point {name} has address {address!r}, which is not an IP address"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError as exc:
            return f"this host cannot bind vantage point {name}'s address {address} ({exc.strerror or exc})"
    return None


def cases(targets: Targets) -> list[Case]:
    """For every service: one case per vantage point, and one per vantage point claiming another's
    address in X-Forwarded-For. Which of them nginx lets in is learned when the case runs."""
    result: list[Case] = []
    names = list(targets.vantage_points)
    for service in targets.services:
        if not names:
            result.append(
                not_configured(
                    INFO,
                    service,
                    "the targets define no vantage_points: name at least one inside and one outside the allowlist",
                )
            )
            continue
        for name in names:
            problem = unreachable_vantage_point(targets, service, name)
            probes: list[tuple[str, str | None]] = [(f"from {name}", None)]
            for other in names:
                spoofed = targets.vantage_points[other].address
                if other != name and spoofed and spoofed != targets.vantage_points[name].address:
                    probes.append((f"from {name} spoofing XFF {other}", spoofed))
            for probe, xff in probes:
                if problem is not None:
                    result.append(
                        Case(
                            INFO,
                            service,
                            probe,
                            skip_reason=f"Not running source_ip {probe} for {service.name}: {problem}",
                            skip_kind="not run",
                        )
                    )
                else:
                    result.append(Case(INFO, service, probe, {"vantage": name, "xff": xff}, _run))
    return result


def _rule_backend(service: ServiceTarget) -> str | None:
    return service.paths[0].backend if service.paths else None


def _declared(service: ServiceTarget, vantage: str) -> str | None:
    if vantage in [str(v) for v in service.source_ip.get("allowed") or []]:
        return "allowed"
    if vantage in [str(v) for v in service.source_ip.get("denied") or []]:
        return "denied"
    return None


def _let_in(result: ProbeResult) -> bool:
    return result.status is not None and 200 <= result.status < 300


def _baseline(nginx: ProbeResult, service: ServiceTarget, vantage: str, source: str | None) -> str | None:
    """Why nginx's answer cannot serve as the reference for this vantage point, or None."""
    who = f"{vantage} ({source or 'default address'})"
    where = f"{nginx.scheme}://{service.host}{nginx.path}"
    expected_backend = _rule_backend(service)
    if denial(nginx) is None and not _let_in(nginx):
        return f"nginx does not serve {where} to {who}: {_outcome(nginx)}; the baseline is broken"
    if _let_in(nginx) and expected_backend and nginx.backend is not None and nginx.backend != expected_backend:
        return (
            f"nginx answers {where} from {nginx.backend}, not the rule's backend {expected_backend}; "
            "the baseline is broken"
        )
    declared = _declared(service, vantage)
    answer = "denied" if denial(nginx) else "allowed"
    if declared is not None and declared != answer:
        return (
            f"nginx {'denies' if answer == 'denied' else 'lets in'} {who}, which the targets list as {declared}: "
            "the old side's allowlist is not what the targets say"
        )
    return None


@dataclass(frozen=True)
class _Client:
    """Who the probe stands for: a vantage point, its source address, and a spoofed X-Forwarded-For."""

    vantage: str
    source: str | None
    xff: str | None

    @property
    def who(self) -> str:
        return f"{self.vantage} ({self.source or 'default address'})"

    @property
    def spoof_note(self) -> str:
        return f"; it sent X-Forwarded-For: {self.xff}" if self.xff else ""


def _run(case: Case, context: ProbeContext) -> Outcome:
    vantage = str(case.params["vantage"])
    xff = case.params.get("xff")
    client = _Client(vantage, context.targets.vantage_points[vantage].address, str(xff) if xff else None)
    headers = {"X-Forwarded-For": client.xff} if client.xff else {}
    path = case.service.first_path

    def once() -> Outcome:
        nginx, gateway = on_both(
            context.targets,
            lambda endpoint: context.fetch(endpoint, case.service, path, source=client.source, headers=headers),
        )
        baseline = _baseline(nginx, case.service, vantage, client.source)
        differences: list[Difference] = []
        if baseline is None and denial(nginx) is None:
            differences = _admitted_differences(client, path, nginx, gateway)
        elif baseline is None and denial(gateway) is None:
            differences = [_not_denied(client, nginx, gateway)]
        return Outcome(
            differences=differences,
            evidence={
                "nginx": side_summary(nginx) | {"seen": seen_by_backend(nginx), "answer": _outcome(nginx)},
                "gateway": side_summary(gateway) | {"seen": seen_by_backend(gateway), "answer": _outcome(gateway)},
                "vantage": {
                    "name": vantage,
                    "address": client.source,
                    "declared": _declared(case.service, vantage),
                    "x-forwarded-for sent": xff,
                },
            },
            baseline=baseline,
        )

    return converge(once, context.attempts, context.max_attempts)


def _admitted_differences(client: _Client, path: str, nginx: ProbeResult, gateway: ProbeResult) -> list[Difference]:
    """nginx lets the client in: the Gateway must too, send it to the same Service, and let that
    Service see the client's address."""
    differences: list[Difference] = []
    if not _let_in(gateway):
        refused = gateway.status is None
        differences.append(
            Difference(
                f"gateway lets {client.vantage} in",
                _outcome(nginx),
                _outcome(gateway),
                note=f"nginx lets {client.who} in{client.spoof_note}"
                + ("; a refused or reset connection is an error, not a denial" if refused else ""),
            )
        )
    elif nginx.backend != gateway.backend:
        differences.append(
            Difference(
                "backend", nginx.backend, gateway.backend, note=f"the Service that answered {client.who} on {path}"
            )
        )
    seen_gateway = seen_by_backend(gateway)
    if (
        seen_gateway is not None
        and client.source
        and client.source not in str(seen_gateway.get("x-forwarded-for"))
        and seen_gateway.get("x-envoy-external-address") != client.source
    ):
        differences.append(
            Difference(
                "client address at the backend",
                seen_by_backend(nginx),
                seen_gateway,
                note="the backend behind the Gateway cannot see the client address",
            )
        )
    return differences


def _not_denied(client: _Client, nginx: ProbeResult, gateway: ProbeResult) -> Difference:
    """nginx refuses the client with 403 and the Gateway does not."""
    refused = gateway.status is None
    return Difference(
        f"gateway denies {client.vantage}",
        _outcome(nginx),
        _outcome(gateway),
        note=(
            f"the Gateway did not answer ({gateway.error_kind}): a refused or reset connection is an "
            "error, not a denial; nginx answered 403"
            if refused
            else f"nginx refuses {client.who} with 403{client.spoof_note}"
        ),
    )


def _outcome(result: ProbeResult) -> str:
    if denial(result) is not None:
        return "denied (403)"
    if result.status is None:
        return f"no answer ({result.error_kind or 'error'})"
    return f"{result.status} from {result.backend}" if result.backend else str(result.status)
