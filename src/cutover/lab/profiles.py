"""Gateway profiles: the lab's names for Cilium releases, views over cutover.facts.cilium.

The lab's Envoy renderer asks the profile instead of hard-coding a version; every fact a
profile answers comes from the release row it wraps (one definition, shared with the cluster
checks). A profile adds only what the lab may change: its name and the stream idle timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cutover.errors import InputError
from cutover.facts.cilium import RELEASES, CiliumRelease, facts_for_version

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "GatewayProfile",
    "get_profile",
    "profile_for_bundle",
    "profile_for_version",
    "with_stream_idle_timeout",
]


@dataclass(frozen=True)
class GatewayProfile:
    name: str
    release: CiliumRelease
    # Cilium's --proxy-stream-idle-timeout-seconds: the one fact a lab overlay may change.
    stream_idle_override: float | None = None

    @property
    def stream_idle_timeout(self) -> float:
        if self.stream_idle_override is not None:
            return self.stream_idle_override
        return self.release.stream_idle_timeout

    @property
    def cilium_version(self) -> str:
        return self.release.version

    @property
    def gateway_api_bundle(self) -> str:
        return self.release.gateway_api_bundle

    @property
    def description(self) -> str:
        return self.release.description

    @property
    def route_default_timeout(self) -> float | None:
        return self.release.route_default_timeout

    @property
    def backend_tls_policy_versions(self) -> tuple[str, ...]:
        return self.release.backend_tls_policy_versions

    @property
    def supports_backend_tls_policy(self) -> bool:
        return self.release.supports_backend_tls_policy

    @property
    def well_known_ca_plaintext_bug(self) -> bool:
        return self.release.well_known_ca_plaintext_bug

    @property
    def redirect_codes(self) -> tuple[int, ...]:
        return self.release.redirect_codes

    @property
    def redirect_scheme_guard(self) -> bool:
        return self.release.redirect_scheme_guard

    @property
    def redirect_port_from_first_listener(self) -> bool:
        return self.release.redirect_port_from_first_listener

    @property
    def https_port_isolation(self) -> bool:
        return self.release.https_port_isolation

    @property
    def cluster_idle_timeout(self) -> float:
        return self.release.cluster_idle_timeout


PROFILES: dict[str, GatewayProfile] = {
    release.lab_profile: GatewayProfile(release.lab_profile, release)
    for release in RELEASES
    if release.lab_profile is not None
}

# The plan pins the Gateway API CRDs at v1.2.1; Cilium 1.17 is the release built on v1.2.
DEFAULT_PROFILE = "cilium-1.17"


def get_profile(name: str) -> GatewayProfile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise InputError(
            f"unknown gateway profile {name!r}", field="--profile", hint=f"choose one of: {known}"
        ) from None


def profile_for_version(version: str) -> GatewayProfile:
    """The profile of the release whose facts apply to a Cilium version (facts_for_version); a
    release the lab names no profile after gets an unnamed view, `cilium-<version>`."""
    release = facts_for_version(version)
    if release.lab_profile is not None:
        return PROFILES[release.lab_profile]
    return GatewayProfile(f"cilium-{release.version}", release)


def profile_for_bundle(bundle_version: str) -> str:
    """The profile whose Gateway API bundle has the same minor version, else the default."""
    wanted = ".".join(bundle_version.lstrip("v").split(".")[:2])
    for profile in PROFILES.values():
        if ".".join(profile.gateway_api_bundle.lstrip("v").split(".")[:2]) == wanted:
            return profile.name
    return DEFAULT_PROFILE


def with_stream_idle_timeout(profile: GatewayProfile, seconds: float) -> GatewayProfile:
    """The profile with another stream idle timeout (Cilium: --proxy-stream-idle-timeout-seconds)."""
    if seconds <= 0:
        raise InputError(f"must be a number of seconds > 0, got {seconds:g}", field="lab.stream_idle_timeout")
    return replace(profile, stream_idle_override=seconds)
