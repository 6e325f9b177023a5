"""Path matching parity: nginx is lenient (prefix, merged slashes, regex spreading to the host),
Gateway API is strict (segment-bounded prefixes, exact is exact, case-sensitive)."""

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
from cutover.probe.client import ProbeResult
from cutover.targets import PathRule, Targets

__all__ = ["INFO", "cases", "probe_matrix"]

INFO = CheckInfo(
    kind="paths",
    title="Path matching",
    description="Every rule's path, trailing slash, sub-path, sibling, case variant, double slash, "
    "encoded segment and query reach the same backend with the same status on both sides.",
    protects=("pathType", "use-regex", "rewrite-target"),
)


def _join(base: str, tail: str) -> str:
    return base.rstrip("/") + "/" + tail


def probe_matrix(rule: PathRule) -> list[tuple[str, str]]:
    """(label, path) probes derived from one rule's path and type."""
    path = rule.path
    if path == "/":
        probes = [
            ("path", "/"),
            ("sub-path", "/cutover-probe"),
            ("case", "/CUTOVER-PROBE"),
            ("double slash", "//cutover-probe"),
            ("encoded", "/cutover-probe/a%2Fb"),
            ("query", "/cutover-probe?probe=1"),
        ]
    else:
        bare = path.rstrip("/")
        probes = [
            ("path", path),
            ("trailing slash", bare if path.endswith("/") else path + "/"),
            ("sub-path", _join(path, "sub")),
            ("sibling", bare + "x"),
            ("case", path.upper() if path.upper() != path else path.capitalize()),
            ("double slash", "/" + path),
            ("encoded", _join(path, "a%2Fb")),
            ("query", path + "?probe=1"),
        ]
    seen: set[str] = set()
    unique = []
    for label, probe in probes:
        if probe not in seen:
            seen.add(probe)
            unique.append((label, probe))
    return unique


def cases(targets: Targets) -> list[Case]:
    result: list[Case] = []
    for service in targets.services:
        if "paths" not in service.checks or not service.paths:
            result.append(not_applicable(INFO, service, "no paths to probe"))
            continue
        seen: set[str] = set()
        for rule in service.paths:
            for label, path in probe_matrix(rule):
                if path in seen:
                    continue
                seen.add(path)
                result.append(Case(INFO, service, f"GET {path}", {"path": path, "label": label, "rule": rule}, _run))
    return result


def _compare(nginx: ProbeResult, gateway: ProbeResult) -> list[Difference]:
    differences: list[Difference] = []
    if nginx.status != gateway.status or (nginx.error is None) != (gateway.error is None):
        differences.append(Difference("status", nginx.status or nginx.error_kind, gateway.status or gateway.error_kind))
    if nginx.header("location") != gateway.header("location"):
        differences.append(Difference("location", nginx.header("location"), gateway.header("location")))
    if nginx.backend != gateway.backend:
        differences.append(Difference("backend", nginx.backend, gateway.backend))
    elif nginx.backend is not None:
        nginx_path = (nginx.json or {}).get("raw_target")
        gateway_path = (gateway.json or {}).get("raw_target")
        if nginx_path != gateway_path:
            differences.append(Difference("upstream path", nginx_path, gateway_path))
    return differences


def _run(case: Case, context: ProbeContext) -> Outcome:
    path = str(case.params["path"])

    def once() -> Outcome:
        nginx, gateway = on_both(context.targets, lambda endpoint: context.fetch(endpoint, case.service, path))
        return Outcome(
            differences=_compare(nginx, gateway),
            evidence={"nginx": side_summary(nginx), "gateway": side_summary(gateway), "probe": case.params["label"]},
        )

    return converge(once, context.attempts, context.max_attempts)
