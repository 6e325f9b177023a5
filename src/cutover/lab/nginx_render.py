"""Ingress objects -> nginx.conf, the way ingress-nginx (controller v1.15) renders them.

Facts from ../shared/ref/ingress-nginx.md (nginx.tmpl, template.go, location.go).
What is not modelled is returned as a Note, never guessed.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from cutover.lab.model import LabLayout, Note
from cutover.lab.policy import backend_admits
from cutover.manifests import NGINX_PREFIX, Ingress, IngressBackend, ManifestSet, Service, ServicePort

__all__ = ["MODELLED_ANNOTATIONS", "NginxConfig", "render_nginx", "resolve_service_port"]

MODELLED_ANNOTATIONS = {
    "ssl-redirect",
    "force-ssl-redirect",
    "proxy-read-timeout",
    "proxy-send-timeout",
    "proxy-connect-timeout",
    "proxy-buffering",
    "whitelist-source-range",
    "allowlist-source-range",
    "backend-protocol",
    "use-regex",
    "rewrite-target",
    "proxy-body-size",
}

# Controller ConfigMap defaults (internal/ingress/controller/config/config.go).
DEFAULT_CONNECT_TIMEOUT = 5
DEFAULT_READ_TIMEOUT = 60
DEFAULT_SEND_TIMEOUT = 60
DEFAULT_BODY_SIZE = "1m"
HTTP_REDIRECT_CODE = 308
HSTS_VALUE = "max-age=31536000; includeSubDomains"
HEADERS_MORE_MODULE = Path("/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so")


@dataclass
class NginxConfig:
    text: str
    notes: list[Note] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@dataclass
class _Location:
    path: str
    path_type: str
    ingress: Ingress
    backend: IngressBackend | None
    modifier: str = ""  # "=", "~*" or "" (prefix)
    match: str = ""


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
        notes.append(Note("nginx", ingress.source.ref, f"annotation {key}={raw!r} is not an integer; default used"))
        return default
    return value


def _allowlist(ingress: Ingress, notes: list[Note]) -> list[str]:
    raw = ingress.annotation("whitelist-source-range") or ingress.annotation("allowlist-source-range")
    cidrs: list[str] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            cidrs.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            # The controller refuses the whole annotation on a bad CIDR (the location then denies nothing).
            notes.append(
                Note("nginx", ingress.source.ref, f"allowlist entry {item!r} is not a CIDR; annotation ignored")
            )
            return []
    return cidrs


def _ordered_locations(locations: list[_Location]) -> list[_Location]:
    # Sorted by path string descending, then stably by length descending (location.go).
    by_path = sorted(locations, key=lambda loc: loc.path, reverse=True)
    return sorted(by_path, key=lambda loc: len(loc.path), reverse=True)


def _build_locations(host_ingresses: list[Ingress], host: str, regex: bool) -> list[_Location]:
    plain: list[_Location] = []
    exact_paths = {p.path for ing in host_ingresses for p in ing.paths if p.host == host and p.path_type == "Exact"}
    for ingress in host_ingresses:
        for item in ingress.paths:
            if item.host != host:
                continue
            plain.append(_Location(item.path, item.path_type, ingress, item.backend))
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
                result.append(_Location(loc.path, "Exact", loc.ingress, loc.backend, "=", loc.path))
    return result


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Renderer:
    def __init__(self, manifests: ManifestSet, layout: LabLayout) -> None:
        self.manifests = manifests
        self.layout = layout
        self.notes: list[Note] = []
        self.state = layout.state_dir / "nginx"
        # name -> host:port; ingress-nginx keeps 320 idle connections per upstream.
        self.upstreams: dict[str, str] = {}

    def run(self) -> NginxConfig:
        ingresses = [ing for ing in self.manifests.ingresses if ing.ingress_class in ("", "nginx")]
        for ing in self.manifests.ingresses:
            if ing not in ingresses:
                self.notes.append(Note("nginx", ing.source.ref, f"class {ing.ingress_class!r} is not nginx; skipped"))
        for ing in ingresses:
            for key in sorted(ing.annotations):
                if key.startswith(NGINX_PREFIX) and key.removeprefix(NGINX_PREFIX) not in MODELLED_ANNOTATIONS:
                    self.notes.append(
                        Note(
                            "nginx",
                            ing.source.ref,
                            f"annotation {key} is not modelled by the lab",
                            verify=f"a staging run (--targets) with a check that exercises {key}",
                        )
                    )
            if ing.default_backend is not None:
                self.notes.append(
                    Note(
                        "nginx",
                        ing.source.ref,
                        "spec.defaultBackend is not modelled by the lab",
                        verify="a staging run (--targets) probing paths no rule matches",
                    )
                )
        hosts: dict[str, list[Ingress]] = {}
        for ing in ingresses:
            for host in ing.hosts:
                hosts.setdefault(host, []).append(ing)
        servers = [self._server(host, ings) for host, ings in hosts.items() if host]
        if "" in hosts:
            self.notes.append(Note("nginx", "Ingress rules without host", "hostless rules are not modelled"))
        text = self._main(servers)
        return NginxConfig(text, self.notes, [h for h in hosts if h])

    def _main(self, servers: list[str]) -> str:
        state = self.state
        lines = [
            "# Rendered by cutover from Ingress objects, the way ingress-nginx v1.15 would.",
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
            f"  client_max_body_size {DEFAULT_BODY_SIZE};",
            "  port_in_redirect off;",
            "  server_names_hash_bucket_size 128;",
            "  map $http_x_request_id $req_id { default $http_x_request_id; '' $request_id; }",
            "  map $http_host $best_http_host { default $http_host; '' $host; }",
            "  map $scheme $pass_port { https 443; default 80; }",
            "  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }",
            f"  map $scheme $hsts_header {{ https {_quote(HSTS_VALUE)}; default ''; }}",
            "  map $uri $acme_challenge { ~^/\\.well-known/acme-challenge/ 1; default 0; }",
        ]
        lines += [
            f"  upstream {name} {{ server {target}; keepalive 320; keepalive_timeout 60s; keepalive_requests 10000; }}"
            for name, target in sorted(self.upstreams.items())
        ]
        lines += servers
        lines += self._default_server()
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _listen(self, default: bool) -> list[str]:
        address = self.layout.listen_address
        suffix = " default_server" if default else ""
        return [
            f"    listen {address}:{self.layout.nginx_http_port}{suffix};",
            f"    listen {address}:{self.layout.nginx_https_port} ssl{suffix};",
        ]

    def _default_server(self) -> list[str]:
        cert = self.layout.default_certificate
        lines = ["  server {", "    server_name _;", *self._listen(default=True)]
        if cert is not None:
            lines += [f"    ssl_certificate {cert.cert};", f"    ssl_certificate_key {cert.key};"]
        # The default backend: unknown host -> 404 with nginx's stock page.
        lines += ["    location / { return 404; }", "  }"]
        return lines

    def _server(self, host: str, ingresses: list[Ingress]) -> str:
        regex = any(_truthy(ing.annotation("use-regex")) or bool(ing.annotation("rewrite-target")) for ing in ingresses)
        cert = self.layout.default_certificate
        for ing in ingresses:
            for tls in ing.tls:
                if host in tls.hosts and tls.secret_name:
                    cert = self.layout.certificates.get((ing.namespace, tls.secret_name), cert)
        lines = ["  server {", f"    server_name {host};", *self._listen(default=False)]
        if cert is not None:
            lines += [f"    ssl_certificate {cert.cert};", f"    ssl_certificate_key {cert.key};"]
        # HSTS on every HTTPS response (hsts: true in the controller ConfigMap).
        lines.append("    add_header Strict-Transport-Security $hsts_header always;")
        for loc in _build_locations(ingresses, host, regex):
            lines += self._location(host, loc)
        lines.append("  }")
        return "\n".join(lines)

    def _location(self, host: str, loc: _Location) -> list[str]:
        ing = loc.ingress
        head = (
            f"    location {loc.modifier} {_quote(loc.match)} {{"
            if loc.modifier
            else f"    location {_quote(loc.match)} {{"
        )
        lines = [head]
        upstream = ing.namespace + "-" + (loc.backend.service if loc.backend else "default-backend")
        lines.append(f"      set $proxy_upstream_name {_quote(upstream)};")
        for cidr in _allowlist(ing, self.notes if loc.backend else []):
            lines.append(f"      allow {cidr};")
        if _allowlist(ing, []):
            lines.append("      deny all;")
        tls_hosts = {
            h for other in self.manifests.ingresses if other.namespace == ing.namespace for h in other.tls_hosts()
        }
        redirect = _truthy(ing.annotation("force-ssl-redirect")) or (
            host in tls_hosts and ing.annotation("ssl-redirect", "true").strip().lower() != "false"
        )
        if redirect:
            lines += [
                '      set $cutover_redirect "${scheme}${acme_challenge}";',
                f'      if ($cutover_redirect = "http0") {{ return {HTTP_REDIRECT_CODE} https://$host$request_uri; }}',
            ]
        if loc.backend is None:
            lines += ["      return 404;", "    }"]
            return lines
        target = self._upstream(ing, loc.backend)
        connect = _seconds(ing, "proxy-connect-timeout", DEFAULT_CONNECT_TIMEOUT, self.notes)
        send = _seconds(ing, "proxy-send-timeout", DEFAULT_SEND_TIMEOUT, self.notes)
        read = _seconds(ing, "proxy-read-timeout", DEFAULT_READ_TIMEOUT, self.notes)
        buffering = ing.annotation("proxy-buffering", "off").strip().lower()
        body_size = ing.annotation("proxy-body-size") or DEFAULT_BODY_SIZE
        lines += [
            "      port_in_redirect off;",
            f"      client_max_body_size {body_size};",
            "      proxy_set_header Host $best_http_host;",
            "      proxy_set_header Upgrade $http_upgrade;",
            "      proxy_set_header Connection $connection_upgrade;",
            "      proxy_set_header X-Request-ID $req_id;",
            "      proxy_set_header X-Real-IP $remote_addr;",
            "      proxy_set_header X-Forwarded-For $remote_addr;",
            "      proxy_set_header X-Forwarded-Host $best_http_host;",
            "      proxy_set_header X-Forwarded-Port $pass_port;",
            "      proxy_set_header X-Forwarded-Proto $scheme;",
            "      proxy_set_header X-Forwarded-Scheme $scheme;",
            "      proxy_set_header X-Scheme $scheme;",
            "      proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;",
            '      proxy_set_header Proxy "";',
            f"      proxy_connect_timeout {connect}s;",
            f"      proxy_send_timeout {send}s;",
            f"      proxy_read_timeout {read}s;",
            f"      proxy_buffering {'on' if buffering == 'on' else 'off'};",
            "      proxy_request_buffering on;",
            "      proxy_http_version 1.1;",
            "      proxy_next_upstream error timeout;",
            "      proxy_next_upstream_tries 3;",
            "      proxy_redirect off;",
            f"      proxy_bind {self.layout.nginx_source_address};",
        ]
        rewrite = ing.annotation("rewrite-target")
        if rewrite:
            lines.append(f"      rewrite {_quote('(?i)' + loc.path)} {_quote(rewrite)} break;")
        lines += [f"      proxy_pass {target};", "    }"]
        return lines

    def _upstream(self, ing: Ingress, backend: IngressBackend) -> str:
        protocol = (ing.annotation("backend-protocol") or "HTTP").upper()
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


def render_nginx(manifests: ManifestSet, layout: LabLayout) -> NginxConfig:
    return _Renderer(manifests, layout).run()


def service_port_is_tls(port: ServicePort) -> bool:
    return port.app_protocol.lower() in ("https", "tls") or port.name.lower() in ("https", "tls")
