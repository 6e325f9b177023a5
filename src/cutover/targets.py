"""The targets file: the two endpoints, who the clients are, and what to check per service.

Written by `cutover lab up` for the embedded lab, or by hand for a real cluster (see
fixtures/targets/staging.example.yaml). Loading it is strict: every complaint names the
file and the field.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cutover.probe.client import Endpoint, Identity
from cutover.probe.regex_sample import RegexUnsupported, is_literal, sample_regex
from cutover.registry import kinds, parity_kinds
from cutover.yamlread import Fields, field_line, load_one

__all__ = [
    "PATH_ATTEMPTS",
    "ExpectedDifference",
    "PathRule",
    "RedirectAcceptance",
    "ServiceTarget",
    "Targets",
    "Unverified",
    "ValueMatch",
    "VantagePoint",
    "Waiver",
    "all_kinds",
    "check_kinds",
    "load_targets",
    "parse_targets",
]


def check_kinds() -> tuple[str, ...]:
    """The parity kinds a service's `checks` may list (from the registry of check kinds)."""
    return parity_kinds()


def all_kinds() -> tuple[str, ...]:
    """Every kind a waiver or an expected difference may name."""
    return tuple(kinds())


# The keys each part of the file may hold. An unknown key is refused with a suggestion:
# a typo such as `https_prot` would otherwise fall back to a default without a word.
_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "(top level)": (
        "version",
        "source",
        "endpoints",
        "ca_bundle",
        "vantage_points",
        "default_vantage_point",
        "services",
        "waivers",
        "notes",
        "redact_headers",
        "settings",
        "identity",
        "paths",
    ),
    "endpoints": ("nginx", "gateway"),
    "endpoint": ("address", "http_port", "https_port"),
    "vantage point": ("address", "description"),
    "service": (
        "name",
        "host",
        "wave",
        "namespace",
        "ingress",
        "complexity",
        "backends",
        "paths",
        "checks",
        "timeouts",
        "sse",
        "source_ip",
        "backend_tls",
        "redirects",
        "headers",
        "expected_differences",
        "vantage_point",
        "scheme",
        "unverified",
        "identity",
    ),
    "path": ("path", "type", "backend", "host", "scheme", "method", "headers", "query", "regex", "source", "object"),
    "value match": ("name", "value", "type"),
    "expected difference": ("check", "probe", "field", "reason", "owner", "expires"),
    "waiver": ("check", "service", "owner", "reason", "expires"),
    "unverified": ("behaviour", "object", "side", "verify"),
}
# Each paths probe is sent this many times by default: a 10% weighted split shows at least
# once in 20 attempts with probability 1 - 0.9**20 = 88%, and across a service's probes
# (6 or more per rule) with 1 - 0.9**120 > 99.999%.
PATH_ATTEMPTS = 20


@dataclass(frozen=True)
class VantagePoint:
    name: str
    address: str | None
    description: str = ""


PATH_TYPES = ("Prefix", "Exact", "ImplementationSpecific", "PathPrefix", "RegularExpression")
PATH_SOURCES = ("ingress", "httproute")
MATCH_TYPES = ("Exact", "RegularExpression")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")


@dataclass(frozen=True)
class ValueMatch:
    """A header or query-parameter match of an HTTPRoute rule: an exact value or a regex."""

    name: str
    value: str
    type: str = "Exact"


@dataclass(frozen=True)
class PathRule:
    """One rule of one side, as a probe source: where it came from and what a request must carry.

    `host` / `scheme` are None for the service's own host and scheme. `regex` marks a path nginx
    reads as `~* "^path"` (use-regex or rewrite-target on the host); `type: RegularExpression` is
    the Gateway's whole-path regex. `backend` is where this rule sends traffic on its own side."""

    path: str
    type: str
    backend: str | None = None
    host: str | None = None
    scheme: str | None = None
    method: str = ""
    headers: tuple[ValueMatch, ...] = ()
    query: tuple[ValueMatch, ...] = ()
    regex: bool = False
    source: str = "ingress"
    object: str = ""

    @property
    def origin(self) -> str:
        """Where the rule is written, for the report: `Ingress ns/name` or `HTTPRoute ns/name`."""
        kind = "HTTPRoute" if self.source == "httproute" else "Ingress"
        return f"{kind} {self.object}" if self.object else kind

    @property
    def regex_mode(self) -> str | None:
        """How the path is matched when it is a regex: "gateway" (whole path), "nginx" (~* prefix), or None."""
        if self.type == "RegularExpression":
            return "gateway"
        return "nginx" if self.regex else None

    @property
    def nginx_backend(self) -> str | None:
        """The backend nginx must answer this rule's own path with (the baseline), or None for a
        rule that exists on the Gateway's side only."""
        return self.backend if self.source == "ingress" else None


@dataclass(frozen=True)
class ExpectedDifference:
    """A reviewed, known difference: one check kind, a probe id glob and/or a field glob, why,
    who reviewed it and until when. It turns a matching difference into "waived", never "passed"."""

    check: str
    probe: str
    reason: str
    field: str = "*"
    owner: str = ""
    expires: dt.date | None = None

    def covers(self, check: str, probe_id: str, field_name: str) -> bool:
        return (
            self.check == check
            and fnmatch.fnmatchcase(probe_id, self.probe)
            and fnmatch.fnmatchcase(field_name, self.field)
        )

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today

    def describe(self) -> dict[str, str]:
        return {
            "kind": "expected difference",
            "owner": self.owner,
            "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else "",
            "probe": self.probe,
            "field": self.field,
        }


@dataclass(frozen=True)
class Unverified:
    """A behaviour of this service that no check can verify here (the lab does not model it,
    or no check covers it): it blocks GO until a run that can verify it, or a waiver."""

    behaviour: str
    obj: str = ""
    side: str = ""
    verify: str = ""


@dataclass(frozen=True)
class RedirectAcceptance:
    """Redirect codes the Gateway may send instead of nginx's, with the reviewed reason."""

    codes: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class Waiver:
    check: str
    service: str
    owner: str
    reason: str
    expires: dt.date | None

    def problem(self, today: dt.date) -> str | None:
        """Why this waiver does not count, or None when it is valid."""
        if not self.reason.strip():
            return "has no reason"
        if not self.owner.strip():
            return "has no owner"
        if self.expires is None:
            return "has no expiry date"
        if self.expires < today:
            return f"expired on {self.expires.isoformat()}"
        return None


@dataclass
class ServiceTarget:
    name: str
    host: str
    wave: int
    namespace: str = ""
    complexity: str = ""
    backends: list[str] = field(default_factory=list)
    paths: list[PathRule] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    timeouts: dict[str, Any] = field(default_factory=dict)
    sse: dict[str, Any] = field(default_factory=dict)
    source_ip: dict[str, Any] = field(default_factory=dict)
    backend_tls: dict[str, Any] = field(default_factory=dict)
    redirects: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    expected_differences: list[ExpectedDifference] = field(default_factory=list)
    vantage_point: str | None = None
    # How clients reach the host: https where the old side had a certificate for it.
    scheme: str = "https"
    unverified: list[Unverified] = field(default_factory=list)
    # How a real backend names itself (no probe-backend echo); the targets' global one if unset.
    identity: Identity | None = None
    redirect_accept: list[RedirectAcceptance] = field(default_factory=list)

    @property
    def first_path(self) -> str:
        """The path of the service's first rule on its own host: where single-request checks send
        their probe (a regex rule gives a path its regex matches, never the regex text)."""
        for rule in self.paths:
            if rule.host not in (None, self.host) or rule.method or rule.headers or rule.query:
                continue
            mode = rule.regex_mode
            if mode is None or is_literal(rule.path):
                return rule.path
            try:
                return sample_regex(rule.path, mode).matches[0]
            except RegexUnsupported:
                continue
        return "/"

    def accepted_redirect(self, code: int | None) -> RedirectAcceptance | None:
        """The reviewed acceptance of a Gateway redirect code that differs from nginx's, if any."""
        return next((a for a in self.redirect_accept if code in a.codes), None)

    def expected(self, check: str, probe_id: str, field_name: str) -> ExpectedDifference | None:
        """The first reviewed difference covering this field (expired ones included: the caller
        decides, so that an expired entry is reported rather than silently ignored)."""
        for item in self.expected_differences:
            if item.covers(check, probe_id, field_name):
                return item
        return None


@dataclass
class Targets:
    path: Path | None
    endpoints: dict[str, Endpoint]
    services: list[ServiceTarget]
    vantage_points: dict[str, VantagePoint] = field(default_factory=dict)
    default_vantage_point: str | None = None
    ca_bundle: str | None = None
    waivers: list[Waiver] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    redact_headers: list[str] = field(default_factory=list)
    identity: Identity | None = None
    path_attempts: int = PATH_ATTEMPTS

    def identity_of(self, service: ServiceTarget) -> Identity | None:
        return service.identity or self.identity

    @property
    def nginx(self) -> Endpoint:
        return self.endpoints["nginx"]

    @property
    def gateway(self) -> Endpoint:
        return self.endpoints["gateway"]

    def source_address(self, service: ServiceTarget, vantage: str | None = None) -> str | None:
        name = vantage or service.vantage_point or self.default_vantage_point
        if name is None:
            return None
        return self.vantage_points[name].address

    @property
    def waves(self) -> list[int]:
        return sorted({s.wave for s in self.services})


class _Fields(Fields):
    """Field access within the targets file: complaints name the file, line and field."""

    def __init__(self, file: str) -> None:
        real = file != "<targets>"
        super().__init__(file, "targets", (lambda where: field_line(file, where)) if real else None)


def _only_wildcards(pattern: str | None) -> bool:
    return pattern is None or not pattern.replace("*", "").strip()


def _expected(f: _Fields, value: Any, where: str) -> list[ExpectedDifference]:
    result: list[ExpectedDifference] = []
    for index, item in enumerate(f.sequence(value, where)):
        here = f"{where}[{index}]"
        entry = f.mapping(item, here, required=True)
        f.known(entry, here, _KNOWN_KEYS["expected difference"])
        check = f.string(entry.get("check"), f"{here}.check")
        if check not in all_kinds():
            raise f.fail(f"{here}.check", f"must name one check kind ({', '.join(all_kinds())}), got {check!r}")
        probe = f.string(entry.get("probe"), f"{here}.probe", required=False) or None
        field_name = f.string(entry.get("field"), f"{here}.field", required=False) or None
        if probe is None and field_name is None:
            raise f.fail(here, "names neither a probe nor a field", hint="say which difference was reviewed")
        if _only_wildcards(probe) and _only_wildcards(field_name):
            raise f.fail(here, "matches every probe and every field", hint="a wildcard-only entry hides every failure")
        for key, hint in (
            ("reason", "why the difference is acceptable"),
            ("owner", "who reviewed it"),
            ("expires", "when it must be reviewed again"),
        ):
            if entry.get(key) in (None, ""):
                raise f.fail(f"{here}.{key}", "is missing", hint=f"an expected difference needs {hint}")
        result.append(
            ExpectedDifference(
                check=check,
                probe=probe or "*",
                reason=f.string(entry.get("reason"), f"{here}.reason"),
                field=field_name or "*",
                owner=f.string(entry.get("owner"), f"{here}.owner"),
                expires=_date(f, entry.get("expires"), f"{here}.expires"),
            )
        )
    return result


def _unverified(f: _Fields, value: Any, where: str) -> list[Unverified]:
    result = []
    for index, item in enumerate(f.sequence(value, where)):
        here = f"{where}[{index}]"
        entry = f.mapping(item, here, required=True)
        f.known(entry, here, _KNOWN_KEYS["unverified"])
        result.append(
            Unverified(
                behaviour=f.string(entry.get("behaviour"), f"{here}.behaviour"),
                obj=f.string(entry.get("object"), f"{here}.object", required=False),
                side=f.string(entry.get("side"), f"{here}.side", required=False),
                verify=f.string(entry.get("verify"), f"{here}.verify", required=False),
            )
        )
    return result


def _identity(f: _Fields, value: Any, where: str) -> Identity | None:
    entry = f.mapping(value, where, required=False)
    if not entry:
        return None
    unknown = sorted(set(entry) - {"header", "json"})
    if unknown or len(entry) != 1:
        raise f.fail(
            where,
            f"must name exactly one of header or json, got {sorted(entry)}",
            hint='identity: {header: X-Served-By} or identity: {json: "$.pod"}',
        )
    if "header" in entry:
        return Identity(header=f.string(entry["header"], f"{where}.header"))
    return Identity(json=f.string(entry["json"], f"{where}.json"))


def _redirect_accept(f: _Fields, redirects: dict[str, Any], where: str) -> list[RedirectAcceptance]:
    if "codes" in redirects:
        raise f.fail(
            f"{where}.codes",
            "is no longer read: the Gateway's redirect code must equal nginx's",
            hint='accept another code with a reviewed reason: accept: [{codes: [301], reason: "..."}]',
        )
    result: list[RedirectAcceptance] = []
    for index, item in enumerate(f.sequence(redirects.get("accept"), f"{where}.accept")):
        entry = f.mapping(item, f"{where}.accept[{index}]", required=True)
        codes = f.sequence(entry.get("codes"), f"{where}.accept[{index}].codes", required=True)
        if not codes:
            raise f.fail(f"{where}.accept[{index}].codes", "is empty")
        reason = f.string(entry.get("reason"), f"{where}.accept[{index}].reason", required=False)
        if not reason.strip():
            raise f.fail(
                f"{where}.accept[{index}].reason", "is missing", hint="accepting another redirect code needs a reason"
            )
        result.append(
            RedirectAcceptance(
                tuple(f.integer(c, f"{where}.accept[{index}].codes", 300, 399) for c in codes), reason.strip()
            )
        )
    return result


def _value_matches(f: _Fields, value: Any, where: str) -> tuple[ValueMatch, ...]:
    """`{name: value}` (exact values) or a list of `{name, value, type}` as an HTTPRoute writes them."""
    if isinstance(value, dict):
        return tuple(
            ValueMatch(str(name), f.string(item, f"{where}.{name}", required=False)) for name, item in value.items()
        )
    result: list[ValueMatch] = []
    for index, item in enumerate(f.sequence(value, where)):
        entry = f.mapping(item, f"{where}[{index}]", required=True)
        f.known(entry, f"{where}[{index}]", _KNOWN_KEYS["value match"])
        match_type = f.string(entry.get("type"), f"{where}[{index}].type", required=False, default="Exact")
        if match_type not in MATCH_TYPES:
            raise f.fail(f"{where}[{index}].type", f"must be one of {', '.join(MATCH_TYPES)}, got {match_type!r}")
        result.append(
            ValueMatch(
                f.string(entry.get("name"), f"{where}[{index}].name"),
                f.string(entry.get("value"), f"{where}[{index}].value", required=False),
                match_type,
            )
        )
    return tuple(result)


def _path_rule(f: _Fields, item: Any, where: str) -> PathRule:
    entry = f.mapping(item, where, required=True)
    f.known(entry, where, _KNOWN_KEYS["path"])
    path = f.string(entry.get("path"), f"{where}.path")
    path_type = f.string(entry.get("type"), f"{where}.type", required=False, default="Prefix")
    if path_type not in PATH_TYPES:
        raise f.fail(f"{where}.type", f"must be one of {', '.join(PATH_TYPES)}, got {path_type!r}")
    if path_type == "RegularExpression" or entry.get("regex"):
        try:
            re.compile(path)
        except re.error as exc:
            raise f.fail(f"{where}.path", f"is not a valid regular expression: {exc}") from None
    if path_type != "RegularExpression" and not path.startswith("/"):
        raise f.fail(f"{where}.path", f"must start with '/', got {path!r}")
    method = f.string(entry.get("method"), f"{where}.method", required=False).upper()
    if method and method not in METHODS:
        raise f.fail(f"{where}.method", f"must be an HTTP method ({', '.join(METHODS)}), got {method!r}")
    source = f.string(entry.get("source"), f"{where}.source", required=False, default="ingress")
    if source not in PATH_SOURCES:
        raise f.fail(f"{where}.source", f"must be one of {', '.join(PATH_SOURCES)}, got {source!r}")
    regex = f.boolean(entry.get("regex", False), f"{where}.regex")
    host = f.string(entry.get("host"), f"{where}.host", required=False) or None
    scheme = _scheme(f, entry.get("scheme"), f"{where}.scheme") if entry.get("scheme") is not None else None
    backend = f.string(entry.get("backend"), f"{where}.backend", required=False) or None
    return PathRule(
        path,
        path_type,
        backend,
        host=host,
        scheme=scheme,
        method=method,
        headers=_value_matches(f, entry.get("headers"), f"{where}.headers"),
        query=_value_matches(f, entry.get("query"), f"{where}.query"),
        regex=regex,
        source=source,
        object=f.string(entry.get("object"), f"{where}.object", required=False),
    )


# Every timeouts field, with its meaning: numbers are seconds.
TIMEOUT_FIELDS = {
    "read_timeout": "nginx's idle limit (proxy-read-timeout)",
    "idle_margin": "how far under read_timeout the silent probe stays",
    "gateway_total": "the Gateway route's total-duration limit (timeouts.request / backendRequest; 0 = none)",
    "gateway_idle": "the Gateway's stream idle timeout",
    "max_stream_seconds": "the longest stream the service must serve",
    "outlast_margin": "how far the long stream outlasts both limits",
    "beyond_margin": "how far past read_timeout the beyond-limit probe stays silent",
    "tolerance_seconds": "how much earlier than nginx the Gateway may cut",
    "slow_request_seconds": "legacy: ignored, the silent probe follows read_timeout",
}


def _seconds_field(f: _Fields, value: Any, where: str, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (value == 0 and not zero_ok):
        wanted = "a number of seconds >= 0" if zero_ok else "a number of seconds > 0"
        raise f.fail(where, f"must be {wanted}, got {value!r}")
    return float(value)


def _timeouts(f: _Fields, value: Any, where: str) -> dict[str, Any]:
    """The timeouts settings, checked field by field (one-line errors)."""
    entry = dict(f.mapping(value, where, required=False))
    for key in entry:
        if key not in (*TIMEOUT_FIELDS, "beyond_limit", "path", "paths"):
            known = ", ".join((*TIMEOUT_FIELDS, "beyond_limit", "path", "paths"))
            raise f.fail(f"{where}.{key}", f"is not a timeouts setting; known: {known}")
    for key in TIMEOUT_FIELDS:
        if entry.get(key) is not None:
            entry[key] = _seconds_field(f, entry[key], f"{where}.{key}", zero_ok=key in ("gateway_total",))
    if "beyond_limit" in entry:
        f.boolean(entry["beyond_limit"], f"{where}.beyond_limit")
    read_timeout = entry.get("read_timeout", 60.0)
    if entry.get("idle_margin") is not None and entry["idle_margin"] >= read_timeout:
        raise f.fail(
            f"{where}.idle_margin", f"must be below read_timeout ({read_timeout:g} s), got {entry['idle_margin']:g}"
        )
    if entry.get("path") is not None and not str(entry["path"]).startswith("/"):
        raise f.fail(f"{where}.path", f"must start with '/', got {entry['path']!r}")
    rules = []
    for index, item in enumerate(f.sequence(entry.get("paths"), f"{where}.paths")):
        rule = dict(f.mapping(item, f"{where}.paths[{index}]", required=True))
        path = f.string(rule.get("path"), f"{where}.paths[{index}].path")
        if not path.startswith("/"):
            raise f.fail(f"{where}.paths[{index}].path", f"must start with '/', got {path!r}")
        rule["path"] = path
        for key in ("gateway_total", "read_timeout"):
            if rule.get(key) is not None:
                rule[key] = _seconds_field(
                    f, rule[key], f"{where}.paths[{index}].{key}", zero_ok=key == "gateway_total"
                )
        rules.append(rule)
    if rules:
        entry["paths"] = rules
    return entry


def _date(f: _Fields, value: Any, where: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise f.fail(where, f"must be a date such as 2026-12-31, got {value!r}") from None


def _scheme(f: _Fields, value: Any, where: str) -> str:
    scheme = f.string(value, where, required=False, default="https")
    if scheme not in ("http", "https"):
        raise f.fail(where, f"must be http or https, got {scheme!r}")
    return scheme


def parse_targets(data: Any, file: str = "<targets>") -> Targets:
    f = _Fields(file)
    root = f.mapping(data, "(top level)", required=True)
    f.known(root, "(top level)", _KNOWN_KEYS["(top level)"])
    endpoints = _endpoints(f, root.get("endpoints"))
    vantage = _vantage_points(f, root.get("vantage_points"))
    default_vantage = root.get("default_vantage_point")
    if default_vantage is not None and str(default_vantage) not in vantage:
        raise f.fail("default_vantage_point", f"names {default_vantage!r}, which vantage_points does not define")
    services: list[ServiceTarget] = []
    for index, value in enumerate(f.sequence(root.get("services"), "services", required=True)):
        service = _service(f, value, f"services[{index}]", vantage)
        if any(other.name == service.name for other in services):
            raise f.fail(f"services[{index}].name", f"service {service.name!r} is listed twice")
        services.append(service)
    waivers = _waivers(f, root.get("waivers"))
    return Targets(
        path=Path(file) if file != "<targets>" else None,
        endpoints=endpoints,
        services=services,
        vantage_points=vantage,
        default_vantage_point=str(default_vantage) if default_vantage is not None else None,
        ca_bundle=_ca_bundle(f, root.get("ca_bundle")),
        waivers=waivers,
        source=f.mapping(root.get("source"), "source", required=False),
        settings=f.mapping(root.get("settings"), "settings", required=False),
        notes=[str(n) for n in f.sequence(root.get("notes"), "notes")],
        redact_headers=[str(h).lower() for h in f.sequence(root.get("redact_headers"), "redact_headers")],
        identity=_identity(f, root.get("identity"), "identity"),
        path_attempts=_path_attempts(f, root.get("paths")),
    )


def _endpoints(f: _Fields, value: Any) -> dict[str, Endpoint]:
    endpoints: dict[str, Endpoint] = {}
    raw_endpoints = f.mapping(value, "endpoints", required=True)
    f.known(raw_endpoints, "endpoints", _KNOWN_KEYS["endpoints"])
    for side in ("nginx", "gateway"):
        entry = f.mapping(raw_endpoints.get(side), f"endpoints.{side}", required=True)
        f.known(entry, f"endpoints.{side}", _KNOWN_KEYS["endpoint"])
        endpoints[side] = Endpoint(
            name=side,
            address=f.string(entry.get("address"), f"endpoints.{side}.address"),
            http_port=f.integer(entry.get("http_port", 80), f"endpoints.{side}.http_port", 1),
            https_port=f.integer(entry.get("https_port", 443), f"endpoints.{side}.https_port", 1),
        )
    return endpoints


def _vantage_points(f: _Fields, value: Any) -> dict[str, VantagePoint]:
    vantage: dict[str, VantagePoint] = {}
    for name, item in f.mapping(value, "vantage_points", required=False).items():
        entry = f.mapping(item, f"vantage_points.{name}", required=True)
        f.known(entry, f"vantage_points.{name}", _KNOWN_KEYS["vantage point"])
        vantage[str(name)] = VantagePoint(
            str(name),
            f.string(entry.get("address"), f"vantage_points.{name}.address", required=False) or None,
            f.string(entry.get("description"), f"vantage_points.{name}.description", required=False),
        )
    return vantage


def _service(f: _Fields, value: Any, where: str, vantage: dict[str, VantagePoint]) -> ServiceTarget:
    entry = f.mapping(value, where, required=True)
    name = f.string(entry.get("name"), f"{where}.name")
    where = f"services[{name}]"
    f.known(entry, where, _KNOWN_KEYS["service"])
    known_checks = check_kinds()
    checks = [str(c) for c in f.sequence(entry.get("checks"), f"{where}.checks")] or list(known_checks[:1])
    for check in checks:
        if check not in known_checks:
            raise f.fail(f"{where}.checks", f"unknown check kind {check!r}; known: {', '.join(known_checks)}")
    service_vantage = entry.get("vantage_point")
    if service_vantage is not None and str(service_vantage) not in vantage:
        raise f.fail(f"{where}.vantage_point", f"names {service_vantage!r}, which vantage_points does not define")
    source_ip = f.mapping(entry.get("source_ip"), f"{where}.source_ip", required=False)
    for key in ("allowed", "denied"):
        for vp in f.sequence(source_ip.get(key), f"{where}.source_ip.{key}"):
            if str(vp) not in vantage:
                raise f.fail(f"{where}.source_ip.{key}", f"names vantage point {vp!r}, which is not defined")
    backend_tls = f.mapping(entry.get("backend_tls"), f"{where}.backend_tls", required=False)
    if backend_tls and str(backend_tls.get("mode", "A")) not in ("A", "B"):
        raise f.fail(
            f"{where}.backend_tls.mode",
            f"must be A (BackendTLSPolicy) or B (plain backend), got {backend_tls.get('mode')!r}",
        )
    redirects = f.mapping(entry.get("redirects"), f"{where}.redirects", required=False)
    return ServiceTarget(
        name=name,
        host=f.string(entry.get("host"), f"{where}.host"),
        wave=f.integer(entry.get("wave", 1), f"{where}.wave", 1, 99),
        namespace=f.string(entry.get("namespace"), f"{where}.namespace", required=False),
        complexity=f.string(entry.get("complexity"), f"{where}.complexity", required=False),
        backends=[str(b) for b in f.sequence(entry.get("backends"), f"{where}.backends")],
        paths=[
            _path_rule(f, item, f"{where}.paths[{index}]")
            for index, item in enumerate(f.sequence(entry.get("paths"), f"{where}.paths"))
        ],
        checks=checks,
        timeouts=_timeouts(f, entry.get("timeouts"), f"{where}.timeouts"),
        sse=f.mapping(entry.get("sse"), f"{where}.sse", required=False),
        source_ip=source_ip,
        backend_tls=backend_tls,
        redirects=redirects,
        headers=f.mapping(entry.get("headers"), f"{where}.headers", required=False),
        expected_differences=_expected(f, entry.get("expected_differences"), f"{where}.expected_differences"),
        vantage_point=str(service_vantage) if service_vantage is not None else None,
        scheme=_scheme(f, entry.get("scheme"), f"{where}.scheme"),
        unverified=_unverified(f, entry.get("unverified"), f"{where}.unverified"),
        identity=_identity(f, entry.get("identity"), f"{where}.identity"),
        redirect_accept=_redirect_accept(f, redirects, f"{where}.redirects"),
    )


def _waivers(f: _Fields, value: Any) -> list[Waiver]:
    waivers: list[Waiver] = []
    for index, item in enumerate(f.sequence(value, "waivers")):
        here = f"waivers[{index}]"
        entry = f.mapping(item, here, required=True)
        f.known(entry, here, _KNOWN_KEYS["waiver"])
        check = f.string(entry.get("check"), f"{here}.check")
        service_name = f.string(entry.get("service"), f"{here}.service")
        if _only_wildcards(check) and _only_wildcards(service_name):
            raise f.fail(here, "waives every check of every service", hint="name one check and one service")
        if check not in all_kinds():
            raise f.fail(f"{here}.check", f"must name one check kind ({', '.join(all_kinds())}), got {check!r}")
        waivers.append(
            Waiver(
                check=check,
                service=service_name,
                owner=f.string(entry.get("owner"), f"{here}.owner", required=False),
                reason=f.string(entry.get("reason"), f"{here}.reason", required=False),
                expires=_date(f, entry.get("expires"), f"{here}.expires"),
            )
        )
    return waivers


def _ca_bundle(f: _Fields, value: Any) -> str | None:
    ca_bundle = f.string(value, "ca_bundle", required=False) or None
    if ca_bundle is None or f.file == "<targets>":
        # In-memory targets are taken as given.
        return ca_bundle
    # A file's CA path is checked, relative to the file.
    ca_path = Path(ca_bundle).expanduser()
    if not ca_path.is_absolute():
        ca_path = Path(f.file).parent / ca_path
    if not ca_path.is_file():
        raise f.fail("ca_bundle", f"{ca_path} does not exist", hint="the CA bundle that signs both endpoints")
    return str(ca_path)


def _path_attempts(f: _Fields, value: Any) -> int:
    settings = f.mapping(value, "paths", required=False)
    if "attempts" not in settings:
        return PATH_ATTEMPTS
    return f.integer(settings["attempts"], "paths.attempts", PATH_ATTEMPTS, 10000)


def load_targets(path: Path | str) -> Targets:
    file = Path(path)
    return parse_targets(load_one(file, hint="check --targets"), str(file))
