"""Path matching parity: nginx is lenient (prefix, merged slashes, regex spreading to the host),
Gateway API is strict (segment-bounded prefixes, exact is exact, case-sensitive)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

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
from cutover.probe.client import Endpoint, ProbeResult, fetch
from cutover.probe.regex_sample import RegexUnsupported, is_literal, sample_regex, sample_value
from cutover.targets import PathRule, ServiceTarget, Targets, ValueMatch

__all__ = ["INFO", "cases", "probe_id", "probe_matrix", "send"]

INFO = CheckInfo(
    kind="paths",
    title="Path matching",
    description="Every rule's path, trailing slash, sub-path, sibling, case variant, double slash, "
    "encoded segment and query reach the same backend with the same status on both sides.",
    protects=("pathType", "use-regex", "rewrite-target"),
)


def _join(base: str, tail: str) -> str:
    return base.rstrip("/") + "/" + tail


def _literal_matrix(path: str) -> list[tuple[str, str]]:
    if path == "/":
        return [
            ("path", "/"),
            ("sub-path", "/cutover-probe"),
            ("case", "/CUTOVER-PROBE"),
            ("double slash", "//cutover-probe"),
            ("encoded", "/cutover-probe/a%2Fb"),
            ("query", "/cutover-probe?probe=1"),
        ]
    bare = path.rstrip("/")
    return [
        ("path", path),
        ("trailing slash", bare if path.endswith("/") else path + "/"),
        ("sub-path", _join(path, "sub")),
        ("sibling", bare + "x"),
        ("case", path.upper() if path.upper() != path else path.capitalize()),
        ("double slash", "/" + path),
        ("encoded", _join(path, "a%2Fb")),
        ("query", path + "?probe=1"),
    ]


def probe_matrix(rule: PathRule) -> list[tuple[str, str]]:
    """(label, path) probes derived from one rule's path and type; "path" is the rule's own path.

    A regex path (nginx use-regex, Gateway RegularExpression) is probed with generated paths
    that match it on its side and near misses that do not, never with the regex text; raises
    RegexUnsupported when no request can be generated."""
    mode = rule.regex_mode
    if mode is None or is_literal(rule.path):
        probes = _literal_matrix(rule.path)
    else:
        samples = sample_regex(rule.path, mode)
        probes = [
            *_literal_matrix(samples.matches[0]),
            *(("regex match", path) for path in samples.matches[1:]),
            *(("near miss", path) for path in samples.near_misses),
        ]
    seen: set[str] = set()
    unique = []
    for label, probe in probes:
        if probe not in seen:
            seen.add(probe)
            unique.append((label, probe))
    return unique


def _value(match: ValueMatch) -> str:
    """The value a request carries for a header or query match: the value, or a sample of its regex."""
    if match.type != "RegularExpression":
        return match.value
    try:
        return sample_value(match.value)
    except RegexUnsupported as exc:
        raise RegexUnsupported(f"{match.name}: {exc}") from None


def _with_query(path: str, query: list[tuple[str, str]]) -> str:
    if not query:
        return path
    encoded = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in query)
    return path + ("&" if "?" in path else "?") + encoded


def probe_id(method: str, host: str | None, path: str, headers: dict[str, str]) -> str:
    """`GET /x`; `GET other.example/x` on another host than the service's; headers in brackets."""
    text = f"{method} {host or ''}{path}"
    if headers:
        text += " [" + ", ".join(f"{name}: {value}" for name, value in headers.items()) + "]"
    return text


def _gateway_only(rule: PathRule, rules: list[PathRule]) -> bool:
    """An HTTPRoute match no Ingress rule of the service writes the same way (host, path, no extra match)."""
    if rule.source != "httproute":
        return False
    if rule.method or rule.headers or rule.query:
        return True
    return not any(
        other.source == "ingress" and other.host == rule.host and other.path.rstrip("/") == rule.path.rstrip("/")
        for other in rules
    )


def _not_run(service: ServiceTarget, probe: str, reason: str) -> Case:
    return Case(INFO, service, probe, skip_reason=f"not run: {reason}", skip_kind="not run")


def cases(targets: Targets) -> list[Case]:
    """One case per distinct request (method, host, path, headers) over every rule of both sides.

    params: `path` (raw, with the query), `label` ("path" = the rule's own path), `rule` (PathRule),
    `host`, `scheme`, `method`, `headers` (the request), `nginx_backend` (the backend nginx must answer
    with for the baseline: set only on an Ingress rule's own path), `origin` (where the rule is written),
    `note` (added to each difference: "rule exists only on the Gateway (HTTPRoute ns/name)", a regex's origin)."""
    result: list[Case] = []
    for service in targets.services:
        if "paths" not in service.checks or not service.paths:
            result.append(not_applicable(INFO, service, "no paths to probe"))
            continue
        seen: set[str] = set()
        for rule in service.paths:
            host = rule.host or service.host
            shown_host = host if host != service.host else None
            method = rule.method or "GET"
            try:
                matrix = probe_matrix(rule)
                headers = {match.name: _value(match) for match in rule.headers}
                query = [(match.name, _value(match)) for match in rule.query]
            except RegexUnsupported as exc:
                probe = f"{method} {shown_host or ''}{rule.path} (regex)"
                if probe not in seen:
                    seen.add(probe)
                    result.append(
                        _not_run(
                            service,
                            probe,
                            f"cannot generate a request for regex {rule.path!r} ({rule.origin}): {exc}",
                        )
                    )
                continue
            origin = rule.origin
            note = ""
            if _gateway_only(rule, service.paths):
                origin = note = f"rule exists only on the Gateway ({rule.origin})"
            elif rule.regex_mode is not None and not is_literal(rule.path):
                note = f"from regex {rule.path!r} of {rule.origin}"
            for label, raw in matrix:
                path = _with_query(raw, query)
                probe = probe_id(method, shown_host, path, headers)
                if probe in seen:
                    continue
                seen.add(probe)
                params: dict[str, Any] = {
                    "path": path,
                    "label": label,
                    "rule": rule,
                    "host": host,
                    "scheme": rule.scheme or service.scheme,
                    "method": method,
                    "headers": headers,
                    "nginx_backend": rule.nginx_backend if label == "path" else None,
                    "origin": origin,
                    "note": note,
                }
                result.append(Case(INFO, service, probe, params, _run))
    return result


def send(context: ProbeContext, endpoint: Endpoint, case: Case) -> ProbeResult:
    """The case's request to one endpoint: its host (Host and SNI), scheme, method, headers and raw path."""
    params = case.params
    return fetch(
        endpoint,
        str(params["host"]),
        str(params["path"]),
        scheme=str(params["scheme"]),
        method=str(params["method"]),
        headers=dict(params["headers"]) or None,
        source=context.source(case.service),
        ca_bundle=context.targets.ca_bundle,
    )


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
    def once() -> Outcome:
        nginx, gateway = on_both(context.targets, lambda endpoint: send(context, endpoint, case))
        differences = _compare(nginx, gateway)
        for difference in differences:
            difference.note = difference.note or str(case.params["note"])
        return Outcome(
            differences=differences,
            evidence={
                "nginx": side_summary(nginx),
                "gateway": side_summary(gateway),
                "probe": case.params["label"],
                "rule": case.params["origin"],
            },
        )

    return converge(once, context.attempts, context.max_attempts)
