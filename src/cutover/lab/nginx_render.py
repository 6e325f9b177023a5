"""Ingress objects -> nginx.conf, the way ingress-nginx (controller v1.15) renders them.

Facts from ../shared/ref/ingress-nginx.md and the controller's source (kubernetes/ingress-nginx):
which Ingresses it serves (internal/ingress/controller/store/store.go, GetIngressClass), in
which order (store.go, sortIngressSlice), how two Ingresses with one host and path merge
(internal/ingress/controller/controller.go, getBackendServers: the first keeps the location),
how canaries choose (rootfs/etc/nginx/lua/balancer.lua, route_to_alternative_balancer), what
an invalid annotation value does (internal/ingress/annotations/*/main.go, annotations.go
Extract), and how the HTTPS redirect is built (rootfs/etc/nginx/lua/lua_ingress.lua).
What is not modelled is returned as a Note, never guessed.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cutover.facts.annotations import ANNOTATIONS, fact, lookup
from cutover.facts.kube import NGINX_PREFIX
from cutover.lab.model import LabLayout, Note
from cutover.lab.nginx_config import ControllerConfig, ControllerFlags, parse_bool
from cutover.lab.policy import backend_admits
from cutover.manifests import Ingress, IngressBackend, ManifestSet, Service, ServicePort

__all__ = [
    "CANARY_ANNOTATIONS",
    "NginxConfig",
    "class_verdict",
    "controller_order",
    "render_nginx",
    "resolve_service_port",
]

# Which annotations the renderer reads, and how, come from the annotation table
# (cutover.facts.annotations): `modelled`, `canary`, `critical`.
CANARY_ANNOTATIONS = frozenset(row.name for row in ANNOTATIONS if row.canary == "rule")
# A canary Ingress's other annotations are ignored: the main Ingress's apply (canary docs);
# these are not reported as ignored.
_CANARY_KEEPS = frozenset(row.name for row in ANNOTATIONS if row.canary == "kept")
# Annotations whose parser declares AnnotationRiskCritical (internal/ingress/annotations/*/main.go).
CRITICAL_ANNOTATIONS = frozenset(row.name for row in ANNOTATIONS if row.critical)
_CANARY = fact("canary")
_RISK_ORDER = ("Low", "Medium", "High", "Critical")

# Validators (internal/ingress/annotations/parser/validators.go).
_ALNUM = r"\-._~a-zA-Z0-9/:"  # alphaNumericChars
_SIZE = re.compile(r"^(?i:[0-9]+[bkmg]?)$")  # SizeRegex
_REWRITE_TARGET = re.compile(rf"^/?[{_ALNUM}/$]*$")  # RegexPathWithCapture
_BASIC_CHARS = re.compile(rf"^[/{_ALNUM}]*$")  # BasicCharsRegex
_VALID_REGEX = re.compile(rf"^[/{_ALNUM}" + re.escape("^$[](){}*+?|&=\\") + "]*$")  # IsValidRegex
_PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "GRPCS", "AUTO_HTTP", "FCGI")

# Controller ConfigMap defaults (internal/ingress/controller/config/config.go); ControllerConfig
# carries the values actually in force.
DEFAULT_CONNECT_TIMEOUT = 5
DEFAULT_READ_TIMEOUT = 60
DEFAULT_SEND_TIMEOUT = 60
DEFAULT_BODY_SIZE = "1m"
HTTP_REDIRECT_CODE = 308
HSTS_VALUE = "max-age=31536000; includeSubDomains"
HEADERS_MORE_MODULE = Path("/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so")
ORIGIN_MARK = "# from "


@dataclass
class NginxConfig:
    text: str
    notes: list[Note] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    # Refs ("Ingress ns/name") of the main Ingresses the controller serves, in its order.
    served: list[str] = field(default_factory=list)
    # Canary Ingress ref -> the main Ingress ref it was merged into.
    canaries: dict[str, str] = field(default_factory=dict)
    # Ingress ref -> why the controller does not serve it.
    not_served: dict[str, str] = field(default_factory=dict)
    config: ControllerConfig = field(default_factory=ControllerConfig)


@dataclass
class _Canary:
    ingress: Ingress
    backend: IngressBackend
    header: str = ""
    header_value: str = ""
    header_pattern: str = ""
    cookie: str = ""
    weight: int = 0
    weight_total: int = 100


@dataclass
class _Parsed:
    """What the controller's annotation parsers made of one Ingress."""

    ingress: Ingress
    body_size: str
    buffering: str
    ssl_redirect: bool
    force_ssl_redirect: bool
    preserve_trailing_slash: bool
    use_regex: bool
    rewrite_target: str
    backend_protocol: str
    allowlist: list[str]
    denied: str = ""
    canary: bool = False


@dataclass
class _Location:
    path: str
    path_type: str
    ingress: Ingress
    backend: IngressBackend | None
    modifier: str = ""  # "=", "~*" or "" (prefix)
    match: str = ""
    canary: _Canary | None = None


def resolve_service_port(
    manifests: ManifestSet, namespace: str, backend: IngressBackend
) -> tuple[Service | None, int | None]:
    """The Service port an Ingress backend means, by number or by name."""
    service = manifests.services.get((namespace, backend.service))
    if backend.port_number is not None:
        return service, backend.port_number
    if service is None:
        return None, None
    for port in service.ports:
        if port.name == backend.port_name:
            return service, port.port
    return service, None


def _truthy(value: str) -> bool:
    return value.strip().lower() == "true"


def _seconds(ingress: Ingress, key: str, default: int, notes: list[Note]) -> int:
    raw = ingress.annotation(key)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        # proxy/main.go: a value its validator (ValidateInt) refuses falls back to the ConfigMap's.
        notes.append(
            Note(
                "nginx", ingress.source.ref, f"annotation {key}={raw!r} is not an integer; the default {default} s used"
            )
        )
        return default
    return value


def class_verdict(ing: Ingress, manifests: ManifestSet, flags: ControllerFlags | None = None) -> str | None:
    """None when the controller serves this Ingress for its class, else why not
    (store.go GetIngressClass; the API server's DefaultIngressClass admission plugin)."""
    flags = flags or ControllerFlags()
    classes = manifests.ingress_classes
    name = ing.class_name
    assigned = ""
    if not name and ing.class_annotation is None:
        defaults = sorted(c.name for c in classes.values() if c.is_default)
        if defaults:
            # The DefaultIngressClass admission plugin writes the default class into the Ingress.
            name = assigned = defaults[0]
    if name:
        ingress_class = classes.get(name)
        if ingress_class is None:
            if name == flags.ingress_class:
                # The chart installs this controller's own IngressClass; the folder need not hold it.
                return None
            return f"IngressClass {name!r} is not in the manifests (and is not the controller's own class)"
        if ingress_class.controller != flags.controller:
            via = " (the default class)" if assigned else ""
            return f"IngressClass {name!r}{via} belongs to controller {ingress_class.controller!r}"
        return None
    if ing.class_annotation is not None:
        if ing.class_annotation != flags.ingress_class:
            return (
                f"kubernetes.io/ingress.class {ing.class_annotation!r} is not the controller's "
                f"--ingress-class {flags.ingress_class!r}"
            )
        return None
    if flags.watch_without_class:
        return None
    return "no IngressClass, no class annotation and no default IngressClass (--watch-ingress-without-class is off)"


def controller_order(ingresses: list[Ingress]) -> list[Ingress]:
    """The controller's order: oldest creationTimestamp first; equal ones by namespace/name,
    descending (store.go sortIngressSlice). Manifests without timestamps are all equal."""

    def compare(a: Ingress, b: Ingress) -> int:
        if a.created == b.created:
            left, right = f"{a.namespace}/{a.name}", f"{b.namespace}/{b.name}"
            return -1 if left > right else (1 if left < right else 0)
        return -1 if a.created < b.created else 1

    return sorted(ingresses, key=functools.cmp_to_key(compare))


def _ordered_locations(locations: list[_Location]) -> list[_Location]:
    # Sorted by path string descending, then stably by length descending (location.go).
    by_path = sorted(locations, key=lambda loc: loc.path, reverse=True)
    return sorted(by_path, key=lambda loc: len(loc.path), reverse=True)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _origin(ingress: Ingress, what: str = "") -> str:
    return f" {ORIGIN_MARK}{ingress.source.ref}" + (f" {what}" if what else "")


class _Renderer:
    def __init__(
        self, manifests: ManifestSet, layout: LabLayout, config: ControllerConfig, flags: ControllerFlags
    ) -> None:
        self.manifests = manifests
        self.layout = layout
        self.config = config
        self.flags = flags
        self.notes: list[Note] = list(config.notes)
        self.state = layout.state_dir / "nginx"
        # name -> host:port; ingress-nginx keeps 320 idle connections per upstream.
        self.upstreams: dict[str, str] = {}
        self.maps: list[str] = []
        self.canary_maps: dict[tuple[int, str], str] = {}
        self.parsed: dict[str, _Parsed] = {}
        self.result = NginxConfig("", config=config)

    # -- which Ingresses, in which order --------------------------------------------
    def _class_verdict(self, ing: Ingress) -> str | None:
        return class_verdict(ing, self.manifests, self.flags)

    def _risk_verdict(self, ing: Ingress) -> str | None:
        """Why the controller rejects the whole Ingress for its annotations' risk (annotations.go Extract)."""
        allowed = _RISK_ORDER.index(self.config.annotations_risk_level)
        for key in sorted(ing.annotations):
            short = key.removeprefix(NGINX_PREFIX)
            if (
                key.startswith(NGINX_PREFIX)
                and short in CRITICAL_ANNOTATIONS
                and allowed < _RISK_ORDER.index("Critical")
            ):
                return (
                    f"annotation {key} is Critical risk, above annotations-risk-level "
                    f"{self.config.annotations_risk_level}: the controller rejects the Ingress"
                )
        return None

    def _select(self) -> list[Ingress]:
        served: list[Ingress] = []
        for ing in controller_order(self.manifests.ingresses):
            why = self._class_verdict(ing)
            if why is None:
                why = self._risk_verdict(ing)
            if why is not None:
                self.result.not_served[ing.source.ref] = why
                self.notes.append(Note("nginx", ing.source.ref, f"not served by this controller: {why}"))
                continue
            served.append(ing)
        return served

    # -- annotations ------------------------------------------------------------------
    def _invalid(self, ing: Ingress, key: str, raw: str, effect: str) -> None:
        self.notes.append(
            Note("nginx", ing.source.ref, f"annotation {NGINX_PREFIX}{key}={raw!r} is invalid; the controller {effect}")
        )

    def _bool(self, ing: Ingress, key: str, default: bool) -> bool:
        raw = ing.annotation(key)
        if not raw:
            return default
        parsed = parse_bool(raw)
        if parsed is None:
            self._invalid(ing, key, raw, f"uses {str(default).lower()}")
            return default
        return parsed

    def _parse(self, ing: Ingress) -> _Parsed:
        config = self.config
        body = ing.annotation("proxy-body-size")
        if body and not _SIZE.match(body.strip()):
            self._invalid(ing, "proxy-body-size", body, f"uses the default {config.proxy_body_size}")
            body = ""
        buffering = ing.annotation("proxy-buffering").strip().lower()
        if buffering and buffering not in ("on", "off"):
            self._invalid(ing, "proxy-buffering", buffering, f"uses the default {config.proxy_buffering}")
            buffering = ""
        rewrite = ing.annotation("rewrite-target")
        if rewrite and not _REWRITE_TARGET.match(rewrite):
            self._invalid(ing, "rewrite-target", rewrite, "uses no rewrite")
            rewrite = ""
        protocol = ing.annotation("backend-protocol").strip().upper()
        if protocol and protocol not in _PROTOCOLS:
            self._invalid(ing, "backend-protocol", protocol, "uses HTTP")
            protocol = ""
        allowlist, denied = self._allowlist(ing)
        canary = self._bool(ing, "canary", False)
        return _Parsed(
            ingress=ing,
            body_size=body.strip() or config.proxy_body_size,
            buffering=buffering or config.proxy_buffering,
            ssl_redirect=self._bool(ing, "ssl-redirect", config.ssl_redirect),
            force_ssl_redirect=self._bool(ing, "force-ssl-redirect", config.force_ssl_redirect),
            preserve_trailing_slash=self._bool(ing, "preserve-trailing-slash", config.preserve_trailing_slash),
            use_regex=self._bool(ing, "use-regex", False),
            rewrite_target=rewrite,
            backend_protocol=protocol or "HTTP",
            allowlist=allowlist,
            denied=denied,
            canary=canary,
        )

    def _allowlist(self, ing: Ingress) -> tuple[list[str], str]:
        """The CIDRs and, for a value the validator refuses, the denial reason. ipallowlist/main.go:
        a bad value is a LocationDeniedError, and a denied location answers 503 (nginx.tmpl)."""
        key = "allowlist-source-range" if ing.annotation("allowlist-source-range") else "whitelist-source-range"
        raw = ing.annotation(key)
        if not raw:
            return list(self.config.whitelist_source_range), ""
        cidrs: list[str] = []
        for item in raw.split(","):
            item = item.strip()
            try:
                cidrs.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                reason = f"annotation {NGINX_PREFIX}{key} entry {item!r} is not a CIDR"
                self.notes.append(
                    Note(
                        "nginx",
                        ing.source.ref,
                        f"{reason}: the controller denies every location of the Ingress (503)",
                    )
                )
                return [], reason
        return cidrs, ""

    def _canary(self, ing: Ingress, backend: IngressBackend) -> _Canary:
        canary = _Canary(ing, backend)
        for key, attr in (
            ("canary-by-header", "header"),
            ("canary-by-header-value", "header_value"),
            ("canary-by-cookie", "cookie"),
        ):
            raw = ing.annotation(key).strip()
            if raw and not _BASIC_CHARS.match(raw):
                self._invalid(ing, key, raw, "ignores it")
                raw = ""
            setattr(canary, attr, raw)
        pattern = ing.annotation("canary-by-header-pattern")
        if pattern and not _VALID_REGEX.match(pattern):
            self._invalid(ing, "canary-by-header-pattern", pattern, "ignores it")
            pattern = ""
        canary.header_pattern = pattern
        for key, attr, default in (("canary-weight", "weight", 0), ("canary-weight-total", "weight_total", 100)):
            raw = ing.annotation(key).strip()
            if not raw:
                setattr(canary, attr, default)
                continue
            try:
                setattr(canary, attr, int(raw))
            except ValueError:
                self._invalid(ing, key, raw, f"uses {default}")
                setattr(canary, attr, default)
        return canary

    def _unmodelled(self, ing: Ingress, parsed: _Parsed) -> None:
        for key in sorted(ing.annotations):
            if not key.startswith(NGINX_PREFIX):
                continue
            short = key.removeprefix(NGINX_PREFIX)
            if parsed.canary and short not in CANARY_ANNOTATIONS and short not in _CANARY_KEEPS:
                self.notes.append(
                    Note("nginx", ing.source.ref, f"annotation {key} is ignored on a canary Ingress (the main's apply)")
                )
                continue
            if short in CRITICAL_ANNOTATIONS and not self.config.allow_snippet_annotations:
                self.notes.append(
                    Note("nginx", ing.source.ref, f"annotation {key} is dropped: allow-snippet-annotations is false")
                )
                continue
            row = lookup(short)
            if row is None or not row.modelled:
                self.notes.append(
                    Note(
                        "nginx",
                        ing.source.ref,
                        f"annotation {key} is not modelled by the lab",
                        verify=f"a staging run (--targets) with a check that exercises {key}",
                    )
                )
        if not parsed.canary and any(ing.annotation(k) for k in CANARY_ANNOTATIONS - {_CANARY.name}):
            # canary/main.go: canary-* without canary "true" is an error the controller ignores.
            self.notes.append(Note("nginx", ing.source.ref, 'canary-* annotations without canary: "true" are ignored'))
        if ing.default_backend is not None:
            self.notes.append(
                Note(
                    "nginx",
                    ing.source.ref,
                    "spec.defaultBackend is not modelled by the lab",
                    verify="a staging run (--targets) probing paths no rule matches",
                )
            )

    # -- rendering ----------------------------------------------------------------------
    def run(self) -> NginxConfig:
        served = self._select()
        for ing in served:
            parsed = self._parse(ing)
            self.parsed[ing.source.ref] = parsed
            self._unmodelled(ing, parsed)
        mains = [ing for ing in served if not self.parsed[ing.source.ref].canary]
        canaries = [ing for ing in served if self.parsed[ing.source.ref].canary]
        hosts: dict[str, list[Ingress]] = {}
        for ing in mains:
            for host in ing.hosts:
                hosts.setdefault(host, []).append(ing)
        locations = {host: self._host_locations(host, ings) for host, ings in hosts.items() if host}
        self._merge_canaries(canaries, locations)
        servers = [self._server(host, hosts[host], locs) for host, locs in locations.items()]
        if "" in hosts:
            self.notes.append(Note("nginx", "Ingress rules without host", "hostless rules are not modelled"))
        self.result.text = self._main(servers)
        self.result.notes = self.notes
        self.result.hosts = [h for h in hosts if h]
        self.result.served = [ing.source.ref for ing in mains]
        return self.result

    def _host_locations(self, host: str, host_ingresses: list[Ingress]) -> list[_Location]:
        regex = any(
            self.parsed[ing.source.ref].use_regex or bool(self.parsed[ing.source.ref].rewrite_target)
            for ing in host_ingresses
        )
        plain: list[_Location] = []
        taken: dict[tuple[str, str], Ingress] = {}
        for ingress in host_ingresses:
            for item in ingress.paths:
                if item.host != host:
                    continue
                key = (item.path, item.path_type)
                first = taken.get(key)
                if first is not None:
                    self.notes.append(
                        Note(
                            "nginx",
                            ingress.source.ref,
                            f"{host} {item.path_type} {item.path} is already served by {first.source.ref}; "
                            "the controller keeps the first Ingress's location",
                        )
                    )
                    continue
                taken[key] = ingress
                plain.append(_Location(item.path, item.path_type, ingress, item.backend))
        exact_paths = {loc.path for loc in plain if loc.path_type == "Exact"}
        if not any(loc.path == "/" for loc in plain):
            # Every host gets a root block to the default backend, with the first Ingress's annotations.
            plain.append(_Location("/", "Prefix", host_ingresses[0], None))
        result: list[_Location] = []
        for loc in _ordered_locations(plain):
            if regex:
                loc.modifier, loc.match = "~*", f"^{loc.path}"
                result.append(loc)
            elif loc.path_type == "Exact":
                loc.modifier, loc.match = "=", loc.path
                result.append(loc)
            elif loc.path_type == "ImplementationSpecific" or loc.path == "/":
                loc.modifier, loc.match = "", loc.path
                result.append(loc)
            else:
                prefix = loc.path if loc.path.endswith("/") else loc.path + "/"
                loc.modifier, loc.match = "", prefix
                result.append(loc)
                if loc.path not in exact_paths:
                    result.append(_Location(loc.path, loc.path_type, loc.ingress, loc.backend, "=", loc.path))
        return result

    def _merge_canaries(self, canaries: list[Ingress], locations: dict[str, list[_Location]]) -> None:
        """controller.go mergeAlternativeBackends: a canary path joins the main location with the
        same host and path as its alternative backend; with no such location it is not served."""
        for ing in canaries:
            merged_into = ""
            for item in ing.paths:
                targets = [
                    loc
                    for loc in locations.get(item.host, [])
                    if loc.path == item.path and loc.backend is not None and loc.path_type == item.path_type
                ]
                if not targets:
                    self.notes.append(
                        Note(
                            "nginx",
                            ing.source.ref,
                            f"canary {item.host} {item.path_type} {item.path}: no main Ingress serves this host and "
                            "path; the controller does not serve the canary there",
                        )
                    )
                    continue
                canary = self._canary(ing, item.backend)
                for loc in targets:
                    if loc.canary is None:
                        loc.canary = canary
                        merged_into = loc.ingress.source.ref
                    elif loc.canary.ingress is not ing:
                        self.notes.append(
                            Note(
                                "nginx",
                                ing.source.ref,
                                f"{loc.canary.ingress.source.ref} is already the canary of {item.host}{item.path}; "
                                "the controller uses only the first alternative backend",
                            )
                        )
            if merged_into:
                self.result.canaries[ing.source.ref] = merged_into
            else:
                self.result.not_served[ing.source.ref] = "a canary with no main Ingress for its host and paths"

    def _main(self, servers: list[str]) -> str:
        state = self.state
        config = self.config
        lines = [
            "# Rendered by cutover from Ingress objects, the way ingress-nginx v1.15 would.",
            f"# Controller settings: {config.source}.",
            "daemon off;",
            "master_process on;",
            "worker_processes 1;",
            f"pid {state / 'nginx.pid'};",
            f"error_log {state / 'error.log'} notice;",
        ]
        if os.geteuid() == 0:
            lines.append("user root;")
        if HEADERS_MORE_MODULE.exists():
            lines.insert(1, f"load_module {HEADERS_MORE_MODULE};")
        else:
            self.notes.append(
                Note("nginx", "controller", "headers-more module missing: the Server header is not removed")
            )
        lines += [
            "events { worker_connections 4096; }",
            "http {",
            f"  access_log {state / 'access.log'};",
            f"  client_body_temp_path {state / 'tmp/body'};",
            f"  proxy_temp_path {state / 'tmp/proxy'};",
            f"  fastcgi_temp_path {state / 'tmp/fastcgi'};",
            f"  uwsgi_temp_path {state / 'tmp/uwsgi'};",
            f"  scgi_temp_path {state / 'tmp/scgi'};",
            "  server_tokens off;",
        ]
        if HEADERS_MORE_MODULE.exists():
            lines.append("  more_clear_headers Server;")
        lines += [
            "  keepalive_timeout 75s;",
            "  client_body_timeout 60s;",
            f"  client_max_body_size {config.proxy_body_size};",
            "  port_in_redirect off;",
            "  server_names_hash_bucket_size 128;",
            "  map_hash_bucket_size 128;",
        ]
        lines += self._forwarding_maps()
        lines += [
            "  map $http_x_request_id $req_id { default $http_x_request_id; '' $request_id; }",
            "  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }",
            f"  map $scheme $hsts_header {{ https {_quote(config.hsts_value)}; default ''; }}",
            # lua_ingress.lua redirect_host() keeps what precedes the first ':' of $best_http_host,
            # and without preserve-trailing-slash drops one trailing '/' of $request_uri.
            '  map $best_http_host $redirect_host { "~^(?<cutover_rh>[^:]*)" $cutover_rh; default $best_http_host; }',
            '  map $request_uri $redirect_uri_trimmed { "~^(?<cutover_ru>.*)/$" $cutover_ru; default $request_uri; }',
        ]
        lines += self.maps
        lines += [
            f"  upstream {name} {{ server {target}; keepalive 320; keepalive_timeout 60s; keepalive_requests 10000; }}"
            for name, target in sorted(self.upstreams.items())
        ]
        lines += servers
        lines += self._default_server()
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _forwarding_maps(self) -> list[str]:
        """$pass_access_scheme, $best_http_host, $pass_port and the real client address, as
        lua_ingress.lua rewrite() and nginx.tmpl set them."""
        config = self.config
        lines: list[str] = []
        if config.use_forwarded_headers or config.enable_real_ip:
            header = config.forwarded_for_header
            lines += [f"  real_ip_header {header};", "  real_ip_recursive on;"]
            lines += [f"  set_real_ip_from {cidr};" for cidr in config.proxy_real_ip_cidr]
        lines.append("  map $http_host $cutover_http_host { default $http_host; '' $host; }")
        if config.use_forwarded_headers:
            lines += [
                "  map $http_x_forwarded_proto $pass_access_scheme { default $http_x_forwarded_proto; '' $scheme; }",
                '  map $http_x_forwarded_host $best_http_host { "~^(?<cutover_xfh>[^,]+)" $cutover_xfh; '
                "default $cutover_http_host; }",
                '  map "$http_x_forwarded_port:$scheme" $pass_port { "~^(?<cutover_xfp>\\d+):" $cutover_xfp; '
                '"~:https$" 443; default 80; }',
            ]
        else:
            lines += [
                "  map $scheme $pass_access_scheme { default $scheme; }",
                "  map $http_host $best_http_host { default $cutover_http_host; }",
                "  map $scheme $pass_port { https 443; default 80; }",
            ]
        if config.use_forwarded_headers and config.compute_full_forwarded_for:
            lines.append(
                "  map $http_x_forwarded_for $full_x_forwarded_for { "
                'default "$http_x_forwarded_for, $realip_remote_addr"; \'\' "$realip_remote_addr"; }'
            )
        return lines

    def _listen(self, default: bool) -> list[str]:
        address = self.layout.listen_address
        suffix = " default_server" if default else ""
        # use-http2 (default true): HTTP/2 on TLS servers. nginx 1.22 takes it on `listen`.
        http2 = " http2" if self.config.use_http2 else ""
        return [
            f"    listen {address}:{self.layout.nginx_http_port}{suffix};",
            f"    listen {address}:{self.layout.nginx_https_port} ssl{http2}{suffix};",
        ]

    def _default_server(self) -> list[str]:
        cert = self.layout.default_certificate
        lines = ["  server {", "    server_name _;", *self._listen(default=True)]
        if cert is not None:
            lines += [f"    ssl_certificate {cert.cert};", f"    ssl_certificate_key {cert.key};"]
        # The default backend: unknown host -> 404 with nginx's stock page.
        lines += ["    location / { return 404; }", "  }"]
        return lines

    def _server(self, host: str, ingresses: list[Ingress], locations: list[_Location]) -> str:
        cert = self.layout.default_certificate
        # A host listed in an Ingress's tls has a certificate configured (its secret, or the
        # default one when secretName is empty): that is what ssl-redirect and HSTS look at.
        has_cert = False
        for ing in ingresses:
            for tls in ing.tls:
                if host in tls.hosts and not has_cert:
                    has_cert = True
                    if tls.secret_name:
                        cert = self.layout.certificates.get((ing.namespace, tls.secret_name), cert)
        lines = ["  server {", f"    server_name {host};", *self._listen(default=False)]
        if cert is not None:
            lines += [f"    ssl_certificate {cert.cert};", f"    ssl_certificate_key {cert.key};"]
        if has_cert and self.config.hsts:
            # lua_ingress.lua header(): HSTS on HTTPS responses of hosts with a configured certificate.
            lines.append("    add_header Strict-Transport-Security $hsts_header always;")
        for loc in locations:
            lines += self._location(host, loc, has_cert)
        lines.append("  }")
        return "\n".join(lines)

    def _redirect(self, loc: _Location, parsed: _Parsed, has_cert: bool) -> list[str]:
        """lua_ingress.lua redirect_to_https(): force-no-ssl-redirect (no-tls-redirect-locations,
        matched on the location's path) wins, then force-ssl-redirect, then ssl-redirect on a host
        with a certificate; the scheme is $pass_access_scheme."""
        if any(loc.path.startswith(prefix) for prefix in self.config.no_tls_redirect_locations):
            return []
        if not (parsed.force_ssl_redirect or (parsed.ssl_redirect and has_cert)):
            return []
        uri = "$request_uri" if parsed.preserve_trailing_slash else "$redirect_uri_trimmed"
        code = self.config.http_redirect_code
        return [
            f"      if ($pass_access_scheme = http) {{ return {code} https://$redirect_host{uri}; }}"
            + _origin(parsed.ingress, "ssl-redirect")
        ]

    def _location(self, host: str, loc: _Location, has_cert: bool) -> list[str]:
        ing = loc.ingress
        parsed = self.parsed[ing.source.ref]
        head = (
            f"    location {loc.modifier} {_quote(loc.match)} {{"
            if loc.modifier
            else f"    location {_quote(loc.match)} {{"
        )
        lines = [head + _origin(ing, f"{loc.path_type} {loc.path}")]
        upstream = ing.namespace + "-" + (loc.backend.service if loc.backend else "default-backend")
        lines.append(f"      set $proxy_upstream_name {_quote(upstream)};")
        if parsed.denied:
            # nginx.tmpl: "Location denied" -> return 503; a rewrite-phase return, before the
            # redirect (rewrite_by_lua runs at the end of the rewrite phase) and the allowlist.
            lines += [f"      return 503;{_origin(ing, parsed.denied)}", "    }"]
            return lines
        for cidr in parsed.allowlist:
            lines.append(f"      allow {cidr};" + _origin(ing, "whitelist-source-range"))
        if parsed.allowlist:
            lines.append("      deny all;")
        lines += self._redirect(loc, parsed, has_cert)
        if loc.backend is None:
            lines += ["      return 404;", "    }"]
            return lines
        target = self._upstream(ing, parsed, loc.backend)
        if loc.canary is not None:
            target = self._canary_target(loc, parsed, target)
        connect = _seconds(ing, "proxy-connect-timeout", self.config.proxy_connect_timeout, self.notes)
        send = _seconds(ing, "proxy-send-timeout", self.config.proxy_send_timeout, self.notes)
        read = _seconds(ing, "proxy-read-timeout", self.config.proxy_read_timeout, self.notes)
        forwarded_for = (
            "$full_x_forwarded_for"
            if self.config.use_forwarded_headers and self.config.compute_full_forwarded_for
            else "$remote_addr"
        )
        original_for = "$http_" + self.config.forwarded_for_header.lower().replace("-", "_")
        lines += [
            "      port_in_redirect off;",
            f"      client_max_body_size {parsed.body_size};" + _origin(ing, "proxy-body-size"),
            "      proxy_set_header Host $best_http_host;",
            "      proxy_set_header Upgrade $http_upgrade;",
            "      proxy_set_header Connection $connection_upgrade;",
            "      proxy_set_header X-Request-ID $req_id;",
            "      proxy_set_header X-Real-IP $remote_addr;",
            f"      proxy_set_header X-Forwarded-For {forwarded_for};",
            "      proxy_set_header X-Forwarded-Host $best_http_host;",
            "      proxy_set_header X-Forwarded-Port $pass_port;",
            "      proxy_set_header X-Forwarded-Proto $pass_access_scheme;",
            "      proxy_set_header X-Forwarded-Scheme $pass_access_scheme;",
            "      proxy_set_header X-Scheme $pass_access_scheme;",
            f"      proxy_set_header X-Original-Forwarded-For {original_for};",
            '      proxy_set_header Proxy "";',
            f"      proxy_connect_timeout {connect}s;" + _origin(ing, "proxy-connect-timeout"),
            f"      proxy_send_timeout {send}s;" + _origin(ing, "proxy-send-timeout"),
            f"      proxy_read_timeout {read}s;" + _origin(ing, "proxy-read-timeout"),
            f"      proxy_buffering {parsed.buffering};" + _origin(ing, "proxy-buffering"),
            "      proxy_request_buffering on;",
            "      proxy_http_version 1.1;",
            "      proxy_next_upstream error timeout;",
            "      proxy_next_upstream_tries 3;",
            "      proxy_redirect off;",
            f"      proxy_bind {self.layout.nginx_source_address};",
        ]
        if parsed.rewrite_target:
            lines.append(
                f"      rewrite {_quote('(?i)' + loc.path)} {_quote(parsed.rewrite_target)} break;"
                + _origin(ing, "rewrite-target")
            )
        lines += [f"      proxy_pass {target};", "    }"]
        return lines

    def _canary_target(self, loc: _Location, parsed: _Parsed, main_target: str) -> str:
        """balancer.lua route_to_alternative_balancer(), as maps: the header decides first (a value,
        else a pattern, else "always"/"never"), then the cookie ("always"/"never"), then the weight.
        An empty result lets the next one decide."""
        canary = loc.canary
        assert canary is not None and loc.backend is not None
        scheme = main_target.split("://", 1)[0]
        # A Prefix path's two blocks (prefix and exact twin) share one canary choice.
        known = self.canary_maps.get((id(canary), main_target))
        if known is not None:
            return f"{scheme}://${known}"
        name = f"cutover_canary_{len(self.canary_maps)}"
        self.canary_maps[(id(canary), main_target)] = name
        origin = _origin(canary.ingress, "canary")
        header_var = "$http_" + canary.header.lower().replace("-", "_") if canary.header else ""
        if header_var:
            if canary.header_value:
                entries = f'"~^{re.escape(canary.header_value)}$" 1;'
            elif canary.header_pattern:
                try:
                    re.compile(canary.header_pattern)
                    entries = f"{_quote('~' + canary.header_pattern)} 1;"
                except re.error:
                    # The pattern fails in Lua too: any request carrying the header stays on the main.
                    self.notes.append(
                        Note(
                            "nginx",
                            canary.ingress.source.ref,
                            f"canary-by-header-pattern {canary.header_pattern!r} is not a valid regex: "
                            "requests with the header go to the main backend",
                        )
                    )
                    entries = "'' '';  \"~.\" 0;"
            else:
                entries = '"~^always$" 1; "~^never$" 0;'
            if "'' ''" not in entries:
                entries += " default '';"
            self.maps.append(f"  map {header_var} ${name}_h {{ {entries} }}{origin}")
        else:
            self.maps.append(f"  map $scheme ${name}_h {{ default ''; }}")
        if canary.cookie:
            cookie_var = "$cookie_" + canary.cookie
            self.maps.append(f'  map {cookie_var} ${name}_c {{ "~^always$" 1; "~^never$" 0; default \'\'; }}{origin}')
        else:
            self.maps.append(f"  map $scheme ${name}_c {{ default ''; }}")
        total = canary.weight_total if canary.weight_total > 100 else 100
        if canary.weight <= 0:
            self.maps.append(f"  map $scheme ${name}_w {{ default 0; }}")
        elif canary.weight >= total:
            self.maps.append(f"  map $scheme ${name}_w {{ default 1; }}")
        else:
            percent = f"{canary.weight * 100 / total:.2f}".rstrip("0").rstrip(".")
            self.maps.append(f'  split_clients "${{request_id}}" ${name}_w {{ {percent}% 1; * 0; }}{origin}')
        canary_target = self._upstream(canary.ingress, parsed, canary.backend)
        self.maps.append(
            f'  map "${name}_h:${name}_c:${name}_w" ${name} {{ "~^1" {_upstream_name(canary_target)}; '
            f'"~^0" {_upstream_name(main_target)}; "~^:1" {_upstream_name(canary_target)}; '
            f'"~^:0" {_upstream_name(main_target)}; "~^::1" {_upstream_name(canary_target)}; '
            f"default {_upstream_name(main_target)}; }}"
        )
        return f"{scheme}://${name}"

    def _upstream(self, ing: Ingress, parsed: _Parsed, backend: IngressBackend) -> str:
        protocol = parsed.backend_protocol
        if protocol not in ("HTTP", "HTTPS"):
            self.notes.append(
                Note(
                    "nginx",
                    ing.source.ref,
                    f"backend-protocol {protocol} is not modelled; HTTP used",
                    verify=f"a staging run (--targets) against the {protocol} backend",
                )
            )
            protocol = "HTTP"
        service, port = resolve_service_port(self.manifests, ing.namespace, backend)
        address = self.layout.backend(ing.namespace, backend.service, port) if port else None
        if address is None:
            self.notes.append(
                Note(
                    "nginx",
                    ing.source.ref,
                    f"backend {backend.service}:{backend.port_number or backend.port_name} "
                    "has no endpoint; nginx answers 503",
                )
            )
            return f"http://{self.layout.listen_address}:{self.layout.blackhole_port}"
        port_used = address.lab_port
        if service is not None:
            admitted, why = backend_admits(self.manifests, service, "nginx")
            if not admitted:
                self.notes.append(Note("nginx", ing.source.ref, why))
                port_used = self.layout.blackhole_port
        name = f"upstream-{ing.namespace}-{backend.service}-{port}-{protocol.lower()}"
        self.upstreams[name] = f"{address.address}:{port_used}"
        # backend-protocol HTTPS: no verification and no SNI (proxy_ssl_* only with proxy-ssl-secret).
        return f"{protocol.lower()}://{name}"


def _upstream_name(target: str) -> str:
    return target.split("://", 1)[1]


def render_nginx(
    manifests: ManifestSet,
    layout: LabLayout,
    config: ControllerConfig | None = None,
    flags: ControllerFlags | None = None,
) -> NginxConfig:
    return _Renderer(manifests, layout, config or ControllerConfig(), flags or ControllerFlags()).run()


def service_port_is_tls(port: ServicePort) -> bool:
    return port.app_protocol.lower() in ("https", "tls") or port.name.lower() in ("https", "tls")
