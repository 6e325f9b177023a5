"""The targets file: the two endpoints, who the clients are, and what to check per service.

Written by `cutover lab up` for the embedded lab, or by hand for a real cluster (see
fixtures/targets/staging.example.yaml). Loading it is strict: every complaint names the
file and the field.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cutover.errors import InputError
from cutover.probe.client import Endpoint

__all__ = [
    "ExpectedDifference",
    "PathRule",
    "ServiceTarget",
    "Targets",
    "VantagePoint",
    "Waiver",
    "load_targets",
    "parse_targets",
]

CHECK_KINDS = ("paths", "timeouts", "sse", "source_ip", "backend_tls", "redirects", "headers")


@dataclass(frozen=True)
class VantagePoint:
    name: str
    address: str | None
    description: str = ""


@dataclass(frozen=True)
class PathRule:
    path: str
    type: str
    backend: str | None = None


@dataclass(frozen=True)
class ExpectedDifference:
    """A reviewed, known difference: check kind, probe id glob, optional field, and why."""

    check: str
    probe: str
    reason: str
    field: str = "*"

    def covers(self, check: str, probe_id: str, field_name: str) -> bool:
        return (
            self.check in (check, "*")
            and fnmatch.fnmatchcase(probe_id, self.probe)
            and fnmatch.fnmatchcase(field_name, self.field)
        )


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

    @property
    def first_path(self) -> str:
        """The path of the service's first rule: where single-request checks send their probe."""
        return self.paths[0].path if self.paths else "/"

    def expected(self, check: str, probe_id: str, field_name: str) -> ExpectedDifference | None:
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


class _Fields:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, where: str, message: str, hint: str | None = None) -> InputError:
        return InputError(message, file=self.file, obj="targets", field=where, hint=hint)

    def mapping(self, value: Any, where: str, required: bool = False) -> dict[str, Any]:
        if value is None:
            if required:
                raise self.fail(where, "is missing")
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, got {type(value).__name__}")
        return value

    def listing(self, value: Any, where: str, required: bool = False) -> list[Any]:
        if value is None:
            if required:
                raise self.fail(where, "is missing")
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, got {type(value).__name__}")
        return value

    def text(self, value: Any, where: str, required: bool = True, default: str = "") -> str:
        if value is None or value == "":
            if required:
                raise self.fail(where, "is missing")
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(where, f"must be a string, got {type(value).__name__}")
        return str(value)

    def integer(self, value: Any, where: str, minimum: int = 0, maximum: int = 65535) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(where, f"must be a whole number from {minimum} to {maximum}, got {value!r}")
        return value


def _expected(f: _Fields, value: Any, where: str) -> list[ExpectedDifference]:
    result: list[ExpectedDifference] = []
    for index, item in enumerate(f.listing(value, where)):
        entry = f.mapping(item, f"{where}[{index}]", required=True)
        reason = f.text(entry.get("reason"), f"{where}[{index}].reason", required=False)
        if not reason.strip():
            raise f.fail(
                f"{where}[{index}].reason", "is missing", hint="an expected difference needs a reviewed reason"
            )
        check = f.text(entry.get("check"), f"{where}[{index}].check", required=False, default="*")
        if check not in (*CHECK_KINDS, "*"):
            raise f.fail(f"{where}[{index}].check", f"must be one of {', '.join(CHECK_KINDS)}, got {check!r}")
        result.append(
            ExpectedDifference(
                check=check,
                probe=f.text(entry.get("probe"), f"{where}[{index}].probe", required=False, default="*"),
                reason=reason,
                field=f.text(entry.get("field"), f"{where}[{index}].field", required=False, default="*"),
            )
        )
    return result


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
    entry = dict(f.mapping(value, where))
    for key in entry:
        if key not in (*TIMEOUT_FIELDS, "beyond_limit", "path", "paths"):
            known = ", ".join((*TIMEOUT_FIELDS, "beyond_limit", "path", "paths"))
            raise f.fail(f"{where}.{key}", f"is not a timeouts setting; known: {known}")
    for key in TIMEOUT_FIELDS:
        if entry.get(key) is not None:
            entry[key] = _seconds_field(f, entry[key], f"{where}.{key}", zero_ok=key in ("gateway_total",))
    if "beyond_limit" in entry and not isinstance(entry["beyond_limit"], bool):
        raise f.fail(f"{where}.beyond_limit", f"must be true or false, got {entry['beyond_limit']!r}")
    read_timeout = entry.get("read_timeout", 60.0)
    if entry.get("idle_margin") is not None and entry["idle_margin"] >= read_timeout:
        raise f.fail(
            f"{where}.idle_margin", f"must be below read_timeout ({read_timeout:g} s), got {entry['idle_margin']:g}"
        )
    if entry.get("path") is not None and not str(entry["path"]).startswith("/"):
        raise f.fail(f"{where}.path", f"must start with '/', got {entry['path']!r}")
    rules = []
    for index, item in enumerate(f.listing(entry.get("paths"), f"{where}.paths")):
        rule = dict(f.mapping(item, f"{where}.paths[{index}]", required=True))
        path = f.text(rule.get("path"), f"{where}.paths[{index}].path")
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
    scheme = f.text(value, where, required=False, default="https")
    if scheme not in ("http", "https"):
        raise f.fail(where, f"must be http or https, got {scheme!r}")
    return scheme


def parse_targets(data: Any, file: str = "<targets>") -> Targets:
    f = _Fields(file)
    root = f.mapping(data, "(top level)", required=True)
    endpoints: dict[str, Endpoint] = {}
    raw_endpoints = f.mapping(root.get("endpoints"), "endpoints", required=True)
    for side in ("nginx", "gateway"):
        entry = f.mapping(raw_endpoints.get(side), f"endpoints.{side}", required=True)
        endpoints[side] = Endpoint(
            name=side,
            address=f.text(entry.get("address"), f"endpoints.{side}.address"),
            http_port=f.integer(entry.get("http_port", 80), f"endpoints.{side}.http_port", 1),
            https_port=f.integer(entry.get("https_port", 443), f"endpoints.{side}.https_port", 1),
        )
    vantage: dict[str, VantagePoint] = {}
    for name, value in f.mapping(root.get("vantage_points"), "vantage_points").items():
        entry = f.mapping(value, f"vantage_points.{name}", required=True)
        vantage[str(name)] = VantagePoint(
            str(name),
            f.text(entry.get("address"), f"vantage_points.{name}.address", required=False) or None,
            f.text(entry.get("description"), f"vantage_points.{name}.description", required=False),
        )
    default_vantage = root.get("default_vantage_point")
    if default_vantage is not None and str(default_vantage) not in vantage:
        raise f.fail("default_vantage_point", f"names {default_vantage!r}, which vantage_points does not define")
    services: list[ServiceTarget] = []
    seen: set[str] = set()
    for index, value in enumerate(f.listing(root.get("services"), "services", required=True)):
        where = f"services[{index}]"
        entry = f.mapping(value, where, required=True)
        name = f.text(entry.get("name"), f"{where}.name")
        if name in seen:
            raise f.fail(f"{where}.name", f"service {name!r} is listed twice")
        seen.add(name)
        where = f"services[{name}]"
        checks = [str(c) for c in f.listing(entry.get("checks"), f"{where}.checks")] or list(CHECK_KINDS[:1])
        for check in checks:
            if check not in CHECK_KINDS:
                raise f.fail(f"{where}.checks", f"unknown check kind {check!r}; known: {', '.join(CHECK_KINDS)}")
        paths = []
        for path_index, item in enumerate(f.listing(entry.get("paths"), f"{where}.paths")):
            path_entry = f.mapping(item, f"{where}.paths[{path_index}]", required=True)
            path = f.text(path_entry.get("path"), f"{where}.paths[{path_index}].path")
            if not path.startswith("/"):
                raise f.fail(f"{where}.paths[{path_index}].path", f"must start with '/', got {path!r}")
            paths.append(
                PathRule(
                    path,
                    f.text(
                        path_entry.get("type"), f"{where}.paths[{path_index}].type", required=False, default="Prefix"
                    ),
                    path_entry.get("backend"),
                )
            )
        service_vantage = entry.get("vantage_point")
        if service_vantage is not None and str(service_vantage) not in vantage:
            raise f.fail(f"{where}.vantage_point", f"names {service_vantage!r}, which vantage_points does not define")
        source_ip = f.mapping(entry.get("source_ip"), f"{where}.source_ip")
        for key in ("allowed", "denied"):
            for vp in f.listing(source_ip.get(key), f"{where}.source_ip.{key}"):
                if str(vp) not in vantage:
                    raise f.fail(f"{where}.source_ip.{key}", f"names vantage point {vp!r}, which is not defined")
        backend_tls = f.mapping(entry.get("backend_tls"), f"{where}.backend_tls")
        if backend_tls and str(backend_tls.get("mode", "A")) not in ("A", "B"):
            raise f.fail(
                f"{where}.backend_tls.mode",
                f"must be A (BackendTLSPolicy) or B (plain backend), got {backend_tls.get('mode')!r}",
            )
        services.append(
            ServiceTarget(
                name=name,
                host=f.text(entry.get("host"), f"{where}.host"),
                wave=f.integer(entry.get("wave", 1), f"{where}.wave", 1, 99),
                namespace=f.text(entry.get("namespace"), f"{where}.namespace", required=False),
                complexity=f.text(entry.get("complexity"), f"{where}.complexity", required=False),
                backends=[str(b) for b in f.listing(entry.get("backends"), f"{where}.backends")],
                paths=paths,
                checks=checks,
                timeouts=_timeouts(f, entry.get("timeouts"), f"{where}.timeouts"),
                sse=f.mapping(entry.get("sse"), f"{where}.sse"),
                source_ip=source_ip,
                backend_tls=backend_tls,
                redirects=f.mapping(entry.get("redirects"), f"{where}.redirects"),
                headers=f.mapping(entry.get("headers"), f"{where}.headers"),
                expected_differences=_expected(f, entry.get("expected_differences"), f"{where}.expected_differences"),
                vantage_point=str(service_vantage) if service_vantage is not None else None,
                scheme=_scheme(f, entry.get("scheme"), f"{where}.scheme"),
            )
        )
    waivers: list[Waiver] = []
    for index, value in enumerate(f.listing(root.get("waivers"), "waivers")):
        entry = f.mapping(value, f"waivers[{index}]", required=True)
        waivers.append(
            Waiver(
                check=f.text(entry.get("check"), f"waivers[{index}].check"),
                service=f.text(entry.get("service"), f"waivers[{index}].service"),
                owner=f.text(entry.get("owner"), f"waivers[{index}].owner", required=False),
                reason=f.text(entry.get("reason"), f"waivers[{index}].reason", required=False),
                expires=_date(f, entry.get("expires"), f"waivers[{index}].expires"),
            )
        )
    return Targets(
        path=Path(file) if file != "<targets>" else None,
        endpoints=endpoints,
        services=services,
        vantage_points=vantage,
        default_vantage_point=str(default_vantage) if default_vantage is not None else None,
        ca_bundle=str(root["ca_bundle"]) if root.get("ca_bundle") else None,
        waivers=waivers,
        source=f.mapping(root.get("source"), "source"),
        settings=f.mapping(root.get("settings"), "settings"),
        notes=[str(n) for n in f.listing(root.get("notes"), "notes")],
        redact_headers=[str(h).lower() for h in f.listing(root.get("redact_headers"), "redact_headers")],
    )


def load_targets(path: Path | str) -> Targets:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror}", file=str(file), hint="check --targets") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"is not valid YAML{where}", file=str(file)) from None
    return parse_targets(data, str(file))
