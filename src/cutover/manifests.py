"""Read a directory of ordinary Kubernetes YAML into typed objects.

The same loader serves the lab (which renders nginx and Envoy from the objects) and the
offline cluster checks. It accepts multi-document files and `kind: List` backups as
`kubectl get -o yaml` writes them. Every complaint names the file, the object and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cutover.errors import InputError
from cutover.facts.kube import CILIUM_GROUP, GATEWAY_GROUP, NETWORKING_GROUP, NGINX_PREFIX
from cutover.yamlread import Fields, document_line, document_locator, load_all

__all__ = [
    "BackendRef",
    "BackendTLSPolicy",
    "Gateway",
    "HTTPRoute",
    "Ingress",
    "IngressClass",
    "IngressPath",
    "Listener",
    "ManifestSet",
    "NetworkPolicy",
    "ReferenceGrant",
    "RejectedObject",
    "RouteMatch",
    "RouteRule",
    "Service",
    "ServicePort",
    "load_documents",
    "load_manifests",
    "parse_documents",
    "parse_duration",
]

_YAML_SUFFIXES = {".yaml", ".yml"}


@dataclass(frozen=True)
class Source:
    """Where an object was read from, for error messages."""

    file: str
    kind: str
    namespace: str
    name: str

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class ServicePort:
    port: int
    name: str = ""
    app_protocol: str = ""


@dataclass(frozen=True)
class Service:
    source: Source
    namespace: str
    name: str
    ports: tuple[ServicePort, ...]
    selector: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class IngressBackend:
    service: str
    port_number: int | None
    port_name: str | None


@dataclass(frozen=True)
class IngressPath:
    host: str
    path: str
    path_type: str
    backend: IngressBackend
    field_path: str


@dataclass(frozen=True)
class IngressTLS:
    hosts: tuple[str, ...]
    secret_name: str


@dataclass
class Ingress:
    source: Source
    namespace: str
    name: str
    ingress_class: str
    annotations: dict[str, str]
    paths: list[IngressPath]
    tls: list[IngressTLS]
    default_backend: IngressBackend | None
    # spec.ingressClassName and the legacy kubernetes.io/ingress.class annotation, apart:
    # the controller reads them in that order (ingress_class above is whichever is set).
    class_name: str = ""
    class_annotation: str | None = None
    # metadata.creationTimestamp as written ("" when absent): the controller's order.
    created: str = ""

    def annotation(self, key: str, default: str = "") -> str:
        """An ingress-nginx annotation by its short name (without the prefix)."""
        return self.annotations.get(NGINX_PREFIX + key, default)

    @property
    def hosts(self) -> list[str]:
        seen: list[str] = []
        for item in self.paths:
            if item.host not in seen:
                seen.append(item.host)
        return seen

    def tls_hosts(self) -> set[str]:
        return {host for entry in self.tls for host in entry.hosts}


@dataclass(frozen=True)
class IngressClass:
    """networking.k8s.io/v1 IngressClass: which controller serves Ingresses naming it."""

    source: Source
    name: str
    controller: str
    is_default: bool


@dataclass(frozen=True)
class CertRef:
    name: str
    namespace: str


@dataclass(frozen=True)
class Listener:
    name: str
    port: int
    protocol: str
    hostname: str
    tls_mode: str
    certificate_refs: tuple[CertRef, ...]
    routes_from: str


@dataclass
class Gateway:
    source: Source
    namespace: str
    name: str
    gateway_class: str
    annotations: dict[str, str]
    listeners: list[Listener]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ParentRef:
    name: str
    namespace: str
    section_name: str
    port: int | None
    kind: str


@dataclass(frozen=True)
class HeaderMatch:
    name: str
    value: str
    type: str


@dataclass(frozen=True)
class RouteMatch:
    path_type: str
    path_value: str
    method: str
    headers: tuple[HeaderMatch, ...]
    query_params: tuple[HeaderMatch, ...]


@dataclass(frozen=True)
class BackendRef:
    name: str
    namespace: str
    port: int | None
    weight: int
    kind: str
    group: str = ""
    # backendRefs[].filters: applied only to requests sent to this backend.
    filters: tuple[dict[str, Any], ...] = field(default=(), hash=False, compare=False)


@dataclass
class RouteRule:
    index: int
    matches: list[RouteMatch]
    filters: list[dict[str, Any]]
    backend_refs: list[BackendRef]
    timeout_request: float | None
    timeout_backend_request: float | None


@dataclass
class HTTPRoute:
    source: Source
    namespace: str
    name: str
    parent_refs: list[ParentRef]
    hostnames: list[str]
    rules: list[RouteRule]
    annotations: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class PolicyTarget:
    group: str
    kind: str
    name: str
    section_name: str


@dataclass
class BackendTLSPolicy:
    source: Source
    api_version: str
    namespace: str
    name: str
    targets: list[PolicyTarget]
    ca_config_maps: list[str]
    well_known_ca: str
    hostname: str
    # metadata.creationTimestamp as written (ISO 8601) or "": the oldest policy wins a conflict.
    created: str = ""


@dataclass(frozen=True)
class GrantPeer:
    group: str
    kind: str
    namespace: str
    name: str


@dataclass
class ReferenceGrant:
    """A ReferenceGrant: objects of `from` may reference objects of `to` in the grant's namespace."""

    source: Source
    namespace: str
    name: str
    from_: list[GrantPeer]
    to: list[GrantPeer]

    def permits(
        self, from_group: str, from_kind: str, from_namespace: str, to_group: str, to_kind: str, name: str
    ) -> bool:
        return any(
            f.group == from_group and f.kind == from_kind and f.namespace == from_namespace for f in self.from_
        ) and any(t.group == to_group and t.kind == to_kind and t.name in ("", name) for t in self.to)


@dataclass
class NetworkPolicy:
    """CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy, kept close to the YAML."""

    source: Source
    kind: str
    namespace: str
    name: str
    endpoint_selector: dict[str, Any]
    ingress: list[dict[str, Any]]


@dataclass
class ConfigMap:
    source: Source
    namespace: str
    name: str
    data: dict[str, str]


@dataclass
class Secret:
    source: Source
    namespace: str
    name: str
    # base64 values as the object carries them under `data`.
    data: dict[str, str]


@dataclass(frozen=True)
class RejectedObject:
    """An object the API server would refuse (its CRD's validation), kept out of the set."""

    source: Source
    error: str
    hostnames: tuple[str, ...] = ()


@dataclass
class ManifestSet:
    """Every object of a manifests directory, by kind."""

    root: Path
    services: dict[tuple[str, str], Service] = field(default_factory=dict)
    ingresses: list[Ingress] = field(default_factory=list)
    gateways: list[Gateway] = field(default_factory=list)
    http_routes: list[HTTPRoute] = field(default_factory=list)
    backend_tls_policies: list[BackendTLSPolicy] = field(default_factory=list)
    reference_grants: list[ReferenceGrant] = field(default_factory=list)
    network_policies: list[NetworkPolicy] = field(default_factory=list)
    config_maps: dict[tuple[str, str], ConfigMap] = field(default_factory=dict)
    secrets: dict[tuple[str, str], Secret] = field(default_factory=dict)
    ingress_classes: dict[str, IngressClass] = field(default_factory=dict)
    others: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    # Filled only when parsing leniently: routes that would never reach a controller.
    rejected: list[RejectedObject] = field(default_factory=list)

    def gateway(self, namespace: str, name: str) -> Gateway | None:
        for gateway in self.gateways:
            if gateway.namespace == namespace and gateway.name == name:
                return gateway
        return None

    def objects_of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.others if obj.get("kind") == kind]


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_DURATION_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:h|ms|m|s))+$")


def parse_duration(text: str) -> float:
    """Gateway API duration (`120s`, `1m30s`, `500ms`) in seconds; raises ValueError."""
    value = text.strip()
    if not _DURATION_WHOLE.match(value):
        raise ValueError(f"{text!r} is not a duration such as 30s, 2m or 500ms")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(number) * scale[unit] for number, unit in _DURATION_PART.findall(value))


class _Reader(Fields):
    """Field access within one object: complaints name its file, line, kind and name."""

    def __init__(self, source: Source) -> None:
        super().__init__(
            source.file, source.ref, document_locator(source.file, source.kind, source.namespace, source.name)
        )
        self.source = source

    def duration(self, value: Any, field_path: str) -> float | None:
        if value is None:
            return None
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            raise self.fail(field_path, str(exc)) from None


def _iter_documents(path: Path) -> Iterator[Any]:
    """The objects of one file: each document, and each item of a `kind: List`."""
    file = str(path)
    documents = [d for d in load_all(path) if d is not None]
    for index, document in enumerate(documents):
        if not isinstance(document, dict):
            raise InputError(
                f"document {index + 1} is a {type(document).__name__}, not a Kubernetes object",
                file=file,
                line=document_line(file, index),
            )
        if str(document.get("kind", "")).endswith("List"):
            for item_index, item in enumerate(document.get("items") or []):
                if not isinstance(item, dict):
                    raise InputError(
                        f"is a {type(item).__name__}, not a Kubernetes object",
                        file=file,
                        line=document_line(file, index),
                        field=f"items[{item_index}]",
                    )
                yield item
        else:
            yield document


def yaml_files(root: Path) -> list[Path]:
    """YAML files below root, in a stable order, skipping cutover's own overlay file."""
    if root.is_file():
        return [root]
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix in _YAML_SUFFIXES and path.is_file() and path.name not in OVERLAY_NAMES
    )


OVERLAY_NAMES = {"cutover.yaml", "cutover.yml"}


Document = tuple[str, dict[str, Any]]


def load_documents(root: Path | str) -> list[Document]:
    """Every object below root as (file, raw dict), in file order."""
    root_path = Path(root)
    if not root_path.exists():
        raise InputError("does not exist", file=str(root_path), hint="pass a directory of Kubernetes YAML")
    files = yaml_files(root_path)
    if not files:
        raise InputError("holds no .yaml or .yml files", file=str(root_path))
    return [(str(path), obj) for path in files for obj in _iter_documents(path)]


def parse_documents(root: Path | str, documents: Iterable[Document], *, lenient_routes: bool = False) -> ManifestSet:
    """Typed objects from raw ones. With lenient_routes, an invalid HTTPRoute is set aside in
    `rejected` (the API server would refuse it; the rest of a GitOps folder still applies)
    instead of failing the whole folder."""
    result = ManifestSet(root=Path(root))
    seen: list[Path] = []
    for file, obj in documents:
        if Path(file) not in seen:
            seen.append(Path(file))
        _add_object(result, file, obj, lenient_routes)
    result.files = seen
    return result


def load_manifests(root: Path | str) -> ManifestSet:
    """Load every object below root; raise InputError on the first unusable one."""
    return parse_documents(root, load_documents(root))


def _source(file: str, obj: dict[str, Any]) -> Source:
    kind = str(obj.get("kind") or "")
    metadata = obj.get("metadata")
    if not kind:
        raise InputError("is missing", file=file, obj="an object", field="kind")
    if not isinstance(metadata, dict):
        raise InputError("is missing", file=file, obj=f"a {kind}", field="metadata")
    name = metadata.get("name")
    if not name:
        raise InputError("is missing", file=file, obj=f"a {kind}", field="metadata.name")
    namespace = metadata.get("namespace") or ("" if kind in _CLUSTER_SCOPED else "default")
    return Source(file=file, kind=kind, namespace=str(namespace), name=str(name))


_CLUSTER_SCOPED = {
    "Namespace",
    "GatewayClass",
    "IngressClass",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "CiliumClusterwideNetworkPolicy",
}


def _add_object(result: ManifestSet, file: str, obj: dict[str, Any], lenient_routes: bool = False) -> None:
    source = _source(file, obj)
    reader = _Reader(source)
    kind = source.kind
    group = str(obj.get("apiVersion", "")).split("/")[0]
    if kind == "Service" and "/" not in str(obj.get("apiVersion", "v1")):
        service = _parse_service(reader, obj)
        result.services[(service.namespace, service.name)] = service
    elif kind == "Ingress" and group == NETWORKING_GROUP:
        result.ingresses.append(_parse_ingress(reader, obj))
    elif kind == "IngressClass" and group == NETWORKING_GROUP:
        spec = reader.mapping(obj.get("spec"), "spec", required=False)
        annotations = obj["metadata"].get("annotations") or {}
        result.ingress_classes[source.name] = IngressClass(
            source,
            source.name,
            reader.string(spec.get("controller"), "spec.controller", required=False),
            str(annotations.get("ingressclass.kubernetes.io/is-default-class", "")).strip().lower() == "true",
        )
        result.others.append(obj)
    elif kind == "Gateway" and group == GATEWAY_GROUP:
        result.gateways.append(_parse_gateway(reader, obj))
    elif kind == "HTTPRoute" and group == GATEWAY_GROUP:
        try:
            result.http_routes.append(_parse_http_route(reader, obj))
        except InputError as exc:
            if not lenient_routes:
                raise
            raw_spec = obj.get("spec")
            hosts = raw_spec.get("hostnames") if isinstance(raw_spec, dict) else None
            hosts = hosts if isinstance(hosts, list) else []
            error = f"{exc.field}: {exc.detail}" if exc.field else exc.detail
            result.rejected.append(RejectedObject(source, error, tuple(str(h) for h in hosts)))
    elif kind == "BackendTLSPolicy" and group == GATEWAY_GROUP:
        result.backend_tls_policies.append(_parse_backend_tls_policy(reader, obj))
    elif kind == "ReferenceGrant" and group == GATEWAY_GROUP:
        result.reference_grants.append(_parse_reference_grant(reader, obj))
    elif kind in ("CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy") and group == CILIUM_GROUP:
        result.network_policies.append(_parse_network_policy(reader, obj))
        result.others.append(obj)
    elif kind == "ConfigMap":
        data = reader.mapping(obj.get("data"), "data", required=False)
        result.config_maps[(source.namespace, source.name)] = ConfigMap(
            source, source.namespace, source.name, {str(k): str(v) for k, v in data.items()}
        )
    elif kind == "Secret":
        data = {str(k): str(v) for k, v in reader.mapping(obj.get("data"), "data", required=False).items()}
        result.secrets[(source.namespace, source.name)] = Secret(source, source.namespace, source.name, data)
    else:
        result.others.append(obj)


def _parse_service(reader: _Reader, obj: dict[str, Any]) -> Service:
    spec = reader.mapping(obj.get("spec"), "spec", required=True)
    ports: list[ServicePort] = []
    for index, item in enumerate(reader.sequence(spec.get("ports"), "spec.ports")):
        where = f"spec.ports[{index}]"
        entry = reader.mapping(item, where, required=True)
        number = reader.port(entry.get("port"), f"{where}.port")
        assert number is not None
        ports.append(
            ServicePort(
                port=number,
                name=reader.string(entry.get("name"), f"{where}.name", required=False),
                app_protocol=reader.string(entry.get("appProtocol"), f"{where}.appProtocol", required=False),
            )
        )
    selector = {str(k): str(v) for k, v in (spec.get("selector") or {}).items()}
    src = reader.source
    return Service(src, src.namespace, src.name, tuple(ports), selector)


def _parse_ingress_backend(reader: _Reader, value: Any, where: str) -> IngressBackend:
    backend = reader.mapping(value, where, required=True)
    service = reader.mapping(backend.get("service"), f"{where}.service", required=False)
    if not service:
        if backend.get("resource"):
            raise reader.fail(f"{where}.resource", "resource backends are not supported; use a Service")
        raise reader.fail(f"{where}.service", "is missing")
    name = reader.string(service.get("name"), f"{where}.service.name")
    port = reader.mapping(service.get("port"), f"{where}.service.port", required=True)
    number = reader.port(port.get("number"), f"{where}.service.port.number", required=False)
    port_name = reader.string(port.get("name"), f"{where}.service.port.name", required=False) or None
    if number is None and port_name is None:
        raise reader.fail(f"{where}.service.port", "needs a number or a name")
    return IngressBackend(name, number, port_name)


_PATH_TYPES = {"Exact", "Prefix", "ImplementationSpecific"}


def _parse_ingress(reader: _Reader, obj: dict[str, Any]) -> Ingress:
    spec = reader.mapping(obj.get("spec"), "spec", required=True)
    metadata = obj["metadata"]
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    class_name = reader.string(spec.get("ingressClassName"), "spec.ingressClassName", required=False)
    class_annotation = annotations.get("kubernetes.io/ingress.class")
    ingress_class = class_name or class_annotation or ""
    paths: list[IngressPath] = []
    rules = reader.sequence(spec.get("rules"), "spec.rules")
    for rule_index, rule_value in enumerate(rules):
        rule_where = f"spec.rules[{rule_index}]"
        rule = reader.mapping(rule_value, rule_where, required=True)
        host = reader.string(rule.get("host"), f"{rule_where}.host", required=False)
        http = reader.mapping(rule.get("http"), f"{rule_where}.http", required=False)
        for path_index, path_value in enumerate(
            reader.sequence(http.get("paths"), f"{rule_where}.http.paths", required=bool(http))
        ):
            where = f"{rule_where}.http.paths[{path_index}]"
            item = reader.mapping(path_value, where, required=True)
            path = reader.string(item.get("path"), f"{where}.path", required=False, default="/")
            # A missing pathType is treated as Prefix (ref: ingress-nginx path matching).
            path_type = reader.string(item.get("pathType"), f"{where}.pathType", required=False, default="Prefix")
            if path_type not in _PATH_TYPES:
                raise reader.fail(f"{where}.pathType", f"must be one of {sorted(_PATH_TYPES)}, got {path_type!r}")
            if not path.startswith("/"):
                raise reader.fail(f"{where}.path", f"must start with '/', got {path!r}")
            backend = _parse_ingress_backend(reader, item.get("backend"), f"{where}.backend")
            paths.append(IngressPath(host, path, path_type, backend, where))
    tls: list[IngressTLS] = []
    for index, entry_value in enumerate(reader.sequence(spec.get("tls"), "spec.tls")):
        entry = reader.mapping(entry_value, f"spec.tls[{index}]", required=True)
        hosts = tuple(str(h) for h in reader.sequence(entry.get("hosts"), f"spec.tls[{index}].hosts"))
        secret = reader.string(entry.get("secretName"), f"spec.tls[{index}].secretName", required=False)
        tls.append(IngressTLS(hosts, secret))
    default_backend = None
    if spec.get("defaultBackend") is not None:
        default_backend = _parse_ingress_backend(reader, spec["defaultBackend"], "spec.defaultBackend")
    if not paths and default_backend is None:
        raise reader.fail("spec.rules", "is missing", hint="an Ingress needs rules with paths or a defaultBackend")
    src = reader.source
    return Ingress(
        src,
        src.namespace,
        src.name,
        ingress_class,
        annotations,
        paths,
        tls,
        default_backend,
        class_name,
        class_annotation,
        str(metadata.get("creationTimestamp") or ""),
    )


def _parse_gateway(reader: _Reader, obj: dict[str, Any]) -> Gateway:
    spec = reader.mapping(obj.get("spec"), "spec", required=True)
    gateway_class = reader.string(spec.get("gatewayClassName"), "spec.gatewayClassName")
    listeners: list[Listener] = []
    names: set[str] = set()
    for index, value in enumerate(reader.sequence(spec.get("listeners"), "spec.listeners", required=True)):
        where = f"spec.listeners[{index}]"
        item = reader.mapping(value, where, required=True)
        name = reader.string(item.get("name"), f"{where}.name")
        if name in names:
            raise reader.fail(f"{where}.name", f"listener name {name!r} is used twice")
        names.add(name)
        port = reader.port(item.get("port"), f"{where}.port")
        assert port is not None
        protocol = reader.string(item.get("protocol"), f"{where}.protocol")
        if protocol not in ("HTTP", "HTTPS", "TLS", "TCP", "UDP"):
            raise reader.fail(f"{where}.protocol", f"must be HTTP, HTTPS, TLS, TCP or UDP, got {protocol!r}")
        tls = reader.mapping(item.get("tls"), f"{where}.tls", required=False)
        refs: list[CertRef] = []
        for ref_index, ref_value in enumerate(
            reader.sequence(tls.get("certificateRefs"), f"{where}.tls.certificateRefs")
        ):
            ref = reader.mapping(ref_value, f"{where}.tls.certificateRefs[{ref_index}]", required=True)
            refs.append(
                CertRef(
                    reader.string(ref.get("name"), f"{where}.tls.certificateRefs[{ref_index}].name"),
                    str(ref.get("namespace") or reader.source.namespace),
                )
            )
        tls_mode = str(tls.get("mode") or ("Terminate" if protocol == "HTTPS" else ""))
        if protocol == "HTTPS" and tls_mode == "Terminate" and not refs:
            raise reader.fail(
                f"{where}.tls.certificateRefs",
                "is missing",
                hint="an HTTPS listener needs a certificate",
            )
        allowed = reader.mapping(item.get("allowedRoutes"), f"{where}.allowedRoutes", required=False)
        namespaces = reader.mapping(allowed.get("namespaces"), f"{where}.allowedRoutes.namespaces", required=False)
        listeners.append(
            Listener(
                name=name,
                port=port,
                protocol=protocol,
                hostname=reader.string(item.get("hostname"), f"{where}.hostname", required=False),
                tls_mode=tls_mode,
                certificate_refs=tuple(refs),
                routes_from=str(namespaces.get("from") or "Same"),
            )
        )
    src = reader.source
    annotations = {str(k): str(v) for k, v in (obj["metadata"].get("annotations") or {}).items()}
    return Gateway(src, src.namespace, src.name, gateway_class, annotations, listeners, obj)


def _parse_string_match(reader: _Reader, value: Any, where: str) -> HeaderMatch:
    item = reader.mapping(value, where, required=True)
    return HeaderMatch(
        name=reader.string(item.get("name"), f"{where}.name"),
        value=reader.string(item.get("value"), f"{where}.value", required=False),
        type=reader.string(item.get("type"), f"{where}.type", required=False, default="Exact"),
    )


_ROUTE_PATH_TYPES = {"Exact", "PathPrefix", "RegularExpression"}


def _parse_http_route(reader: _Reader, obj: dict[str, Any]) -> HTTPRoute:
    spec = reader.mapping(obj.get("spec"), "spec", required=True)
    src = reader.source
    parents = [
        _parse_parent_ref(reader, value, f"spec.parentRefs[{index}]")
        for index, value in enumerate(reader.sequence(spec.get("parentRefs"), "spec.parentRefs", required=True))
    ]
    hostnames = [str(h) for h in reader.sequence(spec.get("hostnames"), "spec.hostnames")]
    # A route without rules has one rule matching every path (the API server's default).
    rule_values = reader.sequence(spec.get("rules"), "spec.rules") or [{}]
    rules = [_parse_route_rule(reader, index, value) for index, value in enumerate(rule_values)]
    annotations = {str(k): str(v) for k, v in (obj["metadata"].get("annotations") or {}).items()}
    return HTTPRoute(src, src.namespace, src.name, parents, hostnames, rules, annotations, obj)


def _parse_parent_ref(reader: _Reader, value: Any, where: str) -> ParentRef:
    item = reader.mapping(value, where, required=True)
    return ParentRef(
        name=reader.string(item.get("name"), f"{where}.name"),
        namespace=str(item.get("namespace") or reader.source.namespace),
        section_name=reader.string(item.get("sectionName"), f"{where}.sectionName", required=False),
        port=reader.port(item.get("port"), f"{where}.port", required=False),
        kind=str(item.get("kind") or "Gateway"),
    )


def _parse_route_rule(reader: _Reader, rule_index: int, rule_value: Any) -> RouteRule:
    rule_where = f"spec.rules[{rule_index}]"
    rule = reader.mapping(rule_value, rule_where, required=True)
    matches = [
        _parse_route_match(reader, value, f"{rule_where}.matches[{index}]")
        for index, value in enumerate(reader.sequence(rule.get("matches"), f"{rule_where}.matches"))
    ] or [RouteMatch("PathPrefix", "/", "", (), ())]
    filters = [
        reader.mapping(f, f"{rule_where}.filters[{i}]", required=True)
        for i, f in enumerate(reader.sequence(rule.get("filters"), f"{rule_where}.filters"))
    ]
    for i, item in enumerate(filters):
        reader.string(item.get("type"), f"{rule_where}.filters[{i}].type")
    backends = [
        _parse_backend_ref(reader, value, f"{rule_where}.backendRefs[{index}]")
        for index, value in enumerate(reader.sequence(rule.get("backendRefs"), f"{rule_where}.backendRefs"))
    ]
    timeouts = reader.mapping(rule.get("timeouts"), f"{rule_where}.timeouts", required=False)
    return RouteRule(
        index=rule_index,
        matches=matches,
        filters=filters,
        backend_refs=backends,
        timeout_request=reader.duration(timeouts.get("request"), f"{rule_where}.timeouts.request"),
        timeout_backend_request=reader.duration(
            timeouts.get("backendRequest"), f"{rule_where}.timeouts.backendRequest"
        ),
    )


def _parse_route_match(reader: _Reader, value: Any, where: str) -> RouteMatch:
    match = reader.mapping(value, where, required=True)
    path = reader.mapping(match.get("path"), f"{where}.path", required=False)
    path_type = reader.string(path.get("type"), f"{where}.path.type", required=False, default="PathPrefix")
    if path_type not in _ROUTE_PATH_TYPES:
        raise reader.fail(f"{where}.path.type", f"must be one of {sorted(_ROUTE_PATH_TYPES)}, got {path_type!r}")
    path_value = reader.string(path.get("value"), f"{where}.path.value", required=False, default="/")
    if path_type != "RegularExpression" and not path_value.startswith("/"):
        raise reader.fail(f"{where}.path.value", f"must start with '/', got {path_value!r}")
    return RouteMatch(
        path_type=path_type,
        path_value=path_value,
        method=reader.string(match.get("method"), f"{where}.method", required=False),
        headers=tuple(
            _parse_string_match(reader, h, f"{where}.headers[{i}]")
            for i, h in enumerate(reader.sequence(match.get("headers"), f"{where}.headers"))
        ),
        query_params=tuple(
            _parse_string_match(reader, q, f"{where}.queryParams[{i}]")
            for i, q in enumerate(reader.sequence(match.get("queryParams"), f"{where}.queryParams"))
        ),
    )


def _parse_backend_ref(reader: _Reader, value: Any, where: str) -> BackendRef:
    backend = reader.mapping(value, where, required=True)
    return BackendRef(
        name=reader.string(backend.get("name"), f"{where}.name"),
        namespace=str(backend.get("namespace") or reader.source.namespace),
        # A missing port is Cilium's business (ResolvedRefs False), not a loader error.
        port=reader.port(backend.get("port"), f"{where}.port", required=False),
        weight=reader.integer(backend.get("weight", 1), f"{where}.weight", 0, 1_000_000),
        kind=str(backend.get("kind") or "Service"),
        group=str(backend.get("group") or ""),
        filters=tuple(
            reader.mapping(f, f"{where}.filters[{i}]", required=True)
            for i, f in enumerate(reader.sequence(backend.get("filters"), f"{where}.filters"))
        ),
    )


def _parse_backend_tls_policy(reader: _Reader, obj: dict[str, Any]) -> BackendTLSPolicy:
    spec = reader.mapping(obj.get("spec"), "spec", required=True)
    src = reader.source
    targets: list[PolicyTarget] = []
    raw_targets = spec.get("targetRefs")
    if raw_targets is None and spec.get("targetRef") is not None:
        raw_targets = [spec["targetRef"]]
    for index, value in enumerate(reader.sequence(raw_targets, "spec.targetRefs", required=True)):
        where = f"spec.targetRefs[{index}]"
        item = reader.mapping(value, where, required=True)
        targets.append(
            PolicyTarget(
                group=str(item.get("group") or ""),
                kind=reader.string(item.get("kind"), f"{where}.kind", required=False, default="Service"),
                name=reader.string(item.get("name"), f"{where}.name"),
                section_name=reader.string(item.get("sectionName"), f"{where}.sectionName", required=False),
            )
        )
    validation = reader.mapping(spec.get("validation"), "spec.validation", required=True)
    ca_maps: list[str] = []
    for index, value in enumerate(
        reader.sequence(validation.get("caCertificateRefs"), "spec.validation.caCertificateRefs")
    ):
        item = reader.mapping(value, f"spec.validation.caCertificateRefs[{index}]", required=True)
        ca_maps.append(reader.string(item.get("name"), f"spec.validation.caCertificateRefs[{index}].name"))
    hostname = reader.string(validation.get("hostname"), "spec.validation.hostname")
    return BackendTLSPolicy(
        src,
        str(obj.get("apiVersion", "")),
        src.namespace,
        src.name,
        targets,
        ca_maps,
        reader.string(
            validation.get("wellKnownCACertificates"),
            "spec.validation.wellKnownCACertificates",
            required=False,
        ),
        hostname,
        str(obj["metadata"].get("creationTimestamp") or ""),
    )


def _grant_peers(reader: _Reader, value: Any, where: str, namespace: str) -> list[GrantPeer]:
    peers = []
    for index, item_value in enumerate(reader.sequence(value, where, required=True)):
        item = reader.mapping(item_value, f"{where}[{index}]", required=True)
        peers.append(
            GrantPeer(
                group=str(item.get("group") or ""),
                kind=reader.string(item.get("kind"), f"{where}[{index}].kind"),
                namespace=str(item.get("namespace") or namespace),
                name=str(item.get("name") or ""),
            )
        )
    return peers


def _parse_reference_grant(reader: _Reader, obj: dict[str, Any]) -> ReferenceGrant:
    spec = reader.mapping(obj.get("spec"), "spec", required=True)
    src = reader.source
    return ReferenceGrant(
        src,
        src.namespace,
        src.name,
        _grant_peers(reader, spec.get("from"), "spec.from", ""),
        _grant_peers(reader, spec.get("to"), "spec.to", src.namespace),
    )


def _parse_network_policy(reader: _Reader, obj: dict[str, Any]) -> NetworkPolicy:
    spec = reader.mapping(obj.get("spec"), "spec", required=True)
    src = reader.source
    selector = reader.mapping(spec.get("endpointSelector"), "spec.endpointSelector", required=False)
    ingress = [
        reader.mapping(rule, f"spec.ingress[{i}]", required=True)
        for i, rule in enumerate(reader.sequence(spec.get("ingress"), "spec.ingress"))
    ]
    return NetworkPolicy(src, src.kind, src.namespace, src.name, selector, ingress)
