"""Path matching parity: nginx is lenient (prefix, merged slashes, regex spreading to the host),
Gateway API is strict (segment-bounded prefixes, exact is exact, case-sensitive)."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

from cutover.checks.base import (
    Case,
    CheckInfo,
    Difference,
    Outcome,
    ProbeContext,
    baseline_problem,
    no_backend_named,
    not_applicable,
    on_both_rounds,
    side_summary,
)
from cutover.facts.annotations import verified_by
from cutover.probe.client import Endpoint, ProbeResult
from cutover.probe.regex_sample import RegexUnsupported, is_literal, sample_regex, sample_value
from cutover.targets import PathRule, ServiceTarget, Targets, ValueMatch

__all__ = ["INFO", "cases", "probe_id", "probe_matrix", "send"]

INFO = CheckInfo(
    kind="paths",
    title="Path matching",
    description="Every rule's path, trailing slash, sub-path, sibling, case variant, double slash, "
    "encoded segment and query reach the same backend with the same status on both sides.",
    protects=("pathType", *verified_by("paths")),
    marker="path matching parity (trailing slash, prefix, regex, case)",
    finding="path matching differs",
    settings="paths",
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
    return context.fetch(
        endpoint,
        case.service,
        str(params["path"]),
        host=str(params["host"]),
        scheme=str(params["scheme"]),
        method=str(params["method"]),
        headers=dict(params["headers"]) or None,
    )


def _field_value(result: ProbeResult, field_name: str) -> object:
    if field_name == "status":
        return result.status if result.error is None else result.error_kind
    if field_name == "location":
        return result.header("location")
    if field_name == "backend":
        return result.served_by
    echo = result.echo
    return echo.get("raw_target") if echo else None


def _most_common(values: list[object]) -> object:
    return Counter(values).most_common(1)[0][0]


def _compare(rounds: list[tuple[ProbeResult, ProbeResult]]) -> list[Difference]:
    """Every attempt of the Gateway judged against nginx's answer, field by field: a field
    that differs in any attempt fails, and the note says in how many."""
    total = len(rounds)
    differences: list[Difference] = []
    backend_differs = [False] * total
    for field_name in ("status", "location", "backend", "upstream path"):
        if field_name == "upstream path":
            # The path the backend saw only means something where both reached the same backend.
            pairs = [
                (_field_value(n, field_name), _field_value(g, field_name))
                for (n, g), other in zip(rounds, backend_differs, strict=True)
                if not other and n.echo is not None and g.echo is not None
            ]
        else:
            pairs = [(_field_value(n, field_name), _field_value(g, field_name)) for n, g in rounds]
        if not pairs:
            continue
        reference = _most_common([n for n, _ in pairs])
        nginx_values = {repr(n) for n, _ in pairs}
        off = [g for _, g in pairs if repr(g) not in nginx_values]
        if field_name == "backend":
            backend_differs = [repr(_field_value(g, "backend")) not in nginx_values for _, g in rounds]
        if not off:
            continue
        shown = _most_common(off)
        if field_name == "backend":
            counts = Counter("(none)" if g is None else str(g) for g in off)
            note = ", ".join(f"{n} of {total} attempts on {name}" for name, n in counts.most_common())
        else:
            note = f"{len(off)} of {len(pairs)} attempts" if len(off) < len(pairs) else ""
        differences.append(Difference(field_name, reference, shown, note=note))
    if len({repr(_field_value(n, "backend")) for n, _ in rounds}) > 1:
        nginx_backends = Counter(str(_field_value(n, "backend")) for n, _ in rounds)
        differences.append(
            Difference(
                "nginx backends",
                dict(nginx_backends),
                None,
                severity="warn",
                note="nginx itself answered from several backends: the Gateway was judged against all of them",
            )
        )
    return differences


def _unidentified(rounds: list[tuple[ProbeResult, ProbeResult]], own_rule: bool) -> bool:
    """Whether an answer that must have come from a backend does not name it: then equal
    statuses say nothing about which backend served them. A 3xx/4xx/5xx naming no backend can
    be the proxy's own answer (no rule matched, nginx's trailing-slash 301), comparable by
    status and Location alone."""
    for nginx, gateway in rounds:
        if own_rule and not nginx.identified:
            return True
        for result in (nginx, gateway):
            if result.status is not None and 200 <= result.status < 300 and not result.identified:
                return True
    return False


def _attempt(index: int, side: str, result: ProbeResult) -> dict[str, object]:
    return {
        "attempt": index,
        "side": side,
        "status": result.status,
        "error": result.error_kind,
        "backend": result.served_by,
    }


def _run(case: Case, context: ProbeContext) -> Outcome:
    # A probe of an Ingress rule's own path must reach that rule's backend on nginx (the
    # baseline); a rule that exists only on the Gateway has no such reference on nginx.
    expected_backend = case.params.get("nginx_backend")
    own_rule = expected_backend is not None
    total = context.path_attempts

    # Every round is one fresh connection per side, on the shared request workers.
    rounds: list[tuple[ProbeResult, ProbeResult]] = on_both_rounds(
        context.targets, lambda endpoint: send(context, endpoint, case), total
    )
    differences = _compare(rounds)
    for difference in differences:
        difference.note = "; ".join(part for part in (difference.note, str(case.params.get("note") or "")) if part)
    problems = [p for p in (baseline_problem(n, expected_backend, own_rule) for n, _ in rounds) if p]
    shown = next((i for i, (n, g) in enumerate(rounds) if n.served_by != g.served_by or n.status != g.status), 0)
    nginx, gateway = rounds[shown]
    outcome = Outcome(
        differences=differences,
        evidence={
            "nginx": side_summary(nginx),
            "gateway": side_summary(gateway),
            "probe": case.params["label"],
            "rule": case.params.get("origin"),
            "shown_attempt": shown + 1,
            "attempts": [
                entry
                for index, (n, g) in enumerate(rounds, start=1)
                for entry in (_attempt(index, "nginx", n), _attempt(index, "gateway", g))
            ],
        },
        attempts=total,
    )
    if problems:
        outcome.baseline = f"{problems[0]} ({len(problems)} of {total} attempts)"
    elif _unidentified(rounds, own_rule):
        outcome.not_run = no_backend_named(context.targets.identity_of(case.service))
    return outcome
