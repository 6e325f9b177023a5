"""Path matching parity: nginx is lenient (prefix, merged slashes, regex spreading to the host),
Gateway API is strict (segment-bounded prefixes, exact is exact, case-sensitive)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from cutover.checks.base import (
    Case,
    CheckInfo,
    Difference,
    Outcome,
    ProbeContext,
    baseline_problem,
    no_backend_named,
    not_applicable,
    on_both,
    side_summary,
)
from cutover.probe.client import ProbeResult
from cutover.targets import PathRule, Targets

__all__ = ["INFO", "cases", "probe_matrix"]

_PARALLEL_ROUNDS = 4

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


def _value(result: ProbeResult, field_name: str) -> object:
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
                (_value(n, field_name), _value(g, field_name))
                for (n, g), other in zip(rounds, backend_differs, strict=True)
                if not other and n.echo is not None and g.echo is not None
            ]
        else:
            pairs = [(_value(n, field_name), _value(g, field_name)) for n, g in rounds]
        if not pairs:
            continue
        reference = _most_common([n for n, _ in pairs])
        nginx_values = {repr(n) for n, _ in pairs}
        off = [g for _, g in pairs if repr(g) not in nginx_values]
        if field_name == "backend":
            backend_differs = [repr(_value(g, "backend")) not in nginx_values for _, g in rounds]
        if not off:
            continue
        shown = _most_common(off)
        if field_name == "backend":
            counts = Counter("(none)" if g is None else str(g) for g in off)
            note = ", ".join(f"{n} of {total} attempts on {name}" for name, n in counts.most_common())
        else:
            note = f"{len(off)} of {len(pairs)} attempts" if len(off) < len(pairs) else ""
        differences.append(Difference(field_name, reference, shown, note=note))
    if len({repr(_value(n, "backend")) for n, _ in rounds}) > 1:
        nginx_backends = Counter(str(_value(n, "backend")) for n, _ in rounds)
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
    path = str(case.params["path"])
    rule = case.params.get("rule")
    # A probe of a rule's own path must reach that rule's backend on nginx (the baseline).
    own_rule = bool(case.params.get("own_rule", case.params.get("label") == "path"))
    expected_backend = rule.backend if own_rule and isinstance(rule, PathRule) else None
    total = context.path_attempts

    def one_round(_: int) -> tuple[ProbeResult, ProbeResult]:
        result: tuple[ProbeResult, ProbeResult] = on_both(
            context.targets, lambda endpoint: context.fetch(endpoint, case.service, path)
        )
        return result

    # A few rounds at a time: each round is one fresh connection per side.
    with ThreadPoolExecutor(max_workers=_PARALLEL_ROUNDS, thread_name_prefix="cutover-paths") as pool:
        rounds = list(pool.map(one_round, range(total)))
    differences = _compare(rounds)
    problems = [p for p in (baseline_problem(n, expected_backend, own_rule) for n, _ in rounds) if p]
    shown = next((i for i, (n, g) in enumerate(rounds) if n.served_by != g.served_by or n.status != g.status), 0)
    nginx, gateway = rounds[shown]
    outcome = Outcome(
        differences=differences,
        evidence={
            "nginx": side_summary(nginx),
            "gateway": side_summary(gateway),
            "probe": case.params["label"],
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
