"""Every ingress-nginx annotation (controller v1.15), and what becomes of it on the Gateway.

`mapped`: a Gateway API field carries it (named). `runtime`: no field, or behaviour that
must be proven by traffic: the parity check named. `unsupported`: no equivalent on Cilium's
Gateway API, with the reason. Anything with the prefix that is not listed here is
`unknown`: not an ingress-nginx annotation at all, a typo nginx silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from cutover.annotations import capture_groups, is_restated_default

__all__ = ["CATALOG", "AnnotationInfo", "classify"]

PREFIX = "nginx.ingress.kubernetes.io/"


@dataclass(frozen=True)
class AnnotationInfo:
    key: str
    category: str  # mapped | runtime | unsupported | unknown | other
    detail: str
    check: str = ""


_MAPPED = {
    "ssl-redirect": "an HTTPRoute with RequestRedirect (scheme: https) bound to the HTTP listener only",
    "force-ssl-redirect": "an HTTPRoute with RequestRedirect (scheme: https) bound to the HTTP listener only",
    "rewrite-target": "HTTPRoute filters[].urlRewrite.path",
    "app-root": "HTTPRoute RequestRedirect with path ReplaceFullPath on an Exact / match",
    "permanent-redirect": "HTTPRoute RequestRedirect (statusCode 301)",
    "permanent-redirect-code": "HTTPRoute RequestRedirect statusCode",
    "temporal-redirect": "HTTPRoute RequestRedirect (statusCode 302)",
    "temporal-redirect-code": "HTTPRoute RequestRedirect statusCode",
    "upstream-vhost": "HTTPRoute filters[].urlRewrite.hostname",
    "use-regex": "HTTPRoute matches[].path.type RegularExpression (anchored, case-sensitive)",
    "backend-protocol": "HTTPS: BackendTLSPolicy (Cilium >= 1.20) or a plain backend (option B); "
    "GRPC / GRPCS: a GRPCRoute, the Service port's appProtocol kubernetes.io/h2c (GRPC)",
    "proxy-ssl-verify": "BackendTLSPolicy validation.caCertificateRefs",
    "proxy-ssl-secret": "BackendTLSPolicy validation.caCertificateRefs",
    "proxy-ssl-name": "BackendTLSPolicy validation.hostname",
    "proxy-ssl-server-name": "BackendTLSPolicy validation.hostname (SNI)",
    "canary": "HTTPRoute backendRefs[].weight",
    "canary-weight": "HTTPRoute backendRefs[].weight",
    "canary-weight-total": "HTTPRoute backendRefs[].weight",
    "canary-by-header": "HTTPRoute matches[].headers",
    "canary-by-header-value": "HTTPRoute matches[].headers",
    "canary-by-header-pattern": "HTTPRoute matches[].headers (RegularExpression)",
    "canary-by-cookie": "HTTPRoute matches[].headers on Cookie (RegularExpression)",
    "x-forwarded-prefix": "HTTPRoute RequestHeaderModifier",
    "mirror-target": "HTTPRoute RequestMirror filter",
    "mirror-host": "HTTPRoute RequestMirror filter",
    "mirror-request-body": "HTTPRoute RequestMirror filter",
    "custom-headers": "HTTPRoute ResponseHeaderModifier",
    # An idle limit on nginx; timeouts.request / backendRequest are a total duration (Envoy's route
    # timeout) that cuts long streams: see the README ("Timeouts: idle is not total") and checks/sse.py.
    "proxy-read-timeout": "HTTPRoute rules[].timeouts.request / backendRequest only above the longest "
    "response (a total duration; nginx's is an idle limit): leave them unset on streaming routes",
    "proxy-send-timeout": "HTTPRoute rules[].timeouts.request / backendRequest only above the longest "
    "response (a total duration; nginx's is an idle limit): leave them unset on streaming routes",
    "enable-cors": "HTTPRoute CORS filter (Gateway API experimental channel)",
    "cors-allow-origin": "HTTPRoute CORS filter (experimental)",
    "cors-allow-methods": "HTTPRoute CORS filter (experimental)",
    "cors-allow-headers": "HTTPRoute CORS filter (experimental)",
    "cors-expose-headers": "HTTPRoute CORS filter (experimental)",
    "cors-allow-credentials": "HTTPRoute CORS filter (experimental)",
    "cors-max-age": "HTTPRoute CORS filter (experimental)",
    "from-to-www-redirect": "an extra hostname with a RequestRedirect rule",
    "server-alias": "HTTPRoute spec.hostnames",
}
_RUNTIME = {
    "proxy-buffering": ("Envoy streams; prove SSE with the sse check", "sse"),
    "proxy-request-buffering": ("Envoy streams request bodies; no field", "paths"),
    "proxy-connect-timeout": ("Envoy's connect timeout is 5 s, as nginx's default; no field", "timeouts"),
    "proxy-next-upstream": ("Envoy retries differ; no Gateway API field in v1.2", "paths"),
    "proxy-next-upstream-tries": ("no Gateway API field in v1.2 (HTTPRoute retry is experimental)", "paths"),
    "proxy-next-upstream-timeout": ("no Gateway API field in v1.2", "timeouts"),
    "whitelist-source-range": ("a policy on the ingress identity; prove it with the source_ip check", "source_ip"),
    "allowlist-source-range": ("a policy on the ingress identity; prove it with the source_ip check", "source_ip"),
    "denylist-source-range": ("a policy on the ingress identity; prove it with the source_ip check", "source_ip"),
    "proxy-http-version": ("Envoy speaks the downstream protocol upstream", "headers"),
    "preserve-trailing-slash": ("path handling differs; prove with the paths check", "paths"),
    "connection-proxy-header": ("Envoy manages Connection itself", "headers"),
}
_UNSUPPORTED = {
    "configuration-snippet": "raw nginx configuration has no equivalent (and was disabled as a security risk)",
    "server-snippet": "raw nginx configuration has no equivalent",
    "stream-snippet": "raw nginx configuration has no equivalent",
    "auth-snippet": "raw nginx configuration has no equivalent",
    "modsecurity-snippet": "no WAF in Cilium's Envoy",
    "auth-url": "external auth is not in Gateway API v1.2 (Cilium has no ext_authz for Gateway API)",
    "auth-signin": "external auth is not in Gateway API v1.2",
    "auth-signin-redirect-param": "external auth is not in Gateway API v1.2",
    "auth-response-headers": "external auth is not in Gateway API v1.2",
    "auth-request-redirect": "external auth is not in Gateway API v1.2",
    "auth-method": "external auth is not in Gateway API v1.2",
    "auth-cache-key": "external auth is not in Gateway API v1.2",
    "auth-cache-duration": "external auth is not in Gateway API v1.2",
    "auth-keepalive": "external auth is not in Gateway API v1.2",
    "auth-keepalive-share-vars": "external auth is not in Gateway API v1.2",
    "auth-keepalive-requests": "external auth is not in Gateway API v1.2",
    "auth-keepalive-timeout": "external auth is not in Gateway API v1.2",
    "auth-proxy-set-headers": "external auth is not in Gateway API v1.2",
    "enable-global-auth": "external auth is not in Gateway API v1.2",
    "auth-type": "basic/digest auth has no Gateway API field",
    "auth-secret": "basic/digest auth has no Gateway API field",
    "auth-secret-type": "basic/digest auth has no Gateway API field",
    "auth-realm": "basic/digest auth has no Gateway API field",
    "auth-tls-secret": "client certificate auth is a Gateway-wide frontend TLS setting, not per route",
    "auth-tls-verify-client": "client certificate auth is a Gateway-wide frontend TLS setting",
    "auth-tls-verify-depth": "client certificate auth is a Gateway-wide frontend TLS setting",
    "auth-tls-error-page": "client certificate auth is a Gateway-wide frontend TLS setting",
    "auth-tls-pass-certificate-to-upstream": "no Gateway API field",
    "auth-tls-match-cn": "no Gateway API field",
    "limit-rps": "rate limiting is not in Gateway API; Cilium has no per-route rate limit",
    "limit-rpm": "rate limiting is not in Gateway API",
    "limit-connections": "connection limits are not in Gateway API",
    "limit-burst-multiplier": "rate limiting is not in Gateway API",
    "limit-rate": "bandwidth limits are not in Gateway API",
    "limit-rate-after": "bandwidth limits are not in Gateway API",
    "limit-whitelist": "rate limiting is not in Gateway API",
    "limit-allowlist": "rate limiting is not in Gateway API",
    "global-rate-limit": "rate limiting is not in Gateway API",
    "global-rate-limit-window": "rate limiting is not in Gateway API",
    "global-rate-limit-key": "rate limiting is not in Gateway API",
    "global-rate-limit-ignored-cidrs": "rate limiting is not in Gateway API",
    "affinity": "session persistence is experimental in Gateway API and not in Cilium",
    "affinity-mode": "session persistence is not in Cilium's Gateway API",
    "affinity-canary-behavior": "session persistence is not in Cilium's Gateway API",
    "session-cookie-name": "session persistence is not in Cilium's Gateway API",
    "session-cookie-path": "session persistence is not in Cilium's Gateway API",
    "session-cookie-domain": "session persistence is not in Cilium's Gateway API",
    "session-cookie-samesite": "session persistence is not in Cilium's Gateway API",
    "session-cookie-conditional-samesite-none": "session persistence is not in Cilium's Gateway API",
    "session-cookie-expires": "session persistence is not in Cilium's Gateway API",
    "session-cookie-max-age": "session persistence is not in Cilium's Gateway API",
    "session-cookie-change-on-failure": "session persistence is not in Cilium's Gateway API",
    "session-cookie-secure": "session persistence is not in Cilium's Gateway API",
    "upstream-hash-by": "consistent hashing has no Gateway API field",
    "load-balance": "load-balancing algorithm has no Gateway API field",
    "ssl-passthrough": "needs a TLSRoute on a TLS listener, a different design",
    "proxy-body-size": "no request body limit in Gateway API; Envoy's default buffer limits differ",
    "client-body-buffer-size": "no Gateway API field",
    "proxy-buffers-number": "no Gateway API field",
    "proxy-buffer-size": "no Gateway API field",
    "proxy-max-temp-file-size": "no Gateway API field",
    "custom-http-errors": "no Gateway API field",
    "default-backend": "no per-Ingress default backend in Gateway API",
    "enable-modsecurity": "no WAF in Cilium's Envoy",
    "enable-owasp-core-rules": "no WAF in Cilium's Envoy",
    "modsecurity-transaction-id": "no WAF in Cilium's Envoy",
    "satisfy": "no Gateway API field",
    "service-upstream": "Cilium always balances over endpoints",
    "proxy-cookie-domain": "no Gateway API field",
    "proxy-cookie-path": "no Gateway API field",
    "proxy-redirect-from": "no Gateway API field",
    "proxy-redirect-to": "no Gateway API field",
    "proxy-ssl-ciphers": "BackendTLSPolicy has no cipher setting",
    "proxy-ssl-protocols": "BackendTLSPolicy has no protocol setting",
    "proxy-ssl-verify-depth": "BackendTLSPolicy has no depth setting",
    "ssl-ciphers": "listener TLS options are implementation-specific",
    "ssl-prefer-server-ciphers": "listener TLS options are implementation-specific",
    "enable-access-log": "access logging is Cilium/Hubble configuration, not per route",
    "enable-rewrite-log": "no Gateway API field",
    "enable-opentelemetry": "tracing is Cilium configuration, not per route",
    "opentelemetry-trust-incoming-span": "tracing is Cilium configuration",
    "http2-push-preload": "HTTP/2 push is gone from browsers and Envoy",
    "auth-always-set-cookie": "external auth is not in Gateway API v1.2",
    "proxy-busy-buffers-size": "no Gateway API field",
    "upstream-hash-by-subset": "consistent hashing has no Gateway API field",
    "upstream-hash-by-subset-size": "consistent hashing has no Gateway API field",
    "disable-proxy-intercept-errors": "custom error pages have no Gateway API field",
    "fastcgi-index": "FastCGI backends have no Gateway API equivalent",
    "fastcgi-params-configmap": "FastCGI backends have no Gateway API equivalent",
    "opentelemetry-operation-name": "tracing is Cilium configuration",
    "use-port-in-redirects": "RequestRedirect sets the port explicitly; no per-route switch",
}

CATALOG: dict[str, AnnotationInfo] = {}
for _key, _detail in _MAPPED.items():
    CATALOG[_key] = AnnotationInfo(PREFIX + _key, "mapped", _detail)
for _key, (_detail, _check) in _RUNTIME.items():
    CATALOG[_key] = AnnotationInfo(PREFIX + _key, "runtime", _detail, _check)
for _key, _detail in _UNSUPPORTED.items():
    CATALOG[_key] = AnnotationInfo(PREFIX + _key, "unsupported", _detail)
# Mapped annotations whose behaviour still needs traffic to prove it.
_RUNTIME_TOO = {
    "proxy-read-timeout": "timeouts",
    "proxy-send-timeout": "timeouts",
    "ssl-redirect": "redirects",
    "force-ssl-redirect": "redirects",
    "backend-protocol": "backend_tls",
    "use-regex": "paths",
    "rewrite-target": "paths",
}
for _key, _check in _RUNTIME_TOO.items():
    CATALOG[_key] = AnnotationInfo(CATALOG[_key].key, "mapped", CATALOG[_key].detail, _check)


def classify(key: str, value: str | None = None) -> AnnotationInfo:
    """What the annotation becomes; with its value, a restated controller default is `default`
    (it changes nothing), and a capture-group rewrite is `unsupported`."""
    if not key.startswith(PREFIX):
        return AnnotationInfo(key, "other", "not an ingress-nginx annotation (left as it is)")
    short = key.removeprefix(PREFIX)
    known = CATALOG.get(short)
    if known is None:
        return AnnotationInfo(key, "unknown", "not an ingress-nginx annotation: a typo nginx silently ignored")
    if value is not None and is_restated_default(short, value):
        return AnnotationInfo(key, "default", f"restates the controller's default ({value}): nothing to carry over")
    if value is not None and short == "rewrite-target" and capture_groups(value):
        return AnnotationInfo(
            key,
            "unsupported",
            "a capture-group rewrite: HTTPRoute URLRewrite (ReplaceFullPath / ReplacePrefixMatch) has no capture "
            "groups; rewrite the route by hand and prove it with the paths check",
            "paths",
        )
    if value is not None and short == "backend-protocol" and value.strip().upper() in ("GRPC", "GRPCS"):
        return AnnotationInfo(
            key,
            "mapped",
            "a GRPCRoute (not an HTTPRoute); GRPC: the Service port's appProtocol kubernetes.io/h2c",
        )
    return known
