"""The lab's certificate authority: certificates for listeners, Ingress TLS and HTTPS backends.

Secrets the manifests reference but do not contain are minted here, as cert-manager
would in a cluster. A Secret that carries real PEM data is used as it is.
"""

from __future__ import annotations

import base64
from pathlib import Path

import trustme

from cutover.lab.model import CertFiles

__all__ = ["LabPKI"]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


class LabPKI:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA(organization_name="cutover lab", organization_unit_name="embedded lab CA")
        self.ca_bundle = directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_bundle))

    def issue(self, label: str, hostnames: list[str]) -> CertFiles:
        names = sorted({h for h in hostnames if h}) or ["cutover.lab"]
        cert = self.ca.issue_cert(*names)
        cert_path = self.directory / f"{_safe(label)}.crt"
        key_path = self.directory / f"{_safe(label)}.key"
        cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        cert.private_key_pem.write_to_path(str(key_path))
        key_path.chmod(0o600)
        return CertFiles(cert_path, key_path)

    def from_secret(self, label: str, data: dict[str, str]) -> CertFiles | None:
        """Files from a Secret's base64 tls.crt / tls.key, or None when it holds no PEM."""
        try:
            cert = base64.b64decode(data.get("tls.crt", ""), validate=True)
            key = base64.b64decode(data.get("tls.key", ""), validate=True)
        except ValueError:
            return None
        if b"BEGIN CERTIFICATE" not in cert or b"PRIVATE KEY" not in key:
            return None
        cert_path = self.directory / f"{_safe(label)}.crt"
        key_path = self.directory / f"{_safe(label)}.key"
        cert_path.write_bytes(cert)
        key_path.write_bytes(key)
        key_path.chmod(0o600)
        return CertFiles(cert_path, key_path)

    def ca_file(self, label: str, pem: str | None) -> Path:
        """The CA a ConfigMap stands for: its own PEM when it has one, else the lab CA."""
        path = self.directory / f"ca-{_safe(label)}.pem"
        if pem and "BEGIN CERTIFICATE" in pem:
            path.write_text(pem)
        else:
            path.write_bytes(self.ca.cert_pem.bytes())
        return path
