"""One translation of a migrated Ingress into a targets-file service entry.

The lab (`Lab.targets`) and `cutover inventory --draft-targets` both start from these entries:
name, host, wave, complexity, backends, the rules to probe, the checks its annotations call
for, the scheme clients use and nginx's idle limit. Each then adds what only it knows (the lab
its Gateway limits and vantage points, the draft placeholders to fill in).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cutover import annotations as ann
from cutover.manifests import Ingress, ManifestSet
from cutover.probe_rules import PathIndex, path_rules

__all__ = ["ServiceEntries", "migrated_ingresses", "service_entry"]


def migrated_ingresses(manifests: ManifestSet) -> list[Ingress]:
    """The Ingresses that become a service: those with rules (a default backend alone has no host)."""
    return [ingress for ingress in manifests.ingresses if ingress.paths]


class ServiceEntries:
    """The service entries of one manifests set. What every entry reads of the whole set (name
    clashes, host-shared waves, the HTTPRoutes and listeners) is gathered once here: per
    Ingress it made the translation of an estate quadratic."""

    def __init__(self, manifests: ManifestSet) -> None:
        self.manifests = manifests
        self._name_counts = Counter(ingress.name for ingress in manifests.ingresses)
        self._waves = ann.group_waves(manifests.ingresses)
        self._paths = PathIndex.of(manifests)

    def entry(self, ingress: Ingress) -> dict[str, Any]:
        """The service entry of one Ingress, as both the lab and the draft write it."""
        # The service's host is the Ingress's first, as path_rules places the rules.
        host = ingress.hosts[0]
        # A name used in two namespaces becomes namespace/name: a targets file lists each once.
        clash = self._name_counts[ingress.name] > 1
        return {
            "name": f"{ingress.namespace}/{ingress.name}" if clash else ingress.name,
            "namespace": ingress.namespace,
            "ingress": f"{ingress.namespace}/{ingress.name}",
            "host": host,
            "wave": self._waves[id(ingress)],
            "complexity": ann.complexity(ingress),
            "backends": sorted({f"{ingress.namespace}/{p.backend.service}" for p in ingress.paths}),
            # Every host and rule of the Ingress, and the HTTPRoute matches for its hosts and Services.
            "paths": path_rules(self.manifests, ingress, self._paths),
            "checks": ann.checks_for(ingress),
            "scheme": "https" if host in ingress.tls_hosts() else "http",
            "timeouts": {"read_timeout": ann.read_timeout(ingress)},
        }


def service_entry(manifests: ManifestSet, ingress: Ingress) -> dict[str, Any]:
    """The service entry of one Ingress (for many, build one ServiceEntries and ask it)."""
    return ServiceEntries(manifests).entry(ingress)
