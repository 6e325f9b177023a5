"""What each Cilium release does with Gateway API objects, as data: one row per release.

The lab's gateway profiles (cutover.lab.profiles) are views over these rows and the cluster
checks (cutover.cluster) ask `facts_for_version` instead of comparing versions themselves, so
a fact is written here once. Sources: ../shared/ref/cilium-gateway.md (read from cilium/cilium:
operator/pkg/model/translation, its release notes and the issues cited on each field).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cutover.errors import InputError
from cutover.facts.kube import GATEWAY_GROUP

__all__ = [
    "BACKEND_TLS_POLICY_V1",
    "ENVOY_ROUTE_DEFAULT_TIMEOUT",
    "RELEASES",
    "CiliumRelease",
    "facts_for_version",
    "first_release",
    "parse_version",
]

# Envoy's own route timeout when a route sets none (route_components.proto RouteAction.timeout).
ENVOY_ROUTE_DEFAULT_TIMEOUT = 15.0
BACKEND_TLS_POLICY_V1 = f"{GATEWAY_GROUP}/v1"

_BASIC_REDIRECTS = (301, 302)
# 303, 307 and 308 arrived in Gateway API v1.5.0.
_ALL_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class CiliumRelease:
    """The facts of one release; a row applies from `version` up to the next row's version."""

    version: str
    gateway_api_bundle: str
    description: str
    # The lab profile named after this release (None: facts only, no profile of its own).
    lab_profile: str | None
    # Early 1.15 let Envoy's 15 s route default apply to routes without timeouts (fixed by
    # cilium/cilium#31514, 2024-03, after 1.15.0); later releases disable it with max_stream_duration 0s.
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
    # cilium/cilium#44889 (merged 2026-03, in 1.20; backported to 1.19 by #46826, patch release not
    # confirmed, so the 1.19 row keeps the merged behaviour): HTTPS listeners that serve one hostname
    # on several ports get their own Envoy listener and route configuration.
    https_port_isolation: bool = False
    # CRD bundle minor versions this release cannot run with (cilium#44920, #45139: 1.19 crashes
    # with v1.5, whose TLSRoute v1alpha2 is no longer served).
    incompatible_bundles: tuple[str, ...] = ()
    # Operator flags --proxy-stream-idle-timeout-seconds and --proxy-idle-timeout-seconds.
    stream_idle_timeout: float = 300.0
    cluster_idle_timeout: float = 60.0

    @property
    def supports_backend_tls_policy(self) -> bool:
        return bool(self.backend_tls_policy_versions)

    @property
    def minor(self) -> str:
        """`1.20` for 1.20.0: how the checks name a release line."""
        return ".".join(self.version.split(".")[:2])

    def crashes_with(self, bundle: str) -> bool:
        """Whether a Gateway API CRD bundle (v1.5.1) is one this release cannot run with."""
        return any(bundle.lstrip("v").startswith(b.lstrip("v") + ".") for b in self.incompatible_bundles)

    def implications(self) -> list[str]:
        """What this release means for the migration, one sentence each (the phase1 evidence)."""
        lines = []
        if not self.supports_backend_tls_policy:
            since = first_release(lambda r: r.supports_backend_tls_policy)
            lines.append(f"BackendTLSPolicy needs Cilium >= {since.minor}: the Gateway talks plaintext to TLS backends")
        if self.route_default_timeout is not None:
            lines.append(
                f"Cilium {self.version} applies Envoy's {self.route_default_timeout:g} s default "
                "to routes without timeouts"
            )
        if self.well_known_ca_plaintext_bug:
            lines.append(
                f"Cilium {self.version}: BackendTLSPolicy wellKnownCACertificates System talks plaintext (cilium#48307)"
            )
        missing = [code for code in _ALL_REDIRECTS if code not in self.redirect_codes]
        if missing:
            lines.append(
                f"Gateway API {self.gateway_api_bundle} accepts no RequestRedirect statusCode "
                f"{'/'.join(map(str, missing))} (ingress-nginx redirects with 308)"
            )
        if self.redirect_scheme_guard:
            lines.append("a `scheme: https` redirect on an HTTPS listener answers 404 (cilium#45567, #48373)")
        if self.redirect_port_from_first_listener:
            lines.append("a redirect without port takes the Gateway's first listener's port (cilium#29099)")
        for bundle in self.incompatible_bundles:
            lines.append(f"Cilium {self.minor} crashes with the {bundle} Gateway API CRD bundle")
        return lines


RELEASES: tuple[CiliumRelease, ...] = (
    CiliumRelease(
        version="1.15.0",
        gateway_api_bundle="v1.0.0",
        description="Envoy's 15 s route default applies to routes without timeouts; no BackendTLSPolicy",
        lab_profile="cilium-1.15.0",
        route_default_timeout=ENVOY_ROUTE_DEFAULT_TIMEOUT,
        backend_tls_policy_versions=(),
        well_known_ca_plaintext_bug=False,
        redirect_codes=_BASIC_REDIRECTS,
        redirect_port_from_first_listener=True,
    ),
    CiliumRelease(
        version="1.16.0",
        gateway_api_bundle="v1.1.0",
        description="no route default timeout; no BackendTLSPolicy (plaintext to the backend)",
        lab_profile="cilium-1.16",
        route_default_timeout=None,
        backend_tls_policy_versions=(),
        well_known_ca_plaintext_bug=False,
        redirect_codes=_BASIC_REDIRECTS,
    ),
    CiliumRelease(
        version="1.17.0",
        gateway_api_bundle="v1.2.0",
        description="Gateway API v1.2; no BackendTLSPolicy (plaintext to the backend)",
        lab_profile="cilium-1.17",
        route_default_timeout=None,
        backend_tls_policy_versions=(),
        well_known_ca_plaintext_bug=False,
        redirect_codes=_BASIC_REDIRECTS,
    ),
    CiliumRelease(
        version="1.18.0",
        gateway_api_bundle="v1.3.0",
        description="Gateway API v1.3; no BackendTLSPolicy (plaintext to the backend)",
        lab_profile="cilium-1.18",
        route_default_timeout=None,
        backend_tls_policy_versions=(),
        well_known_ca_plaintext_bug=False,
        redirect_codes=_BASIC_REDIRECTS,
    ),
    CiliumRelease(
        version="1.19.0",
        gateway_api_bundle="v1.4.1",
        description="Gateway API v1.4; no BackendTLSPolicy; crashes with the v1.5 CRD bundle",
        lab_profile=None,
        route_default_timeout=None,
        backend_tls_policy_versions=(),
        well_known_ca_plaintext_bug=False,
        redirect_codes=_BASIC_REDIRECTS,
        incompatible_bundles=("v1.5",),
    ),
    CiliumRelease(
        version="1.20.0",
        gateway_api_bundle="v1.6.1",
        description="BackendTLSPolicy v1 (upstream TLS with SNI and CA validation); 303/307/308 redirects",
        lab_profile="cilium-1.20",
        route_default_timeout=None,
        backend_tls_policy_versions=(BACKEND_TLS_POLICY_V1,),
        well_known_ca_plaintext_bug=False,
        redirect_codes=_ALL_REDIRECTS,
        redirect_scheme_guard=True,
        https_port_isolation=True,
    ),
    CiliumRelease(
        version="1.20.1",
        gateway_api_bundle="v1.6.1",
        description="as cilium-1.20, with cilium#48307: wellKnownCACertificates System talks plaintext",
        lab_profile="cilium-1.20.1",
        route_default_timeout=None,
        backend_tls_policy_versions=(BACKEND_TLS_POLICY_V1,),
        well_known_ca_plaintext_bug=True,
        redirect_codes=_ALL_REDIRECTS,
        redirect_scheme_guard=True,
        https_port_isolation=True,
    ),
)

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$")


def parse_version(version: str) -> tuple[int, int, int]:
    """`v1.17.4`, `1.17.4-rc.1`, `1.17` -> (1, 17, 4) / (1, 17, 0); anything else is an InputError."""
    match = _VERSION.match(version.strip())
    if not match:
        raise InputError(
            f"{version!r} is not a Cilium version",
            field="cilium version",
            hint="give MAJOR.MINOR[.PATCH], e.g. 1.17.4 (--cilium-version)",
        )
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def facts_for_version(version: str) -> CiliumRelease:
    """The row whose facts apply to a Cilium version: the newest row at or below it.

    A patch release gets its line's row (1.17.4 -> 1.17.0; 1.15.3 -> 1.15.0, since the patch
    that carried the 1.15 fixes is not confirmed, the checks keep warning). A version newer than
    every row gets the newest row: its known bugs are assumed to persist until the table says
    they are fixed, so the checks warn rather than fall silent. A version older than every row
    gets the oldest row: the fixes came later, so an older release has at least its problems.
    """
    wanted = parse_version(version)
    applicable = [release for release in RELEASES if parse_version(release.version) <= wanted]
    return applicable[-1] if applicable else RELEASES[0]


def first_release(predicate: Callable[[CiliumRelease], bool]) -> CiliumRelease:
    """The oldest row with a property (e.g. the first release that reconciles BackendTLSPolicy)."""
    for release in RELEASES:
        if predicate(release):
            return release
    raise LookupError("no Cilium release in the table has that property")
