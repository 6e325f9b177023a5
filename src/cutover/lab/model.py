"""What the renderers need besides the manifests: where each Service's backend listens,
which files hold which certificate, and the addresses the two proxies speak from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BackendAddress", "CertFiles", "LabLayout", "Note"]


@dataclass(frozen=True)
class BackendAddress:
    """One Service port, as the lab serves it: a loopback port, plain or TLS."""

    namespace: str
    service: str
    port: int
    address: str
    lab_port: int
    tls: bool


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Note:
    """Something the lab wants the user to know: an unmodelled annotation, an ignored object."""

    side: str
    obj: str
    message: str
    # Set when the note is a behaviour the lab does not model: what would verify it instead.
    # Such a note becomes a "not verified" result for the services it concerns.
    verify: str = ""

    def __str__(self) -> str:
        return f"[{self.side}] {self.obj}: {self.message}"


@dataclass
class LabLayout:
    """Addresses and files shared by both renderers."""

    state_dir: Path
    listen_address: str
    nginx_http_port: int
    nginx_https_port: int
    gateway_http_port: int
    gateway_https_port: int
    gateway_admin_port: int
    # The address each proxy opens backend connections from, standing for the
    # ingress-nginx controller pod and for the node's Cilium ingress IP.
    nginx_source_address: str
    gateway_source_address: str
    backends: dict[tuple[str, str, int], BackendAddress] = field(default_factory=dict)
    # (namespace, secret name) -> files, minted by the lab CA where the manifests lack them.
    certificates: dict[tuple[str, str], CertFiles] = field(default_factory=dict)
    default_certificate: CertFiles | None = None
    ca_bundle: Path | None = None
    # Filled per CA ConfigMap: (namespace, name) -> PEM file the Gateway validates with.
    ca_files: dict[tuple[str, str], Path] = field(default_factory=dict)
    # A port where nothing listens: a backend behind a policy that drops the proxy.
    blackhole_port: int = 9
    # (gateway namespace, gateway name, listener port) -> (address, lab port). Listeners not
    # listed fall back to listen_address and gateway_http_port / gateway_https_port.
    gateway_listeners: dict[tuple[str, str, int], tuple[str, int]] = field(default_factory=dict)

    def backend(self, namespace: str, service: str, port: int) -> BackendAddress | None:
        return self.backends.get((namespace, service, port))
