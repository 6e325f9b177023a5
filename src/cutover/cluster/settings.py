"""Which cluster a run reads and how its cluster checks are configured, from the run's options.

The plugin hands over its command-line and ini values (`ClusterOptions.from_config`); this module
chooses the source (the API server, a manifests directory, or none), reads it, and builds the
ClusterSettings the checks take. Errors are CutoverErrors; the plugin turns them into usage errors.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cutover.checks.base import Case, not_configured
from cutover.cluster.common import INFOS, ClusterSettings
from cutover.cluster.source import ClusterSource, ManifestSource, connect
from cutover.cluster.state import ClusterState, read_state
from cutover.lab.lab import load_overlay
from cutover.lab.profiles import DEFAULT_PROFILE, get_profile
from cutover.locations import default_manifests
from cutover.targets import ServiceTarget, Targets

if TYPE_CHECKING:
    import pytest

__all__ = ["ClusterOptions", "SourceKind", "cluster_settings", "no_cluster_cases", "read_cluster"]

SourceKind = Literal["api", "manifests"]


@dataclass(frozen=True)
class ClusterOptions:
    """The options that decide the cluster source and settings, as the run was given them."""

    kubeconfig: str | None = None
    context: str | None = None
    # pytest-kubernetes' --k8s-kubeconfig: a cluster that plugin manages.
    shared_kubeconfig: str | None = None
    in_cluster: bool = False
    manifests: str | None = None  # --manifests, else the cutover_manifests ini value
    targets_option: str | None = None  # --targets as given on the command line
    targets_ini: str | None = None
    gateway_api_version: str = "v1.2.1"
    cilium_version: str | None = None
    profile: str | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> ClusterOptions:
        option = config.getoption
        return cls(
            kubeconfig=option("--kubeconfig"),
            context=option("--context"),
            shared_kubeconfig=option("k8s_kubeconfig", None),
            in_cluster=bool(os.environ.get("KUBERNETES_SERVICE_HOST")),
            manifests=option("--manifests") or _ini(config, "cutover_manifests"),
            targets_option=option("--targets"),
            targets_ini=_ini(config, "cutover_targets"),
            gateway_api_version=str(option("--gateway-api-version")),
            cilium_version=option("--cilium-version"),
            profile=option("--profile"),
        )

    @property
    def source_kind(self) -> SourceKind | None:
        """ "api" (kubeconfig, context, pytest-kubernetes or in-cluster), "manifests" (--manifests,
        or the lab's own manifests when no targets are given), or None: with targets alone there is
        no cluster source, and bundled fixtures are never read in its place."""
        if self.kubeconfig or self.context or self.shared_kubeconfig or self.in_cluster:
            return "api"
        if self.manifests:
            return "manifests"
        if not (self.targets_option or self.targets_ini):
            return "manifests"  # the lab's manifests: the scope of this run
        return None

    @property
    def manifests_dir(self) -> Path:
        return Path(self.manifests) if self.manifests else default_manifests()


def _ini(config: pytest.Config, name: str) -> str | None:
    value: Any = config.getini(name)
    return str(value) if value else None


def read_cluster(options: ClusterOptions) -> ClusterState:
    """Read the cluster the options name (the caller checks there is one: source_kind)."""
    kubeconfig = options.kubeconfig
    copy_dir: Path | None = None
    if kubeconfig is None and options.shared_kubeconfig:
        # pytest-kubernetes' cluster: read from a throwaway copy, since its teardown can
        # delete the kubeconfig file it was handed; the copy (credentials) goes once read.
        copy_dir = Path(tempfile.mkdtemp(prefix="cutover-kubeconfig-"))
        shutil.copyfile(options.shared_kubeconfig, copy_dir / "config")
        kubeconfig = str(copy_dir / "config")
    try:
        source: ClusterSource
        if options.source_kind == "api":
            source = connect(kubeconfig, options.context)
        else:
            source = ManifestSource(options.manifests_dir)
        return read_state(source)
    finally:
        if copy_dir is not None:
            shutil.rmtree(copy_dir, ignore_errors=True)


def cluster_settings(options: ClusterOptions, cluster: ClusterState, targets: Callable[[], Targets]) -> ClusterSettings:
    """The cluster checks' settings. Offline, the lab profile (--profile, else the overlay's) stands
    for the Cilium the manifests will meet; the hosts and option B services come from the targets
    (--targets, or offline the lab's), else from the overlay. `targets` is called only when needed."""
    settings = ClusterSettings(bundle_version=options.gateway_api_version, cilium_version=options.cilium_version)
    overlay: dict[str, Any] = {}
    if not cluster.live:
        overlay = load_overlay(options.manifests_dir)
        if settings.cilium_version is None:
            lab = overlay.get("lab") or {}
            name = options.profile or lab.get("profile") or DEFAULT_PROFILE
            settings.cilium_version = get_profile(str(name)).cilium_version
    if options.targets_option or not cluster.live:
        settings.target_hosts = {s.host for s in targets().services}
    if options.targets_option:
        settings.option_b = {s.name for s in targets().services if s.backend_tls.get("mode") == "B"}
    else:
        for name, service in (overlay.get("services") or {}).items():
            if ((service or {}).get("backend_tls") or {}).get("mode") == "B":
                settings.option_b.add(str(name))
    return settings


def no_cluster_cases(kind: str, services: Callable[[], list[ServiceTarget]]) -> list[Case]:
    """Without a cluster source the cluster checks are "not run", one per target service
    (so `-m wave2` selects them) - never run against the bundled demo manifests."""
    info = INFOS[kind]
    reason = "no cluster source (pass --kubeconfig or --manifests)"
    if kind in ("phase1", "phase3"):
        # Cluster-wide checks: one result, in no wave.
        return [not_configured(info, ServiceTarget(name="cluster", host="", wave=0), reason)]
    return [not_configured(info, service, reason) for service in services()]
