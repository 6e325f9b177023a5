"""Every ingress-nginx annotation (controller v1.15) and what it means for the move: one row each.

This table is the only place an annotation name is defined. The catalog (`cluster.catalog.classify`),
complexity and waves (`cutover.annotations`), the check selection (`checks_for`), the parity checks'
`protects`, the lab's nginx renderer (what it models) and the inventory read it.

Columns:
- `level`: the plan's rule for complexity (and so the wave): backend TLS, auth and snippets are
  HIGH; anything needing runtime validation or a policy (timeouts, buffering, allowlists,
  rewrites) MEDIUM; the rest LOW. (auth-snippet and modsecurity-snippet are LOW: they act only
  beside auth-url / enable-modsecurity.)
- `category`: `mapped` (a Gateway API field carries it: `gateway` names it), `runtime` (no field,
  or behaviour only traffic proves: `check` names the check), `unsupported` (no equivalent on
  Cilium's Gateway API: `gateway` says why).
- `check`: the check kind phase 0 names for it. `verified_by`: the check kinds whose probes
  exercise it; an annotation none of a service's selected kinds verifies is `not verified`
  against real endpoints. The two differ where phase 0 names a check whose probes were never
  declared to exercise the annotation (e.g. proxy-connect-timeout -> timeouts).
- `modelled`: the lab's nginx renderer renders it (tests/test_annotation_table.py renders each
  one and sees the nginx config change, and every other one leave it alone).
- `defaults`: values that restate the controller's own default (internal/ingress/controller/
  config/config.go and the annotation parsers' fallbacks): such a value changes nothing.
- `canary`: `rule` for the canary-* annotations (the rules) a canary Ingress is read for; `kept` for the
  ones the controller does not report as ignored on a canary Ingress (canary docs: the main
  Ingress's other annotations apply).
- `critical`: the parser declares AnnotationRiskCritical (internal/ingress/annotations/*/main.go):
  above annotations-risk-level the controller rejects the whole Ingress.
- `example`: a value that changes what nginx does (for modelled rows; the renderer self-test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from cutover.facts.cilium import first_release
from cutover.facts.kube import NGINX_PREFIX

# The release line that first reconciles BackendTLSPolicy, for the mapping's wording.
_BACKEND_TLS_SINCE = first_release(lambda release: release.supports_backend_tls_policy).minor

__all__ = [
    "ANNOTATIONS",
    "BY_NAME",
    "AnnotationFact",
    "Category",
    "Level",
    "fact",
    "lookup",
    "verified_by",
]

Level = Literal["HIGH", "MEDIUM", "LOW"]
Category = Literal["mapped", "runtime", "unsupported"]


@dataclass(frozen=True)
class AnnotationFact:
    name: str  # without the prefix: "proxy-read-timeout"
    level: Level
    category: Category
    gateway: str  # what carries it on the Gateway, or why nothing does
    check: str = ""
    verified_by: tuple[str, ...] = ()
    modelled: bool = False
    defaults: tuple[str, ...] = ()
    canary: Literal["", "rule", "kept"] = ""
    critical: bool = False
    example: str = ""

    @property
    def key(self) -> str:
        """The full annotation key: nginx.ingress.kubernetes.io/<name>."""
        return NGINX_PREFIX + self.name

    def restates_default(self, value: str) -> bool:
        return value.strip().lower() in self.defaults


ANNOTATIONS: tuple[AnnotationFact, ...] = (
    # -- mapped: a Gateway API field carries it
    AnnotationFact(
        "ssl-redirect",
        "LOW",
        "mapped",
        "an HTTPRoute with RequestRedirect (scheme: https) bound to the HTTP listener only",
        check="redirects",
        verified_by=("redirects",),
        modelled=True,
        example="false",
        defaults=("true",),
    ),
    AnnotationFact(
        "force-ssl-redirect",
        "LOW",
        "mapped",
        "an HTTPRoute with RequestRedirect (scheme: https) bound to the HTTP listener only",
        check="redirects",
        verified_by=("redirects",),
        modelled=True,
        example="true",
        defaults=("false",),
    ),
    AnnotationFact(
        "rewrite-target",
        "MEDIUM",
        "mapped",
        "HTTPRoute filters[].urlRewrite.path",
        check="paths",
        verified_by=("paths",),
        modelled=True,
        example="/new",
    ),
    AnnotationFact(
        "app-root", "MEDIUM", "mapped", "HTTPRoute RequestRedirect with path ReplaceFullPath on an Exact / match"
    ),
    AnnotationFact("permanent-redirect", "LOW", "mapped", "HTTPRoute RequestRedirect (statusCode 301)"),
    AnnotationFact("permanent-redirect-code", "LOW", "mapped", "HTTPRoute RequestRedirect statusCode"),
    AnnotationFact("temporal-redirect", "LOW", "mapped", "HTTPRoute RequestRedirect (statusCode 302)"),
    AnnotationFact("temporal-redirect-code", "LOW", "mapped", "HTTPRoute RequestRedirect statusCode"),
    AnnotationFact("upstream-vhost", "MEDIUM", "mapped", "HTTPRoute filters[].urlRewrite.hostname"),
    AnnotationFact(
        "use-regex",
        "MEDIUM",
        "mapped",
        "HTTPRoute matches[].path.type RegularExpression (anchored, case-sensitive)",
        check="paths",
        verified_by=("paths",),
        modelled=True,
        example="true",
        defaults=("false",),
    ),
    AnnotationFact(
        "backend-protocol",
        "HIGH",
        "mapped",
        f"HTTPS: BackendTLSPolicy (Cilium >= {_BACKEND_TLS_SINCE}) or a plain backend (option B); GRPC / GRPCS: a GRPCRoute, the Service port's appProtocol kubernetes.io/h2c (GRPC)",
        check="backend_tls",
        verified_by=("backend_tls",),
        modelled=True,
        example="HTTPS",
        defaults=("http",),
    ),
    AnnotationFact("proxy-ssl-verify", "LOW", "mapped", "BackendTLSPolicy validation.caCertificateRefs"),
    AnnotationFact("proxy-ssl-secret", "LOW", "mapped", "BackendTLSPolicy validation.caCertificateRefs"),
    AnnotationFact("proxy-ssl-name", "LOW", "mapped", "BackendTLSPolicy validation.hostname"),
    AnnotationFact("proxy-ssl-server-name", "LOW", "mapped", "BackendTLSPolicy validation.hostname (SNI)"),
    AnnotationFact(
        "canary",
        "HIGH",
        "mapped",
        "HTTPRoute backendRefs[].weight",
        modelled=True,
        example="true",
        defaults=("false",),
        canary="rule",
    ),
    AnnotationFact(
        "canary-weight", "LOW", "mapped", "HTTPRoute backendRefs[].weight", modelled=True, example="10", canary="rule"
    ),
    AnnotationFact(
        "canary-weight-total",
        "LOW",
        "mapped",
        "HTTPRoute backendRefs[].weight",
        modelled=True,
        example="1000",
        canary="rule",
    ),
    AnnotationFact(
        "canary-by-header",
        "LOW",
        "mapped",
        "HTTPRoute matches[].headers",
        modelled=True,
        example="X-Canary",
        canary="rule",
    ),
    AnnotationFact(
        "canary-by-header-value",
        "LOW",
        "mapped",
        "HTTPRoute matches[].headers",
        modelled=True,
        example="yes",
        canary="rule",
    ),
    AnnotationFact(
        "canary-by-header-pattern",
        "LOW",
        "mapped",
        "HTTPRoute matches[].headers (RegularExpression)",
        modelled=True,
        example="^y",
        canary="rule",
    ),
    AnnotationFact(
        "canary-by-cookie",
        "LOW",
        "mapped",
        "HTTPRoute matches[].headers on Cookie (RegularExpression)",
        modelled=True,
        example="beta",
        canary="rule",
    ),
    AnnotationFact("x-forwarded-prefix", "LOW", "mapped", "HTTPRoute RequestHeaderModifier"),
    AnnotationFact("mirror-target", "LOW", "mapped", "HTTPRoute RequestMirror filter"),
    AnnotationFact("mirror-host", "LOW", "mapped", "HTTPRoute RequestMirror filter"),
    AnnotationFact("mirror-request-body", "LOW", "mapped", "HTTPRoute RequestMirror filter"),
    AnnotationFact("custom-headers", "LOW", "mapped", "HTTPRoute ResponseHeaderModifier"),
    # An idle limit on nginx; timeouts.request / backendRequest are a total duration (Envoy's route
    # timeout) that cuts long streams: see the README ("Timeouts: idle is not total") and checks/sse.py.
    AnnotationFact(
        "proxy-read-timeout",
        "MEDIUM",
        "mapped",
        "HTTPRoute rules[].timeouts.request / backendRequest only above the longest response (a total duration; nginx's is an idle limit): leave them unset on streaming routes",
        check="timeouts",
        verified_by=("timeouts", "sse", "load"),
        modelled=True,
        example="120",
    ),
    AnnotationFact(
        "proxy-send-timeout",
        "MEDIUM",
        "mapped",
        "HTTPRoute rules[].timeouts.request / backendRequest only above the longest response (a total duration; nginx's is an idle limit): leave them unset on streaming routes",
        check="timeouts",
        verified_by=("timeouts",),
        modelled=True,
        example="120",
        defaults=("60",),
    ),
    AnnotationFact(
        "enable-cors",
        "MEDIUM",
        "mapped",
        "HTTPRoute CORS filter (Gateway API experimental channel)",
        defaults=("false",),
    ),
    AnnotationFact("cors-allow-origin", "LOW", "mapped", "HTTPRoute CORS filter (experimental)"),
    AnnotationFact("cors-allow-methods", "LOW", "mapped", "HTTPRoute CORS filter (experimental)"),
    AnnotationFact("cors-allow-headers", "LOW", "mapped", "HTTPRoute CORS filter (experimental)"),
    AnnotationFact("cors-expose-headers", "LOW", "mapped", "HTTPRoute CORS filter (experimental)"),
    AnnotationFact("cors-allow-credentials", "LOW", "mapped", "HTTPRoute CORS filter (experimental)"),
    AnnotationFact("cors-max-age", "LOW", "mapped", "HTTPRoute CORS filter (experimental)"),
    AnnotationFact("from-to-www-redirect", "LOW", "mapped", "an extra hostname with a RequestRedirect rule"),
    AnnotationFact("server-alias", "LOW", "mapped", "HTTPRoute spec.hostnames"),
    # -- runtime: no field; traffic proves it
    AnnotationFact(
        "proxy-buffering",
        "MEDIUM",
        "runtime",
        "Envoy streams; prove SSE with the sse check",
        check="sse",
        verified_by=("sse", "load"),
        modelled=True,
        example="on",
    ),
    AnnotationFact(
        "proxy-request-buffering",
        "LOW",
        "runtime",
        "Envoy streams request bodies; no field",
        check="paths",
        defaults=("on",),
    ),
    AnnotationFact(
        "proxy-connect-timeout",
        "MEDIUM",
        "runtime",
        "Envoy's connect timeout is 5 s, as nginx's default; no field",
        check="timeouts",
        modelled=True,
        example="7",
        defaults=("5",),
    ),
    AnnotationFact(
        "proxy-next-upstream", "LOW", "runtime", "Envoy retries differ; no Gateway API field in v1.2", check="paths"
    ),
    AnnotationFact(
        "proxy-next-upstream-tries",
        "LOW",
        "runtime",
        "no Gateway API field in v1.2 (HTTPRoute retry is experimental)",
        check="paths",
        defaults=("3",),
    ),
    AnnotationFact("proxy-next-upstream-timeout", "LOW", "runtime", "no Gateway API field in v1.2", check="timeouts"),
    AnnotationFact(
        "whitelist-source-range",
        "MEDIUM",
        "runtime",
        "a policy on the ingress identity; prove it with the source_ip check",
        check="source_ip",
        verified_by=("source_ip",),
        modelled=True,
        example="10.0.0.0/8",
    ),
    AnnotationFact(
        "allowlist-source-range",
        "MEDIUM",
        "runtime",
        "a policy on the ingress identity; prove it with the source_ip check",
        check="source_ip",
        verified_by=("source_ip",),
        modelled=True,
        example="10.0.0.0/8",
    ),
    AnnotationFact(
        "denylist-source-range",
        "MEDIUM",
        "runtime",
        "a policy on the ingress identity; prove it with the source_ip check",
        check="source_ip",
    ),
    AnnotationFact(
        "proxy-http-version",
        "LOW",
        "runtime",
        "Envoy speaks the downstream protocol upstream",
        check="headers",
        defaults=("1.1",),
    ),
    AnnotationFact(
        "preserve-trailing-slash",
        "LOW",
        "runtime",
        "path handling differs; prove with the paths check",
        check="paths",
        modelled=True,
        example="true",
        defaults=("false",),
    ),
    AnnotationFact("connection-proxy-header", "LOW", "runtime", "Envoy manages Connection itself", check="headers"),
    # -- unsupported: no equivalent on Cilium's Gateway API
    AnnotationFact(
        "configuration-snippet",
        "HIGH",
        "unsupported",
        "raw nginx configuration has no equivalent (and was disabled as a security risk)",
        critical=True,
    ),
    AnnotationFact("server-snippet", "HIGH", "unsupported", "raw nginx configuration has no equivalent", critical=True),
    AnnotationFact("stream-snippet", "HIGH", "unsupported", "raw nginx configuration has no equivalent", critical=True),
    AnnotationFact("auth-snippet", "LOW", "unsupported", "raw nginx configuration has no equivalent", critical=True),
    AnnotationFact("modsecurity-snippet", "LOW", "unsupported", "no WAF in Cilium's Envoy", critical=True),
    AnnotationFact(
        "auth-url",
        "HIGH",
        "unsupported",
        "external auth is not in Gateway API v1.2 (Cilium has no ext_authz for Gateway API)",
    ),
    AnnotationFact("auth-signin", "HIGH", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-signin-redirect-param", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-response-headers", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-request-redirect", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-method", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-cache-key", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-cache-duration", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-keepalive", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-keepalive-share-vars", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-keepalive-requests", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-keepalive-timeout", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-proxy-set-headers", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("enable-global-auth", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("auth-type", "HIGH", "unsupported", "basic/digest auth has no Gateway API field"),
    AnnotationFact("auth-secret", "LOW", "unsupported", "basic/digest auth has no Gateway API field"),
    AnnotationFact("auth-secret-type", "LOW", "unsupported", "basic/digest auth has no Gateway API field"),
    AnnotationFact("auth-realm", "LOW", "unsupported", "basic/digest auth has no Gateway API field"),
    AnnotationFact(
        "auth-tls-secret",
        "HIGH",
        "unsupported",
        "client certificate auth is a Gateway-wide frontend TLS setting, not per route",
    ),
    AnnotationFact(
        "auth-tls-verify-client", "LOW", "unsupported", "client certificate auth is a Gateway-wide frontend TLS setting"
    ),
    AnnotationFact(
        "auth-tls-verify-depth", "LOW", "unsupported", "client certificate auth is a Gateway-wide frontend TLS setting"
    ),
    AnnotationFact(
        "auth-tls-error-page", "LOW", "unsupported", "client certificate auth is a Gateway-wide frontend TLS setting"
    ),
    AnnotationFact("auth-tls-pass-certificate-to-upstream", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("auth-tls-match-cn", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact(
        "limit-rps", "MEDIUM", "unsupported", "rate limiting is not in Gateway API; Cilium has no per-route rate limit"
    ),
    AnnotationFact("limit-rpm", "LOW", "unsupported", "rate limiting is not in Gateway API"),
    AnnotationFact("limit-connections", "MEDIUM", "unsupported", "connection limits are not in Gateway API"),
    AnnotationFact("limit-burst-multiplier", "LOW", "unsupported", "rate limiting is not in Gateway API"),
    AnnotationFact("limit-rate", "LOW", "unsupported", "bandwidth limits are not in Gateway API"),
    AnnotationFact("limit-rate-after", "LOW", "unsupported", "bandwidth limits are not in Gateway API"),
    AnnotationFact("limit-whitelist", "LOW", "unsupported", "rate limiting is not in Gateway API"),
    AnnotationFact("limit-allowlist", "LOW", "unsupported", "rate limiting is not in Gateway API"),
    AnnotationFact("global-rate-limit", "LOW", "unsupported", "rate limiting is not in Gateway API"),
    AnnotationFact("global-rate-limit-window", "LOW", "unsupported", "rate limiting is not in Gateway API"),
    AnnotationFact("global-rate-limit-key", "LOW", "unsupported", "rate limiting is not in Gateway API"),
    AnnotationFact("global-rate-limit-ignored-cidrs", "LOW", "unsupported", "rate limiting is not in Gateway API"),
    AnnotationFact(
        "affinity",
        "LOW",
        "unsupported",
        "session persistence is experimental in Gateway API and not in Cilium",
        canary="kept",
    ),
    AnnotationFact(
        "affinity-mode", "LOW", "unsupported", "session persistence is not in Cilium's Gateway API", canary="kept"
    ),
    AnnotationFact(
        "affinity-canary-behavior",
        "LOW",
        "unsupported",
        "session persistence is not in Cilium's Gateway API",
        canary="kept",
    ),
    AnnotationFact("session-cookie-name", "LOW", "unsupported", "session persistence is not in Cilium's Gateway API"),
    AnnotationFact("session-cookie-path", "LOW", "unsupported", "session persistence is not in Cilium's Gateway API"),
    AnnotationFact("session-cookie-domain", "LOW", "unsupported", "session persistence is not in Cilium's Gateway API"),
    AnnotationFact(
        "session-cookie-samesite", "LOW", "unsupported", "session persistence is not in Cilium's Gateway API"
    ),
    AnnotationFact(
        "session-cookie-conditional-samesite-none",
        "LOW",
        "unsupported",
        "session persistence is not in Cilium's Gateway API",
    ),
    AnnotationFact(
        "session-cookie-expires", "LOW", "unsupported", "session persistence is not in Cilium's Gateway API"
    ),
    AnnotationFact(
        "session-cookie-max-age", "LOW", "unsupported", "session persistence is not in Cilium's Gateway API"
    ),
    AnnotationFact(
        "session-cookie-change-on-failure", "LOW", "unsupported", "session persistence is not in Cilium's Gateway API"
    ),
    AnnotationFact("session-cookie-secure", "LOW", "unsupported", "session persistence is not in Cilium's Gateway API"),
    AnnotationFact(
        "upstream-hash-by", "LOW", "unsupported", "consistent hashing has no Gateway API field", canary="kept"
    ),
    AnnotationFact(
        "load-balance",
        "LOW",
        "unsupported",
        "load-balancing algorithm has no Gateway API field",
        defaults=("round_robin",),
        canary="kept",
    ),
    AnnotationFact(
        "ssl-passthrough",
        "HIGH",
        "unsupported",
        "needs a TLSRoute on a TLS listener, a different design",
        defaults=("false",),
    ),
    AnnotationFact(
        "proxy-body-size",
        "MEDIUM",
        "unsupported",
        "no request body limit in Gateway API; Envoy's default buffer limits differ",
        modelled=True,
        example="8m",
        defaults=("1m",),
    ),
    AnnotationFact("client-body-buffer-size", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("proxy-buffers-number", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("proxy-buffer-size", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("proxy-max-temp-file-size", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("custom-http-errors", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("default-backend", "LOW", "unsupported", "no per-Ingress default backend in Gateway API"),
    AnnotationFact("enable-modsecurity", "LOW", "unsupported", "no WAF in Cilium's Envoy"),
    AnnotationFact("enable-owasp-core-rules", "LOW", "unsupported", "no WAF in Cilium's Envoy"),
    AnnotationFact("modsecurity-transaction-id", "LOW", "unsupported", "no WAF in Cilium's Envoy"),
    AnnotationFact("satisfy", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact(
        "service-upstream", "LOW", "unsupported", "Cilium always balances over endpoints", defaults=("false",)
    ),
    AnnotationFact("proxy-cookie-domain", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("proxy-cookie-path", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("proxy-redirect-from", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("proxy-redirect-to", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("proxy-ssl-ciphers", "LOW", "unsupported", "BackendTLSPolicy has no cipher setting"),
    AnnotationFact("proxy-ssl-protocols", "LOW", "unsupported", "BackendTLSPolicy has no protocol setting"),
    AnnotationFact("proxy-ssl-verify-depth", "LOW", "unsupported", "BackendTLSPolicy has no depth setting"),
    AnnotationFact("ssl-ciphers", "LOW", "unsupported", "listener TLS options are implementation-specific"),
    AnnotationFact(
        "ssl-prefer-server-ciphers", "LOW", "unsupported", "listener TLS options are implementation-specific"
    ),
    AnnotationFact(
        "enable-access-log",
        "LOW",
        "unsupported",
        "access logging is Cilium/Hubble configuration, not per route",
        defaults=("true",),
    ),
    AnnotationFact("enable-rewrite-log", "LOW", "unsupported", "no Gateway API field", defaults=("false",)),
    AnnotationFact(
        "enable-opentelemetry",
        "LOW",
        "unsupported",
        "tracing is Cilium configuration, not per route",
        defaults=("false",),
    ),
    AnnotationFact("opentelemetry-trust-incoming-span", "LOW", "unsupported", "tracing is Cilium configuration"),
    AnnotationFact(
        "http2-push-preload", "LOW", "unsupported", "HTTP/2 push is gone from browsers and Envoy", defaults=("false",)
    ),
    AnnotationFact("auth-always-set-cookie", "LOW", "unsupported", "external auth is not in Gateway API v1.2"),
    AnnotationFact("proxy-busy-buffers-size", "LOW", "unsupported", "no Gateway API field"),
    AnnotationFact("upstream-hash-by-subset", "LOW", "unsupported", "consistent hashing has no Gateway API field"),
    AnnotationFact("upstream-hash-by-subset-size", "LOW", "unsupported", "consistent hashing has no Gateway API field"),
    AnnotationFact(
        "disable-proxy-intercept-errors", "LOW", "unsupported", "custom error pages have no Gateway API field"
    ),
    AnnotationFact("fastcgi-index", "LOW", "unsupported", "FastCGI backends have no Gateway API equivalent"),
    AnnotationFact("fastcgi-params-configmap", "LOW", "unsupported", "FastCGI backends have no Gateway API equivalent"),
    AnnotationFact("opentelemetry-operation-name", "LOW", "unsupported", "tracing is Cilium configuration"),
    AnnotationFact(
        "use-port-in-redirects", "LOW", "unsupported", "RequestRedirect sets the port explicitly; no per-route switch"
    ),
)

BY_NAME: Mapping[str, AnnotationFact] = MappingProxyType({row.name: row for row in ANNOTATIONS})


def lookup(name: str) -> AnnotationFact | None:
    """The row for a short name, or None: not an ingress-nginx annotation (a typo nginx ignores)."""
    return BY_NAME.get(name)


def fact(name: str) -> AnnotationFact:
    """The row for a name the code relies on; a name missing from the table is a bug, raised at import."""
    row = BY_NAME.get(name)
    if row is None:
        raise KeyError(f"{name!r} is not in the annotation table (cutover.facts.annotations)")
    return row


def verified_by(kind: str) -> tuple[str, ...]:
    """The annotations a check kind's probes exercise: its CheckInfo.protects."""
    return tuple(row.name for row in ANNOTATIONS if kind in row.verified_by)
