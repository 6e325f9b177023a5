"""HTTP -> HTTPS redirects: where nginx answered plain HTTP with a 308 to https, the
Gateway must redirect to the same URL (codes accepted per target), never serve plain HTTP,
and never loop on HTTPS."""

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

__all__ = ["DEFAULT_CODES", "INFO", "cases", "same_location"]

DEFAULT_CODES = (301, 302, 303, 307, 308)
INFO = CheckInfo(
    kind="redirects",
    title="HTTP to HTTPS redirect",
    description="Plain HTTP gets a redirect to the same https URL on both sides; HTTPS is served, not redirected.",
    protects=("ssl-redirect", "force-ssl-redirect"),
)


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        if "redirects" not in service.checks:
            result.append(not_applicable(INFO, service, "the host had no ssl-redirect"))
            continue
        base = service.first_path
        probe_path = base.rstrip("/") + "/cutover-redirect?q=1"
        result.append(Case(INFO, service, f"http GET {probe_path}", {"path": probe_path, "scheme": "http"}, _run))
        result.append(Case(INFO, service, f"https GET {base}", {"path": base, "scheme": "https"}, _run))
    return result


_DEFAULT_PORTS = {"https": "443", "http": "80"}


def same_location(first: str | None, second: str | None) -> bool:
    """Equal URLs once a scheme's default port is dropped (RFC 3986 6.2.3): Cilium sets
    port_redirect 443 on `scheme: https`, so Envoy writes https://host:443/... where nginx
    wrote https://host/...; a client goes to the same place."""

    def normal(location: str | None) -> str | None:
        if location is None or "://" not in location:
            return location
        scheme, rest = location.split("://", 1)
        authority, slash, tail = rest.partition("/")
        default = _DEFAULT_PORTS.get(scheme.lower())
        if default and authority.endswith(":" + default):
            authority = authority[: -len(default) - 1]
        return f"{scheme}://{authority}{slash}{tail}"

    return normal(first) == normal(second)


def _run(case: Case, context: ProbeContext) -> Outcome:
    path = str(case.params["path"])
    scheme = str(case.params["scheme"])
    codes = tuple(int(c) for c in case.service.redirects.get("codes", DEFAULT_CODES))
    expected_location = f"https://{case.service.host}{path}"

    def once() -> Outcome:
        nginx, gateway = on_both(
            context.targets, lambda endpoint: context.fetch(endpoint, case.service, path, scheme=scheme)
        )
        differences: list[Difference] = []
        if scheme == "http":
            if nginx.status not in codes or nginx.header("location") != expected_location:
                differences.append(
                    Difference(
                        "nginx redirect",
                        f"{nginx.status} {nginx.header('location')}",
                        "-",
                        note=f"expected a redirect to {expected_location}",
                    )
                )
            if gateway.status not in codes:
                note = "the Gateway serves plain HTTP" if gateway.status == 200 else f"accepted codes: {list(codes)}"
                differences.append(Difference("status", nginx.status, gateway.status or gateway.error_kind, note=note))
            elif not same_location(gateway.header("location"), nginx.header("location")):
                differences.append(Difference("location", nginx.header("location"), gateway.header("location")))
        else:
            for side, result in (("nginx", nginx), ("gateway", gateway)):
                location = result.header("location") or ""
                if result.status in codes and location.startswith(f"https://{case.service.host}"):
                    differences.append(
                        Difference(
                            f"{side} on https", nginx.status, gateway.status, note=f"redirect loop to {location}"
                        )
                    )
            if gateway.status != nginx.status:
                differences.append(Difference("status", nginx.status, gateway.status or gateway.error_kind))
        return Outcome(
            differences=differences,
            evidence={"nginx": side_summary(nginx), "gateway": side_summary(gateway), "accepted_codes": list(codes)},
        )

    return converge(once, context.attempts, context.max_attempts)
