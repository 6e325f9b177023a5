"""Gateway profiles: how one Cilium release translates Gateway API objects, as data.

The lab's Envoy renderer asks the profile instead of hard-coding a version. Facts come
from ../shared/ref/cilium-gateway.md (Cilium's translator and release notes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cutover.errors import InputError

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "GatewayProfile",
    "get_profile",
    "profile_for_bundle",
    "with_stream_idle_timeout",
]


@dataclass(frozen=True)
class GatewayProfile:
    name: str
    cilium_version: str
    gateway_api_bundle: str
    description: str
    # Early 1.15 let Envoy's 15 s route default apply to routes without timeouts
    # (fixed by cilium/cilium#31514); later releases disable it with max_stream_duration 0s.
    route_default_timeout: float | None
    backend_tls_policy_versions: tuple[str, ...]
    # cilium/cilium#48307: wellKnownCACertificates System rendered as plaintext on 1.20.1.
    well_known_ca_plaintext_bug: bool
    redirect_codes: tuple[int, ...]
    # cilium/cilium#45567 (1.20): a RequestRedirect that sets a scheme only fires when
    # X-Forwarded-Proto differs from that scheme; on an HTTPS listener a `scheme: https`
    # redirect therefore never fires and the request answers 404 (cilium/cilium#48373).
    redirect_scheme_guard: bool = False
    # cilium/cilium#29099: a RequestRedirect without port took the Gateway's FIRST listener's port,
    # whatever listener served the request; fixed by cilium/cilium#31361 (2024-03, after 1.15.0).
    redirect_port_from_first_listener: bool = False
    # cilium/cilium#44889 (merged 2026-03, in 1.20; backported to 1.19 by #46826): HTTPS listeners
    # that serve one hostname on several ports get their own Envoy listener and route configuration.
    https_port_isolation: bool = False
    stream_idle_timeout: float = 300.0
    cluster_idle_timeout: float = 60.0

    @property
    def supports_backend_tls_policy(self) -> bool:
        return bool(self.backend_tls_policy_versions)


_BASIC_REDIRECTS = (301, 302)
_ALL_REDIRECTS = (301, 302, 303, 307, 308)

PROFILES: dict[str, GatewayProfile] = {
    profile.name: profile
    for profile in (
        GatewayProfile(
            name="cilium-1.15.0",
            cilium_version="1.15.0",
            gateway_api_bundle="v1.0.0",
            description="Envoy's 15 s route default applies to routes without timeouts; no BackendTLSPolicy",
            route_default_timeout=15.0,
            backend_tls_policy_versions=(),
            well_known_ca_plaintext_bug=False,
            redirect_codes=_BASIC_REDIRECTS,
            redirect_port_from_first_listener=True,
        ),
        GatewayProfile(
            name="cilium-1.16",
            cilium_version="1.16",
            gateway_api_bundle="v1.1.0",
            description="no route default timeout; no BackendTLSPolicy (plaintext to the backend)",
            route_default_timeout=None,
            backend_tls_policy_versions=(),
            well_known_ca_plaintext_bug=False,
            redirect_codes=_BASIC_REDIRECTS,
        ),
        GatewayProfile(
            name="cilium-1.17",
            cilium_version="1.17",
            gateway_api_bundle="v1.2.0",
            description="Gateway API v1.2; no BackendTLSPolicy (plaintext to the backend)",
            route_default_timeout=None,
            backend_tls_policy_versions=(),
            well_known_ca_plaintext_bug=False,
            redirect_codes=_BASIC_REDIRECTS,
        ),
        GatewayProfile(
            name="cilium-1.18",
            cilium_version="1.18",
            gateway_api_bundle="v1.3.0",
            description="Gateway API v1.3; no BackendTLSPolicy (plaintext to the backend)",
            route_default_timeout=None,
            backend_tls_policy_versions=(),
            well_known_ca_plaintext_bug=False,
            redirect_codes=_BASIC_REDIRECTS,
        ),
        GatewayProfile(
            name="cilium-1.20",
            cilium_version="1.20.0",
            gateway_api_bundle="v1.6.1",
            description="BackendTLSPolicy v1 (upstream TLS with SNI and CA validation); 303/307/308 redirects",
            route_default_timeout=None,
            backend_tls_policy_versions=("gateway.networking.k8s.io/v1",),
            well_known_ca_plaintext_bug=False,
            redirect_codes=_ALL_REDIRECTS,
            redirect_scheme_guard=True,
            https_port_isolation=True,
        ),
        GatewayProfile(
            name="cilium-1.20.1",
            cilium_version="1.20.1",
            gateway_api_bundle="v1.6.1",
            description="as cilium-1.20, with cilium#48307: wellKnownCACertificates System talks plaintext",
            route_default_timeout=None,
            backend_tls_policy_versions=("gateway.networking.k8s.io/v1",),
            well_known_ca_plaintext_bug=True,
            redirect_codes=_ALL_REDIRECTS,
            redirect_scheme_guard=True,
            https_port_isolation=True,
        ),
    )
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
    return replace(profile, stream_idle_timeout=seconds)
