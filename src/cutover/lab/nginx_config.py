"""The ingress-nginx controller's own settings: its ConfigMap and its class flags.

The ConfigMap (`ingress-nginx-controller` in `ingress-nginx` as the Helm chart names it)
sets the global defaults every location starts from; the stock values below apply only
when it is absent. Keys and defaults are those of controller v1.15
(internal/ingress/controller/config/config.go, NewDefault). The controller decodes the
ConfigMap with mapstructure's weakly typed input (internal/ingress/controller/template/
configmap.go, ReadConfig): a value it cannot decode is logged and the default stays.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from cutover.errors import InputError
from cutover.lab.model import Note
from cutover.manifests import ConfigMap, ManifestSet
from cutover.yamlread import load_one

__all__ = [
    "CONTROLLER_CONFIGMAP",
    "DEFAULT_CONTROLLER",
    "DEFAULT_INGRESS_CLASS",
    "ControllerConfig",
    "ControllerFlags",
    "controller_config",
    "find_controller_configmap",
    "load_controller_config",
    "parse_bool",
    "read_nginx_config_file",
]

CONTROLLER_CONFIGMAP = ("ingress-nginx", "ingress-nginx-controller")
DEFAULT_CONTROLLER = "k8s.io/ingress-nginx"
DEFAULT_INGRESS_CLASS = "nginx"
DEFAULTS_SOURCE = "controller defaults"

# strconv.ParseBool, which both the annotation parser and mapstructure's weak decoding use.
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(value: str) -> bool | None:
    """Go's strconv.ParseBool: None when the text is not a boolean."""
    text = value.strip()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


@dataclass
class ControllerConfig:
    """The global defaults the controller renders every server and location from."""

    source: str = DEFAULTS_SOURCE
    proxy_connect_timeout: int = 5
    proxy_read_timeout: int = 60
    proxy_send_timeout: int = 60
    proxy_body_size: str = "1m"
    proxy_buffering: str = "off"
    use_forwarded_headers: bool = False
    enable_real_ip: bool = False
    forwarded_for_header: str = "X-Forwarded-For"
    compute_full_forwarded_for: bool = False
    proxy_real_ip_cidr: list[str] = field(default_factory=lambda: ["0.0.0.0/0"])
    hsts: bool = True
    hsts_max_age: str = "31536000"
    hsts_include_subdomains: bool = True
    hsts_preload: bool = False
    ssl_redirect: bool = True
    force_ssl_redirect: bool = False
    preserve_trailing_slash: bool = False
    no_tls_redirect_locations: list[str] = field(default_factory=lambda: ["/.well-known/acme-challenge"])
    http_redirect_code: int = 308
    use_http2: bool = True
    whitelist_source_range: list[str] = field(default_factory=list)
    annotations_risk_level: str = "High"
    allow_snippet_annotations: bool = False
    notes: list[Note] = field(default_factory=list)

    @property
    def hsts_value(self) -> str:
        # lua_ingress.lua, header(): max-age, then includeSubDomains, then preload.
        value = f"max-age={self.hsts_max_age}"
        if self.hsts_include_subdomains:
            value += "; includeSubDomains"
        if self.hsts_preload:
            value += "; preload"
        return value


_BOOLS = {
    "use-forwarded-headers": "use_forwarded_headers",
    "enable-real-ip": "enable_real_ip",
    "compute-full-forwarded-for": "compute_full_forwarded_for",
    "hsts": "hsts",
    "hsts-include-subdomains": "hsts_include_subdomains",
    "hsts-preload": "hsts_preload",
    "ssl-redirect": "ssl_redirect",
    "force-ssl-redirect": "force_ssl_redirect",
    "preserve-trailing-slash": "preserve_trailing_slash",
    "use-http2": "use_http2",
    "allow-snippet-annotations": "allow_snippet_annotations",
}
_INTS = {
    "proxy-connect-timeout": "proxy_connect_timeout",
    "proxy-read-timeout": "proxy_read_timeout",
    "proxy-send-timeout": "proxy_send_timeout",
}
_STRINGS = {
    "proxy-body-size": "proxy_body_size",
    "forwarded-for-header": "forwarded_for_header",
    "hsts-max-age": "hsts_max_age",
}
_LISTS = {
    "whitelist-source-range": "whitelist_source_range",
    "proxy-real-ip-cidr": "proxy_real_ip_cidr",
    "no-tls-redirect-locations": "no_tls_redirect_locations",
}
# Keys that only tune what the lab does not measure (logs, workers, buffers sizes): reading them
# changes nothing a parity check sees, so they are not reported as unmodelled.
_HARMLESS = {
    "log-format-upstream",
    "log-format-escape-json",
    "log-format-escape-none",
    "enable-access-log-for-default-backend",
    "disable-access-log",
    "access-log-path",
    "error-log-path",
    "error-log-level",
    "worker-processes",
    "max-worker-connections",
    "max-worker-open-files",
    "worker-shutdown-timeout",
    "server-tokens",
    "skip-access-log-urls",
    "generate-request-id",
    "use-geoip",
    "use-geoip2",
    "enable-opentelemetry",
    "allow-backend-server-header",
    "annotations-risk-level",
    "http-redirect-code",
    "strict-validate-path-type",
}


@dataclass(frozen=True)
class ControllerFlags:
    """The controller's command-line class settings (the Helm chart's defaults)."""

    # --ingress-class: the value of the legacy kubernetes.io/ingress.class annotation it serves.
    ingress_class: str = DEFAULT_INGRESS_CLASS
    # --controller-class: the spec.controller of the IngressClasses it serves.
    controller: str = DEFAULT_CONTROLLER
    # --watch-ingress-without-class (false in the chart).
    watch_without_class: bool = False


def _as_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def controller_config(data: dict[str, str], source: str) -> ControllerConfig:
    """The controller's settings from its ConfigMap's data."""
    config = ControllerConfig(source=source)

    def note(message: str, verify: str = "") -> None:
        config.notes.append(Note("nginx", source, message, verify=verify))

    for key, raw in sorted(data.items()):
        value = str(raw)
        if key in _BOOLS:
            parsed = parse_bool(value)
            if parsed is None:
                note(f"{key}={value!r} is not a boolean; the controller keeps its default")
                continue
            setattr(config, _BOOLS[key], parsed)
        elif key in _INTS:
            try:
                setattr(config, _INTS[key], int(value.strip()))
            except ValueError:
                note(f"{key}={value!r} is not an integer; the controller keeps its default")
        elif key in _STRINGS:
            setattr(config, _STRINGS[key], value.strip())
        elif key in _LISTS:
            setattr(config, _LISTS[key], _as_list(value))
        elif key == "proxy-buffering":
            if value.strip().lower() in ("on", "off"):
                config.proxy_buffering = value.strip().lower()
            else:
                note(f"proxy-buffering={value!r} is not on or off; nginx will refuse it")
                config.proxy_buffering = value.strip()
        elif key == "http-redirect-code":
            # ReadConfig accepts 301, 302, 307 and 308 only.
            if value.strip() in ("301", "302", "307", "308"):
                config.http_redirect_code = int(value.strip())
            else:
                note(f"http-redirect-code={value!r} is not 301, 302, 307 or 308; 308 is used")
        elif key == "annotations-risk-level":
            level = value.strip().capitalize()
            config.annotations_risk_level = level if level in ("Low", "Medium", "High", "Critical") else "Low"
        elif key not in _HARMLESS:
            note(
                f"ConfigMap key {key}={value!r} is not modelled by the lab",
                verify=f"a staging run (--targets) against the controller configured with {key}",
            )
    for cidr in config.whitelist_source_range:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            note(f"whitelist-source-range entry {cidr!r} is not a CIDR; nginx will refuse the configuration")
    return config


def read_nginx_config_file(path: Path) -> dict[str, str]:
    """`--nginx-config FILE`: a ConfigMap object, or a plain mapping of its data."""
    if not path.is_file():
        raise InputError("does not exist", file=str(path), hint="pass the controller's ConfigMap as YAML")
    document = load_one(path)
    if not isinstance(document, dict):
        raise InputError("must be a ConfigMap or a mapping of its data", file=str(path))
    if document.get("kind") == "ConfigMap":
        document = document.get("data") or {}
        if not isinstance(document, dict):
            raise InputError("must be a mapping", file=str(path), field="data")
    for key, value in document.items():
        if isinstance(value, dict | list):
            raise InputError(f"must be a string, got {type(value).__name__}", file=str(path), field=str(key))
    return {str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in document.items()}


_NAME = re.compile(r"^(?:(?P<namespace>[a-z0-9-]+)/)?(?P<name>[a-z0-9.-]+)$")


def find_controller_configmap(manifests: ManifestSet, name: str | None) -> ConfigMap | None:
    """The controller's ConfigMap in the manifests: `namespace/name` from the overlay, or the chart's."""
    if name:
        match = _NAME.match(name)
        if match is None:
            raise InputError(f"must be NAMESPACE/NAME, got {name!r}", field="lab.nginx_configmap")
        key = (match.group("namespace") or CONTROLLER_CONFIGMAP[0], match.group("name"))
        found = manifests.config_maps.get(key)
        if found is None:
            raise InputError(
                f"names ConfigMap {key[0]}/{key[1]}, which the manifests do not hold", field="lab.nginx_configmap"
            )
        return found
    return manifests.config_maps.get(CONTROLLER_CONFIGMAP)


def load_controller_config(
    manifests: ManifestSet, file: Path | None = None, configmap: str | None = None
) -> ControllerConfig:
    """`--nginx-config FILE` first, then the ConfigMap in the folder, else the stock defaults."""
    if file is not None:
        return controller_config(read_nginx_config_file(file), f"--nginx-config {file}")
    found = find_controller_configmap(manifests, configmap)
    if found is not None:
        return controller_config(found.data, found.source.ref)
    return ControllerConfig()
