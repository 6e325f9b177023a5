"""One translation of a migrated Ingress into a targets-file service entry.

The lab (`Lab.targets`) and `cutover inventory --draft-targets` both start from these entries:
name, host, wave, complexity, backends, the rules to probe, the checks its annotations call
for, the scheme clients use and nginx's idle limit. Each then adds what only it knows (the lab
its Gateway limits and vantage points, the draft placeholders to fill in).
"""

from __future__ import annotations

from typing import Any

from cutover import annotations as ann
from cutover.manifests import Ingress, ManifestSet
from cutover.probe_rules import path_rules

__all__ = ["migrated_ingresses", "service_entry", "service_name"]


def migrated_ingresses(manifests: ManifestSet) -> list[Ingress]:
    """The Ingresses that become a service: those with rules (a default backend alone has no host)."""
    return [ingress for ingress in manifests.ingresses if ingress.paths]


def service_name(ingress: Ingress, ingresses: list[Ingress]) -> str:
    """The Ingress's name, or namespace/name when another namespace uses the same name (a
    targets file lists each service name once)."""
    names = [other.name for other in ingresses]
    return ingress.name if names.count(ingress.name) == 1 else f"{ingress.namespace}/{ingress.name}"


def service_entry(manifests: ManifestSet, ingress: Ingress) -> dict[str, Any]:
    """The service entry of one Ingress, as both the lab and the draft write it."""
    # The service's host is the Ingress's first, as path_rules places the rules.
    host = ingress.hosts[0]
    return {
        "name": service_name(ingress, manifests.ingresses),
        "namespace": ingress.namespace,
        "ingress": f"{ingress.namespace}/{ingress.name}",
        "host": host,
        "wave": ann.proposed_wave(ingress, manifests.ingresses),
        "complexity": ann.complexity(ingress),
        "backends": sorted({f"{ingress.namespace}/{p.backend.service}" for p in ingress.paths}),
        # Every host and rule of the Ingress, and the HTTPRoute matches for its hosts and Services.
        "paths": path_rules(manifests, ingress),
        "checks": ann.checks_for(ingress),
        "scheme": "https" if host in ingress.tls_hosts() else "http",
        "timeouts": {"read_timeout": ann.read_timeout(ingress)},
    }
