"""A Kubernetes API emulator on 127.0.0.1 for tests that use the official (sync) `kubernetes` client.

kmock's `KubernetesEmulator` is an asyncio handler and kmock only ships an async pytest fixture.
`KubeEmulator` runs that handler, behind aiohttp's test server, on its own event loop in a
background thread, so plain synchronous tests (and the blocking official client) can use it::

    with KubeEmulator(objects_from_yaml(METALKUBE)) as emu:
        api = emu.api_client()
        resp = api.call_api("GET", emu.url + "/apis/networking.k8s.io/v1/ingresses",
                            header_params={"Accept": "application/json"})
        resp.read()
        assert resp.status == 200
        items = json.loads(resp.data)["items"]
        assert all(method == "GET" for method, _ in emu.requests)

What it serves: discovery (/api, /apis, /apis/<group>[/<version>]), LIST (all namespaces and per
namespace, with label selectors and metadata.name/metadata.namespace field selectors) and GET of
one object (also via its /status path) for the resources in `DEFAULT_RESOURCES` (minus `omit`, plus
`extra`). Anything else is a 404 Status, which is what a cluster without the CRD answers. Seeded
objects are returned exactly as seeded (status included). kmock also accepts POST/PATCH/DELETE
(it mutates its in-memory state); PUT is not implemented and answers 404. Every HTTP request is
recorded in `.requests`, so a test can assert that no write verb was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp.test_utils
import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import enums, parsing, rendering
from kubernetes import client

__all__ = [
    "DEFAULT_RESOURCES",
    "WRITE_METHODS",
    "KubeEmulator",
    "ServedResource",
    "objects_from_yaml",
]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class ServedResource:
    """One resource the emulator serves: where it lives in the API and what its objects are."""

    group: str  # "" for the core API
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: tuple[str, ...] = ()
    shortnames: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The core API's "v1/pods", else "group/version/plural" (what `omit` takes)."""
        return f"{self.api_version}/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The URL path of the list (all namespaces, or one) or of one object."""
        path = self.base_path
        if namespace is not None and self.namespaced:
            path += f"/namespaces/{namespace}"
        path += f"/{self.plural}"
        return path if name is None else f"{path}/{name}"


_GATEWAY = "gateway.networking.k8s.io"

DEFAULT_RESOURCES: tuple[ServedResource, ...] = (
    ServedResource("", "v1", "namespaces", "Namespace", False, ("status", "finalize"), ("ns",)),
    ServedResource("", "v1", "pods", "Pod", True, ("status",), ("po",)),
    ServedResource("", "v1", "services", "Service", True, ("status",), ("svc",)),
    ServedResource("", "v1", "configmaps", "ConfigMap", True, (), ("cm",)),
    ServedResource("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("status",), ("ing",)),
    ServedResource("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    ServedResource(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("status",),
        ("crd", "crds"),
    ),
    ServedResource(_GATEWAY, "v1", "gatewayclasses", "GatewayClass", False, ("status",), ("gc",)),
    ServedResource(_GATEWAY, "v1", "gateways", "Gateway", True, ("status",), ("gtw",)),
    ServedResource(_GATEWAY, "v1", "httproutes", "HTTPRoute", True, ("status",)),
    ServedResource(_GATEWAY, "v1", "backendtlspolicies", "BackendTLSPolicy", True, ("status",), ("btlspolicy",)),
    ServedResource(_GATEWAY, "v1alpha3", "backendtlspolicies", "BackendTLSPolicy", True, ("status",), ("btlspolicy",)),
    ServedResource("cilium.io", "v2", "ciliumnetworkpolicies", "CiliumNetworkPolicy", True, ("status",), ("cnp",)),
    ServedResource(
        "cilium.io",
        "v2",
        "ciliumclusterwidenetworkpolicies",
        "CiliumClusterwideNetworkPolicy",
        False,
        ("status",),
        ("ccnp",),
    ),
    ServedResource("argoproj.io", "v1alpha1", "applications", "Application", True, (), ("app", "apps")),
)

# kmock's path parser reads /api/v1/namespaces/<x> as "namespace x" and fails on /api/v1/namespaces,
# so requests for Namespace objects themselves are parsed here.
_NAMESPACES_PATH = re.compile(r"/api/v1/namespaces(?:/(?P<name>[^/]+)(?:/(?P<sub>status|finalize))?)?")
_NAMESPACES = kmock.resource("", "v1", "namespaces")


def _bad_request(message: str) -> kmock.KubernetesError:
    return kmock.KubernetesError(status=400, reason="BadRequest", message=message, details={})


def _not_found() -> kmock.KubernetesError:
    return kmock.KubernetesNotFoundError(
        reason="NotFound", message="the server could not find the requested resource", details={}
    )


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA before beta before alpha, then the higher number first."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if match is None:
        return (3, 0, 0)  # not a Kubernetes-style version: last
    stability = {None: 0, "beta": 1, "alpha": 2}[match[2]]
    return (stability, -int(match[1]), -int(match[3] or 0))


def _prefer_stable(group: dict[str, Any]) -> dict[str, Any]:
    """kmock picks an arbitrary preferredVersion from a set; the apiserver prefers the most stable one."""
    group["versions"] = sorted(group["versions"], key=lambda entry: _version_priority(entry["version"]))
    if group["versions"]:
        group["preferredVersion"] = dict(group["versions"][0])
    return group


def _split_selector(selector: str) -> list[str]:
    """Split on the commas that are not inside "in (a,b)" parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


_SET_REQUIREMENT = re.compile(r"(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)")
_EQUALITY_REQUIREMENT = re.compile(r"(?P<key>[^\s!=()]+)\s*(?P<op>==|!=|=)\s*(?P<value>[^\s!=(),]*)")
_EXISTS_REQUIREMENT = re.compile(r"(?P<neg>!?)\s*(?P<key>[^\s!=(),]+)")


def _labels_match(selector: str, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics: equality-, set-based and existence requirements, ANDed."""
    for requirement in _split_selector(selector):
        if match := _SET_REQUIREMENT.fullmatch(requirement):
            values = {value.strip() for value in match["values"].split(",") if value.strip()}
            key = match["key"]
            if match["op"] == "in" and labels.get(key) not in values:
                return False
            if match["op"] == "notin" and key in labels and labels[key] in values:
                return False
        elif match := _EQUALITY_REQUIREMENT.fullmatch(requirement):
            key, value = match["key"], match["value"]
            if match["op"] == "!=":
                if labels.get(key) == value:
                    return False
            elif labels.get(key) != value:
                return False
        elif match := _EXISTS_REQUIREMENT.fullmatch(requirement):
            if (match["key"] in labels) == bool(match["neg"]):
                return False
        else:
            raise _bad_request(f"unable to parse requirement: {requirement!r}")
    return True


def _fields_match(selector: str, obj: Mapping[str, Any]) -> bool:
    """Only metadata.name and metadata.namespace: an unsupported field is a 400, never ignored."""
    metadata = obj.get("metadata") or {}
    for requirement in _split_selector(selector):
        match = _EQUALITY_REQUIREMENT.fullmatch(requirement)
        if match is None or match["key"] not in ("metadata.name", "metadata.namespace"):
            raise _bad_request(f"field selector {requirement!r} is not supported by the emulator")
        actual = metadata.get(match["key"].split(".", 1)[1])
        if (actual == match["value"]) == (match["op"] == "!="):
            return False
    return True


@attrs.define(kw_only=True)
class _Emulator(kmock.KubernetesEmulator):
    """kmock's emulator with request recording, typed lists, selectors and apiserver-like 404s."""

    seen: list[tuple[str, str]] = attrs.field(factory=list, init=False)
    seen_lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        with self.seen_lock:
            self.seen.append((raw_request.method.upper(), raw_request.path))
        match = _NAMESPACES_PATH.fullmatch(raw_request.path)
        if match is None:
            return await super().__call__(raw_request)
        return await self._call_namespaces(raw_request, match["name"], match["sub"])

    async def _call_namespaces(
        self, raw_request: aiohttp.web.BaseRequest, name: str | None, subresource: str | None
    ) -> aiohttp.web.StreamResponse:
        # Mirrors RawHandler.__call__ (kmock 0.8) with a correct parse of the Namespace paths.
        body = await raw_request.read()
        raw_response: aiohttp.web.StreamResponse | None = None
        try:
            try:
                data = json.loads(body) if body else None
            except ValueError:
                data = None
            method = enums.method(raw_request.method)
            path = parsing.ParsedPath(group="", version="v1", plural="namespaces", name=name, subresource=subresource)
            request = rendering.Request(
                id=len(self._requests),
                raw_request=raw_request,
                url=raw_request.url,
                method=raw_request.method,
                params=dict(raw_request.query),
                headers=dict(raw_request.headers),
                cookies=dict(raw_request.cookies),
                data=data,
                body=body,
                text=body.decode("utf-8", errors="replace"),
                action=parsing.guess_k8s(path, method, dict(raw_request.query)),
                resource=_NAMESPACES,
                namespace=None,
                name=name,
                subresource=subresource,
            )
            self._requests.append(request)
            try:
                return await self._handle(request)
            except rendering.StreamingError as exc:
                raw_response = exc.args[0]
                if exc.__cause__ is not None:
                    raise exc.__cause__ from None
                raise
        except Exception as exc:
            if not self._errors:
                raise
            self._errors[-1].append(exc)
            if raw_response is None or not raw_response.prepared:
                return await self._render_error(exc)
            await self._stream_error(exc, raw_response)
            await raw_response.write_eof()
            return raw_response

    def _served(self, request: rendering.Request) -> ServedResource:
        resource = request.resource
        assert resource is not None
        assert resource.group is not None and resource.version is not None and resource.plural is not None
        info = self.resources[resource] if resource in self.resources else kmock.ResourceInfo()
        return ServedResource(
            resource.group,
            resource.version,
            resource.plural,
            info.kind or resource.plural.capitalize(),
            bool(info.namespaced),
        )

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        try:
            listing = await super()._serve_list(request)
        except kmock.KubernetesResourceNotFoundError:
            raise _not_found() from None
        assert isinstance(listing, dict)
        items: list[dict[str, Any]] = listing["items"]
        label_selector = request.params.get("labelSelector", "")
        field_selector = request.params.get("fieldSelector", "")
        if label_selector:
            items = [
                item
                for item in items
                if _labels_match(label_selector, (item.get("metadata") or {}).get("labels") or {})
            ]
        if field_selector:
            items = [item for item in items if _fields_match(field_selector, item)]
        served = self._served(request)
        return {
            "apiVersion": served.api_version,
            "kind": f"{served.kind}List",
            "metadata": {"resourceVersion": "1"},
            "items": items,
        }

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        try:
            return await super()._serve_fetch(request)
        except kmock.KubernetesObjectNotFoundError:
            served = self._served(request)
            qualified = f"{served.plural}.{served.group}" if served.group else served.plural
            raise kmock.KubernetesNotFoundError(
                reason="NotFound",
                message=f'{qualified} "{request.name}" not found',
                details={"name": request.name, "group": served.group, "kind": served.plural},
            ) from None

    async def _serve_apis(self, request: rendering.Request) -> rendering.Payload:
        groups = await super()._serve_apis(request)
        assert isinstance(groups, dict)
        for group in groups["groups"]:
            _prefer_stable(group)
        return groups

    async def _serve_group(self, request: rendering.Request) -> rendering.Payload:
        try:
            group = await super()._serve_group(request)
        except kmock.KubernetesResourceNotFoundError:
            raise _not_found() from None
        assert isinstance(group, dict)
        return _prefer_stable(group)

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        try:
            resources = await super()._serve_version(request)
        except kmock.KubernetesResourceNotFoundError:
            raise _not_found() from None
        assert isinstance(resources, dict)
        resources["groupVersion"] = resources["groupVersion"].lstrip("/")  # kmock says "/v1" for the core API
        return resources

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, kmock.KubernetesError):
            # The apiserver's Status body, not kmock's (whose details carry a server-side traceback).
            if isinstance(exc, kmock.KubernetesNotFoundError) and exc.reason != "NotFound":
                exc = _not_found()  # a kmock default: endpoint/resource/object not found
            return aiohttp.web.json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": exc.message or "",
                    "reason": exc.reason or "InternalError",
                    "details": exc.details or {},
                    "code": exc.status,
                },
                status=exc.status,
            )
        return await super()._render_error(exc)  # a bug in the emulator or in kmock: 500 with a traceback


class KubeEmulator:
    """A read-mostly Kubernetes API on http://127.0.0.1:<port>, served from a background thread.

    `objects` are ordinary object dicts (apiVersion, kind, metadata.name, metadata.namespace for
    namespaced kinds: "default" when absent; dropped for cluster-scoped kinds). Every object must be
    of a served resource. `omit` leaves default resources unserved (a CRD that is not installed, or
    not in that version): a key ("gateway.networking.k8s.io/v1/backendtlspolicies"), a group/version
    ("gateway.networking.k8s.io/v1alpha3") or a whole group ("cilium.io"). `extra` adds resources.

    Use as a context manager, or call start() and stop(). stop() closes every client made by
    api_client(), shuts the server down and joins the thread.
    """

    def __init__(
        self,
        objects: Iterable[Mapping[str, Any]] = (),
        *,
        omit: Iterable[str] = (),
        extra: Iterable[ServedResource] = (),
    ) -> None:
        self._resources = _select_resources(omit, extra)
        by_kind = {(res.api_version, res.kind): res for res in self._resources}
        self._seed: dict[tuple[ServedResource, str | None, str], dict[str, Any]] = {}
        for obj in objects:
            served, namespace, name, stored = _place(obj, by_kind)
            if (served, namespace, name) in self._seed:
                raise ValueError(f"duplicate object: {served.key} {namespace or '-'}/{name}")
            self._seed[served, namespace, name] = stored

        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._emulator: _Emulator | None = None
        self._url: str | None = None
        self._clients: list[client.ApiClient] = []

    # --- lifecycle ---

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("KubeEmulator can be started only once")
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise RuntimeError(f"the Kubernetes emulator did not start within {_START_TIMEOUT}s")
        if self._failure is not None:
            self._thread.join(_STOP_TIMEOUT)
            raise RuntimeError("the Kubernetes emulator failed to start") from self._failure
        return self

    def stop(self) -> None:
        """Idempotent: close the clients, stop the server and the loop, join the thread."""
        for api in self._clients:
            api.close()
        self._clients.clear()
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None:
            # The loop may have finished between the check and the call: then there is nothing to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"the Kubernetes emulator thread did not stop within {_STOP_TIMEOUT}s")
        if self._failure is not None:
            raise RuntimeError("the Kubernetes emulator failed while serving") from self._failure

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._url is not None

    # --- what tests use ---

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>, without a trailing slash."""
        if self._url is None:
            raise RuntimeError("the Kubernetes emulator is not started")
        return self._url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(METHOD, path) of every HTTP request received so far, in order; the path has no query."""
        if self._emulator is None:
            return []
        with self._emulator.seen_lock:
            return list(self._emulator.seen)

    @property
    def write_requests(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path in self.requests if method in WRITE_METHODS]

    @property
    def resources(self) -> tuple[ServedResource, ...]:
        return self._resources

    def resource(self, key: str) -> ServedResource:
        """A served resource by its key, e.g. "v1/pods" or "networking.k8s.io/v1/ingresses"."""
        for served in self._resources:
            if served.key == key:
                return served
        raise KeyError(key)

    def api_client(self) -> client.ApiClient:
        """A new official-client ApiClient for this emulator: no auth, no TLS, no proxy.

        The emulator closes it on stop() (closing it earlier is fine too).
        """
        configuration = client.Configuration(host=self.url)
        configuration.proxy = None  # never a proxy from HTTP(S)_PROXY: the emulator is on loopback
        api = client.ApiClient(configuration)
        self._clients.append(api)
        return api

    # --- the background thread ---

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._failure = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        emulator = _Emulator(strict=False)
        for served in self._resources:
            emulator.resources[kmock.resource(served.group, served.version, served.plural)] = kmock.ResourceInfo(
                kind=served.kind,
                namespaced=served.namespaced,
                singular=served.kind.lower(),
                verbs={"get", "list", "watch"},
                shortnames=set(served.shortnames),
                subresources=set(served.subresources),
            )
        for (served, namespace, name), obj in self._seed.items():
            emulator.objects[kmock.resource(served.group, served.version, served.plural), namespace, name] = obj

        # aiohttp's RawTestServer is what kmock.Server runs too; kmock.Server would also patch
        # aiohttp's resolver process-wide (which must then be undone in LIFO order) and open an
        # aiohttp client session, neither of which the sync client needs.
        server = aiohttp.test_utils.RawTestServer(emulator, host="127.0.0.1", port=0)
        async with emulator:
            await server.start_server()
            try:
                self._loop = asyncio.get_running_loop()
                self._stop_event = asyncio.Event()
                self._emulator = emulator
                self._url = str(server.make_url("")).rstrip("/")
                self._ready.set()
                await self._stop_event.wait()
            finally:
                self._url = None
                await server.close()


def _select_resources(omit: Iterable[str], extra: Iterable[ServedResource]) -> tuple[ServedResource, ...]:
    omitted = set(omit)

    def names(served: ServedResource) -> set[str]:
        return {served.key, served.api_version} | ({served.group} if served.group else set())

    unknown = {entry for entry in omitted if not any(entry in names(served) for served in DEFAULT_RESOURCES)}
    if unknown:
        raise ValueError(f"omit names nothing that is served by default: {sorted(unknown)}")
    selected = [served for served in DEFAULT_RESOURCES if not names(served) & omitted]
    for served in extra:
        if any(other.key == served.key for other in selected):
            raise ValueError(f"resource served twice: {served.key}")
        selected.append(served)
    return tuple(selected)


def _place(
    obj: Mapping[str, Any], by_kind: Mapping[tuple[str, str], ServedResource]
) -> tuple[ServedResource, str | None, str, dict[str, Any]]:
    """Which resource, namespace and name an object is stored under, and the stored copy."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping) or not metadata.get("name"):
        raise ValueError(f"object without metadata.name: {kind} {api_version}")
    served = by_kind.get((str(api_version), str(kind)))
    if served is None:
        raise ValueError(
            f"{kind} {api_version} is not served by the emulator: add a ServedResource through extra= "
            "(or do not omit it)"
        )
    stored = copy.deepcopy(dict(obj))
    stored_metadata: dict[str, Any] = stored["metadata"]
    if served.namespaced:
        namespace: str | None = str(stored_metadata.setdefault("namespace", "default"))
    else:
        stored_metadata.pop("namespace", None)
        namespace = None
    return served, namespace, str(stored_metadata["name"]), stored


def objects_from_yaml(*paths: str | Path) -> list[dict[str, Any]]:
    """Every object in the given YAML files and directories (recursively: *.yaml and *.yml, sorted).

    Multi-document files are split, empty documents skipped and `kind: List` flattened. Inside a
    directory, files named cutover.yaml (cutover's own configuration) are skipped.
    """
    objects: list[dict[str, Any]] = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(
                file
                for file in path.rglob("*")
                if file.is_file() and file.suffix in (".yaml", ".yml") and file.name != "cutover.yaml"
            )
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(path)
        for file in files:
            with file.open(encoding="utf-8") as stream:
                for document in yaml.safe_load_all(stream):
                    objects.extend(_flatten(document, file))
    return objects


def _flatten(document: Any, file: Path) -> list[dict[str, Any]]:
    if document is None:
        return []
    if not isinstance(document, dict):
        raise ValueError(f"{file}: a YAML document is not a mapping")
    if document.get("kind") == "List":
        return [obj for item in document.get("items") or [] for obj in _flatten(item, file)]
    return [document]
