"""A remedy per finding: the Gateway API (or Cilium policy) change that reproduces what nginx did.

Facts behind each remedy (../shared/ref/cilium-gateway.md, ingress-nginx.md):
- a Gateway does not redirect by itself: a RequestRedirect route bound with `sectionName` to
  the HTTP listener only (bound to both it loops); 308 exists from Gateway API v1.5;
- ingress-nginx adds HSTS on HTTPS (hsts: true); a static header is a header modifier;
- a route timeout is a total duration, nginx's proxy-read-timeout an idle limit: without
  `timeouts.request`/`backendRequest` only the 300 s stream idle timeout remains;
- a client allowlist is enforced by Cilium only in a policy on the reserved `ingress`
  identity (a backend's policy sees that identity, never the client);
- BackendTLSPolicy needs a Cilium release that reconciles it (facts/cilium.py) and a CA reference
  the backend was signed by.
Where nothing in Gateway API can do what nginx did (X-Real-IP, slash merging, regex capture
groups, snippets), the remedy is a reviewed expected difference with the fields to fill.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cutover import annotations as ann
from cutover.facts.cilium import CiliumRelease, first_release
from cutover.facts.kube import CILIUM_GROUP, GATEWAY_GROUP
from cutover.fix.workspace import Workspace, dump
from cutover.lab.policy import selects_ingress_identity
from cutover.lab.profiles import DEFAULT_PROFILE, PROFILES, GatewayProfile, get_profile
from cutover.manifests import HTTPRoute, Ingress, ManifestSet, load_manifests
from cutover.report.verdict import FIELD_FINDINGS, kind_finding

__all__ = [
    "FIXABLE",
    "NEEDS_PROFILE",
    "NOT_FIXABLE",
    "Finding",
    "FixPlan",
    "Remedy",
    "findings_of",
    "plan_fix",
]

FIXABLE = "fixable"
NOT_FIXABLE = "not fixable"
NEEDS_PROFILE = "needs another Cilium profile"

REDIRECT_ROUTE = "cutover-https-redirect"
ALLOWLIST_POLICY = "cutover-gateway-client-allowlist"
# Request headers whose value nginx computes per request: no header modifier can reproduce them.
_DYNAMIC_REQUEST_HEADERS = {
    "x-real-ip": "nginx sets it to the client address; Gateway API has no per-request header value",
    "x-forwarded-for": "nginx replaces it with the client address; Envoy appends to it",
    "x-original-forwarded-for": "nginx copies the incoming X-Forwarded-For; no Gateway API construct does",
    "x-request-id": "nginx generates one per request",
    "host": "the upstream Host follows the route; a fixed hostname rewrite would hide the client's Host",
}
_NOT_FIXABLE_KINDS = {
    "load": "behaviour under load depends on capacity and limits, not on one manifest field",
    "unmodelled": "the lab does not model this behaviour: verify it in staging and record a waiver",
    "phase0": (
        "an unsupported annotation (configuration-snippet, server-snippet, auth-url, limit-rps, ...) or a misspelled "
        "one has no Gateway API field: decide what replaces it, or record a reviewed waiver"
    ),
    "phase1": "the cluster's installation (CRDs, versions, status) is not in the manifests",
    "phase3": "the decommission is done in the cluster",
    "soak": "the soak judges traffic over a window",
}


def _backend_tls_release() -> CiliumRelease:
    """The first Cilium release that reconciles BackendTLSPolicy."""
    return first_release(lambda r: r.supports_backend_tls_policy)


@dataclass
class Finding:
    """One thing a failed check found: the whole check, or one of its fields (headers)."""

    id: str
    check_id: str
    kind: str
    service: str
    probe: str
    field: str | None
    summary: str
    nginx: Any = None
    gateway: Any = None
    # The Gateway answered 5xx in this check: a broken backend hop, not this field, is the cause.
    gateway_5xx: bool = False

    @property
    def check_key(self) -> tuple[str, str]:
        """Check ids repeat across kinds (`qdrant[GET /]` is a paths and a headers check)."""
        return self.kind, self.check_id

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Remedy:
    key: str
    title: str
    reason: str
    status: str  # FIXABLE, NOT_FIXABLE, NEEDS_PROFILE
    changes: list[tuple[str, str]] = field(default_factory=list)  # (what, YAML)
    needs_profile: str | None = None
    expected_difference: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def yaml(self) -> str:
        parts = [f"# {what}\n{text}" for what, text in self.changes]
        if self.expected_difference is not None:
            parts.append(
                "# a reviewed expected difference, under the service in the targets or cutover.yaml\n"
                + yaml.safe_dump({"expected_differences": [self.expected_difference]}, sort_keys=False)
            )
        return "---\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "reason": self.reason,
            "status": self.status,
            "needs_profile": self.needs_profile,
            "yaml": self.yaml,
            "findings": [f.id for f in self.findings],
        }


@dataclass
class FixPlan:
    workspace: Workspace
    remedies: list[Remedy]

    def remedy_of(self, finding_id: str) -> Remedy | None:
        for remedy in self.remedies:
            if any(f.id == finding_id for f in remedy.findings):
                return remedy
        return None

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.remedies for f in r.findings]


def _first_failing(check: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in check.get("differences") or [] if d.get("severity", "fail") == "fail" and not d.get("expected")]


def _describe(difference: dict[str, Any]) -> str:
    left, right = difference.get("sides") or ("nginx", "gateway")
    return f"{difference.get('field')}: {left} {difference.get('nginx')}, {right} {difference.get('gateway')}"


def findings_of(checks: list[dict[str, Any]]) -> list[Finding]:
    """The findings of a run: every failed check; a headers check gives one per field."""
    found: list[Finding] = []
    for check in checks:
        if check.get("outcome") != "failed":
            continue
        failing = _first_failing(check)
        base: dict[str, Any] = {
            "gateway_5xx": any(_is_5xx(d.get("gateway")) for d in failing),
            "check_id": str(check["id"]),
            "kind": str(check["kind"]),
            "service": str(check["service"]),
            "probe": str(check.get("probe") or ""),
        }
        if check["kind"] == "headers" and failing:
            for difference in failing:
                name = str(difference.get("field"))
                found.append(
                    Finding(
                        id=f"{check['kind']} {check['id']} {name}",
                        field=name,
                        summary=_describe(difference),
                        nginx=difference.get("nginx"),
                        gateway=difference.get("gateway"),
                        **base,
                    )
                )
            continue
        message = (check.get("message") or "").strip().splitlines()
        summary = _describe(failing[0]) if failing else (message[-1] if message else "failed")
        found.append(Finding(id=f"{check['kind']} {check['id']}", field=None, summary=summary, **base))
    return found


def _is_5xx(value: Any) -> bool:
    return re.match(r"^5\d\d\b", str(value)) is not None


def _host_rules(hosts: list[str]) -> list[dict[str, str]]:
    # One rule per host: Envoy refuses a regex whose RE2 program exceeds 100 (an alternation of
    # five hostnames already does), and Cilium hands these to Envoy as regexes.
    return [{"host": re.escape(h).replace("\\-", "-") + "(:[0-9]+)?"} for h in sorted(hosts)]


def _dump(obj: dict[str, Any]) -> str:
    return dump(obj)


class _Planner:
    def __init__(self, root: Path, profile: GatewayProfile) -> None:
        self.root = root
        self.profile = profile
        self.manifests: ManifestSet = load_manifests(root)
        self.workspace = Workspace(root)
        self.remedies: dict[str, Remedy] = {}

    # -- lookups --------------------------------------------------------------------
    def ingress(self, service: str) -> Ingress | None:
        for ingress in self.manifests.ingresses:
            if service in (ingress.name, f"{ingress.namespace}/{ingress.name}"):
                return ingress
        return None

    def routes_for(self, hosts: list[str]) -> list[HTTPRoute]:
        return [r for r in self.manifests.http_routes if set(r.hostnames) & set(hosts)]

    def listeners(self, route: HTTPRoute) -> tuple[str, str, str, str] | None:
        """(gateway namespace, gateway name, HTTP listener, HTTPS listener) the route attaches to."""
        for ref in route.parent_refs:
            gateway = self.manifests.gateway(ref.namespace or route.namespace, ref.name)
            if gateway is None:
                continue
            http = next((lst.name for lst in gateway.listeners if lst.protocol == "HTTP"), None)
            https = next((lst.name for lst in gateway.listeners if lst.protocol == "HTTPS"), None)
            if http and https:
                return gateway.namespace, gateway.name, http, https
        return None

    def profile_with(self, wanted: str) -> str | None:
        for profile in PROFILES.values():
            if wanted == "redirect-308" and 308 in profile.redirect_codes:
                return profile.name
            if (
                wanted == "backend-tls"
                and profile.supports_backend_tls_policy
                and not profile.well_known_ca_plaintext_bug
            ):
                return profile.name
        return None

    def remedy(self, key: str, **kwargs: Any) -> Remedy:
        if key not in self.remedies:
            self.remedies[key] = Remedy(key=key, **kwargs)
        return self.remedies[key]

    def edit(self, kind: str, namespace: str, name: str, note: str, finding: Finding) -> dict[str, Any] | None:
        """The object to change in place; its document is rewritten under a comment naming the finding."""
        found = self.workspace.find(kind, namespace, name)
        if found is None:
            return None
        document, obj = found
        document.notes.append(_note(note, finding))
        return obj

    def not_fixable(self, finding: Finding, why: str, expected: dict[str, Any] | None = None) -> None:
        remedy = self.remedy(
            f"not-fixable:{finding.id}",
            title=f"no Gateway API remedy for {finding.field or finding.probe or finding.kind}",
            reason=why,
            status=NOT_FIXABLE,
            expected_difference=expected,
        )
        remedy.findings.append(finding)

    @staticmethod
    def expected_difference(finding: Finding, why: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"check": finding.kind}
        if finding.field:
            entry["field"] = finding.field
        else:
            entry["probe"] = finding.probe
        entry["reason"] = f"<fill in: why the service does not need this ({why})>"
        entry["owner"] = "<fill in: the reviewing team's address>"
        entry["expires"] = "<fill in: YYYY-MM-DD>"
        return entry

    # -- remedies -------------------------------------------------------------------
    def plan(self, finding: Finding, backend_tls_services: set[str]) -> None:
        kind = finding.kind
        own_remedy = kind in ("backend_tls", "coverage") or (
            kind == "headers" and str(finding.field).startswith("response:")
        )
        if finding.gateway_5xx and finding.service in backend_tls_services and not own_remedy:
            # Every probe of a service whose TLS hop to the backend fails answers 5xx: one remedy.
            self.backend_tls(finding)
            return
        if kind == "redirects" or (kind == "coverage" and finding.probe.startswith("redirect")):
            self.redirect(finding)
        elif kind == "headers":
            self.header(finding)
        elif kind == "source_ip" or (kind == "coverage" and finding.probe.startswith("allowlist")):
            self.allowlist(finding)
        elif kind in ("sse", "timeouts") or (kind == "coverage" and "timeout" in finding.probe):
            self.timeouts(finding)
        elif kind == "backend_tls" or (kind == "coverage" and "backend tls" in finding.probe):
            self.backend_tls(finding)
        elif kind == "paths":
            self.paths(finding)
        elif kind in _NOT_FIXABLE_KINDS:
            self.not_fixable(finding, _NOT_FIXABLE_KINDS[kind])
        else:
            self.not_fixable(finding, f"cutover has no remedy for {kind} findings ({finding.probe})")

    def redirect(self, finding: Finding) -> None:
        ingress = self.ingress(finding.service)
        if ingress is None:
            self.not_fixable(finding, f"no Ingress for service {finding.service}")
            return
        hosts = sorted(ingress.tls_hosts() & set(ingress.hosts)) or ingress.hosts
        routes = self.routes_for(hosts)
        bound = next((b for b in (self.listeners(r) for r in routes) if b is not None), None)
        if bound is None:
            self.not_fixable(finding, "no HTTPRoute for the host attaches to a Gateway with HTTP and HTTPS listeners")
            return
        gateway_namespace, gateway_name, http_listener, https_listener = bound
        code = 308 if 308 in self.profile.redirect_codes else 301
        needs = None if code == 308 else self.profile_with("redirect-308")
        reason = (
            "ingress-nginx answered plain HTTP with a 308 to https (ssl-redirect); a Gateway does not redirect by "
            f"itself: a RequestRedirect route on the HTTP listener '{http_listener}' only (on both it loops), and "
            f"the application routes on the HTTPS listener '{https_listener}' only."
        )
        if code != 308:
            reason += (
                f" {self.profile.name} (Gateway API {self.profile.gateway_api_bundle}) has no 308: 301 is written, "
                "which lets clients turn a POST into a GET; 308 needs Gateway API v1.5 "
                f"({needs}), or accept 301 with redirects.accept after review."
            )
        remedy = self.remedy(
            "https-redirect",
            title="add an HTTP->HTTPS redirect route on the HTTP listener",
            reason=reason,
            status=FIXABLE if code == 308 else NEEDS_PROFILE,
            needs_profile=needs,
        )
        remedy.findings.append(finding)
        self._bind_routes_to_https(remedy, finding, routes, gateway_name, http_listener, https_listener)
        obj = self._redirect_route(gateway_namespace, gateway_name, http_listener, code)
        for host in hosts:
            if host not in obj["spec"]["hostnames"]:
                obj["spec"]["hostnames"].append(host)
        remedy.changes = [c for c in remedy.changes if c[0] != "new HTTPRoute " + REDIRECT_ROUTE]
        remedy.changes.insert(0, ("new HTTPRoute " + REDIRECT_ROUTE, _dump(obj)))

    def _bind_routes_to_https(
        self,
        remedy: Remedy,
        finding: Finding,
        routes: list[HTTPRoute],
        gateway_name: str,
        http_listener: str,
        https_listener: str,
    ) -> None:
        """The application routes move from the HTTP listener (or none named) to the HTTPS one."""
        note = "HTTP->HTTPS redirect: bound to the HTTPS listener only"
        for route in routes:
            obj = self.edit("HTTPRoute", route.namespace, route.name, note, finding)
            if obj is None:
                continue
            for parent in obj.get("spec", {}).get("parentRefs") or []:
                if parent.get("name") == gateway_name and parent.get("sectionName") in (None, http_listener):
                    parent["sectionName"] = https_listener
            remedy.changes = [c for c in remedy.changes if c[0] != f"HTTPRoute {route.namespace}/{route.name}"]
            remedy.changes.append((f"HTTPRoute {route.namespace}/{route.name}", _dump(obj)))

    def _redirect_route(
        self, gateway_namespace: str, gateway_name: str, http_listener: str, code: int
    ) -> dict[str, Any]:
        """The redirect route on the HTTP listener: the one an earlier finding added, else a new one."""
        existing = self.workspace.find("HTTPRoute", gateway_namespace, REDIRECT_ROUTE)
        if existing is not None:
            return existing[1]
        obj: dict[str, Any] = {
            "apiVersion": f"{GATEWAY_GROUP}/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": REDIRECT_ROUTE, "namespace": gateway_namespace},
            "spec": {
                "parentRefs": [{"name": gateway_name, "namespace": gateway_namespace, "sectionName": http_listener}],
                "hostnames": [],
                "rules": [
                    {
                        "filters": [
                            {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": code}}
                        ]
                    }
                ],
            },
        }
        self.workspace.add(
            "https-redirect.yaml",
            obj,
            "cutover fix: the HTTP->HTTPS redirect ingress-nginx did (ssl-redirect), on the HTTP listener only.",
        )
        return obj

    def header(self, finding: Finding) -> None:
        assert finding.field is not None
        direction, _, name = finding.field.partition(":")
        if direction not in ("request", "response") or not name:
            self.not_fixable(finding, f"{finding.field} differs: not a header a modifier can set ({finding.summary})")
            return
        if direction == "request" and name in _DYNAMIC_REQUEST_HEADERS:
            why = _DYNAMIC_REQUEST_HEADERS[name]
            self.not_fixable(finding, why, self.expected_difference(finding, why))
            return
        ingress = self.ingress(finding.service)
        value = self.nginx_value(finding)
        if ingress is None or value is None:
            self.not_fixable(finding, "the header is not lost but changed; nginx's value is not a static one")
            return
        routes = self.routes_for(ingress.hosts)
        if not routes:
            self.not_fixable(finding, "no HTTPRoute serves the host")
            return
        filter_type = "ResponseHeaderModifier" if direction == "response" else "RequestHeaderModifier"
        key = f"headers:{finding.service}:{finding.field}"
        remedy = self.remedy(
            key,
            title=f"set {name} as nginx did ({filter_type})",
            reason=f"nginx sent {name}: {value} (a static value); the Gateway does not: a {filter_type} sets it.",
            status=FIXABLE,
        )
        remedy.findings.append(finding)
        if len(remedy.findings) > 1:
            return
        for route in routes:
            obj = self.edit(
                "HTTPRoute",
                route.namespace,
                route.name,
                f"{_header_name(name)} as nginx sent it",
                finding,
            )
            if obj is None:
                continue
            for rule in obj.get("spec", {}).get("rules") or []:
                filters = rule.setdefault("filters", [])
                if any(f.get("type") == "RequestRedirect" for f in filters):
                    continue
                modifier = next((f for f in filters if f.get("type") == filter_type), None)
                if modifier is None:
                    modifier = {"type": filter_type}
                    filters.append(modifier)
                spec = modifier.setdefault(filter_type[0].lower() + filter_type[1:], {})
                entries = [e for e in spec.get("set") or [] if str(e.get("name", "")).lower() != name]
                spec["set"] = [*entries, {"name": _header_name(name), "value": value}]
            remedy.changes.append((f"HTTPRoute {route.namespace}/{route.name}", _dump(obj)))

    @staticmethod
    def nginx_value(finding: Finding) -> str | None:
        """nginx's value of a header the Gateway lost (None: changed, not lost, or absent on nginx)."""
        return str(finding.nginx) if finding.nginx is not None and finding.gateway is None else None

    def allowlist(self, finding: Finding) -> None:
        ingress = self.ingress(finding.service)
        if ingress is None:
            self.not_fixable(finding, f"no Ingress for service {finding.service}")
            return
        if finding.kind == "source_ip" and "denies" not in finding.summary:
            self.not_fixable(
                finding,
                "the Gateway refuses a client nginx lets in: remove the rule that denies it (no rule to add)",
            )
            return
        existing = [p for p in self.manifests.network_policies if selects_ingress_identity(p)]
        if existing:
            names = ", ".join(p.source.ref for p in existing)
            self.not_fixable(
                finding,
                f"a policy on the ingress identity exists ({names}): its rules let a client in that nginx refuses; "
                "cutover does not rewrite an existing policy",
            )
            return
        remedy = self.remedy(
            "allowlist",
            title="enforce the allowlists at the Gateway: a policy on the reserved:ingress identity",
            reason=(
                "nginx refused clients outside whitelist-source-range on the client's address. Behind the Gateway the "
                "backend sees the ingress identity, never the client, so its policy cannot; a policy on the "
                "reserved:ingress identity is enforced in Envoy on the client's address. Hosts without an allowlist "
                "stay open to everyone (a policy on the ingress identity denies what it does not allow)."
            ),
            status=FIXABLE,
        )
        remedy.findings.append(finding)
        if len(remedy.findings) > 1:
            return
        allowlisted = _allowlisted(self.manifests)
        obj = {
            "apiVersion": f"{CILIUM_GROUP}/v2",
            "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": ALLOWLIST_POLICY},
            "spec": {
                "endpointSelector": {"matchExpressions": [{"key": "reserved:ingress", "operator": "Exists"}]},
                "ingress": _allowlist_rules(self.manifests, allowlisted),
            },
        }
        sources = ", ".join(f"Ingress {i.namespace}/{i.name}" for i, _ in allowlisted)
        self.workspace.add(
            "gateway-client-allowlist.yaml",
            obj,
            f"cutover fix: the client allowlists of {sources}, enforced at the Gateway on the client's address.",
        )
        remedy.changes.append(("new CiliumClusterwideNetworkPolicy " + ALLOWLIST_POLICY, _dump(obj)))

    def timeouts(self, finding: Finding) -> None:
        ingress = self.ingress(finding.service)
        if ingress is None:
            self.not_fixable(finding, f"no Ingress for service {finding.service}")
            return
        routes = self.routes_for(ingress.hosts)
        limited = [r for r in routes if any(rule.timeout_request or rule.timeout_backend_request for rule in r.rules)]
        read_timeout = ann.read_timeout(ingress)
        if not limited:
            if self.profile.route_default_timeout is not None:
                remedy = self.remedy(
                    f"timeouts-profile:{finding.service}",
                    title="a Cilium without Envoy's 15 s route default",
                    reason=(
                        f"{self.profile.name} applies Envoy's {self.profile.route_default_timeout:g} s default to "
                        "routes without timeouts (fixed by cilium/cilium#31514); a route timeout would be a total "
                        f"limit that cuts streams nginx (proxy-read-timeout {read_timeout} s, an idle limit) served."
                    ),
                    status=NEEDS_PROFILE,
                    needs_profile="cilium-1.16",
                )
                remedy.findings.append(finding)
                return
            self.not_fixable(finding, "no route timeout to remove: the limit is elsewhere (the stream idle timeout?)")
            return
        remedy = self.remedy(
            f"timeouts:{finding.service}",
            title="remove the route's total timeout",
            reason=(
                f"nginx's proxy-read-timeout ({read_timeout} s) is an idle limit; timeouts.request/backendRequest "
                "become Envoy's route timeout, a total duration that cuts a stream still sending. Without them "
                "Cilium sets no route timeout (max_stream_duration 0s) and the 300 s stream idle timeout remains."
            ),
            status=FIXABLE,
        )
        remedy.findings.append(finding)
        if len(remedy.findings) > 1:
            return
        for route in limited:
            obj = self.edit(
                "HTTPRoute",
                route.namespace,
                route.name,
                "no total route timeout: nginx's read timeout is an idle limit",
                finding,
            )
            if obj is None:
                continue
            for rule in obj.get("spec", {}).get("rules") or []:
                timeouts = rule.get("timeouts") or {}
                timeouts.pop("request", None)
                timeouts.pop("backendRequest", None)
                if "timeouts" in rule and not timeouts:
                    del rule["timeouts"]
            remedy.changes.append((f"HTTPRoute {route.namespace}/{route.name}", _dump(obj)))

    def backend_tls(self, finding: Finding) -> None:
        ingress = self.ingress(finding.service)
        if ingress is None:
            self.not_fixable(finding, f"no Ingress for service {finding.service}")
            return
        services = sorted({p.backend.service for p in ingress.paths})
        if finding.probe.startswith("option B"):
            policies = [
                p.source.ref
                for p in self.manifests.backend_tls_policies
                if p.namespace == ingress.namespace and any(t.name in services for t in p.targets)
            ]
            why = (
                "the target declares option B (plain backend, TLS ends at the Gateway) but the Gateway spoke TLS "
                f"to it: delete {', '.join(policies) or 'the BackendTLSPolicy on the Service'}, or declare option A"
            )
            self.not_fixable(finding, why)
            return
        if not self.profile.supports_backend_tls_policy:
            remedy = self.remedy(
                f"backend-tls-profile:{finding.service}",
                title=f"BackendTLSPolicy needs Cilium {_backend_tls_release().minor}, or option B",
                reason=(
                    f"{self.profile.name} ignores BackendTLSPolicy and talks plaintext to a backend nginx reached over "
                    f"HTTPS. Either Cilium >= {_backend_tls_release().minor} "
                    f"(BackendTLSPolicy {_backend_tls_release().backend_tls_policy_versions[-1].split('/')[-1]}) "
                    "or option B: the backend serves plain HTTP "
                    "(ArgoCD: server.insecure), TLS ends at the Gateway, and node-to-node encryption (WireGuard or "
                    "IPsec) protects the hop; declare backend_tls: {mode: B} for the service."
                ),
                status=NEEDS_PROFILE,
                needs_profile=self.profile_with("backend-tls"),
            )
            remedy.findings.append(finding)
            return
        version = self.profile.backend_tls_policy_versions[-1]
        remedy = self.remedy(
            f"backend-tls:{finding.service}",
            title=f"BackendTLSPolicy {version.split('/')[-1]} with the backend's CA",
            reason=(
                "nginx reached the backend over HTTPS. A BackendTLSPolicy validated against the CA that signed the "
                "backend's certificate (a ConfigMap with ca.crt: fill in the real CA) and the name on that "
                "certificate; System CAs do not trust an in-cluster certificate (and on "
                f"{first_release(lambda r: r.well_known_ca_plaintext_bug).version} talk plaintext, cilium/cilium#48307)."
            ),
            status=FIXABLE,
        )
        remedy.findings.append(finding)
        if len(remedy.findings) > 1:
            return
        api_version = version if "/" in version else f"{GATEWAY_GROUP}/{version}"
        for service in services:
            self._backend_tls_policy(remedy, finding, ingress.namespace, service, api_version)

    def _backend_tls_policy(
        self, remedy: Remedy, finding: Finding, namespace: str, service: str, api_version: str
    ) -> None:
        """One Service's BackendTLSPolicy (the existing one rewritten, else a new one) and the
        ConfigMap holding the CA it validates against."""
        ca_name = f"{service}-ca"
        spec = {
            "targetRefs": [{"group": "", "kind": "Service", "name": service}],
            "validation": {
                "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": ca_name}],
                "hostname": f"{service}.{namespace}.svc",
            },
        }
        policy = next(
            (
                p
                for p in self.manifests.backend_tls_policies
                if p.namespace == namespace and any(t.name == service for t in p.targets)
            ),
            None,
        )
        if policy is not None:
            obj = self.edit(
                "BackendTLSPolicy", policy.namespace, policy.name, "TLS to the backend as nginx did", finding
            )
            if obj is not None:
                obj["apiVersion"] = api_version
                obj["spec"] = spec
                remedy.changes.append((f"BackendTLSPolicy {policy.namespace}/{policy.name}", _dump(obj)))
        else:
            obj = {
                "apiVersion": api_version,
                "kind": "BackendTLSPolicy",
                "metadata": {"name": f"{service}-backend-tls", "namespace": namespace},
                "spec": spec,
            }
            self.workspace.add(f"{service}-backend-tls.yaml", obj, "cutover fix: TLS to the backend as nginx did.")
            remedy.changes.append((f"new BackendTLSPolicy {namespace}/{service}-backend-tls", _dump(obj)))
        if (namespace, ca_name) not in self.manifests.config_maps:
            config_map = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": ca_name, "namespace": namespace},
                "data": {"ca.crt": "the PEM of the CA that signed the backend's certificate"},
            }
            self.workspace.add(
                f"{service}-backend-tls.yaml",
                config_map,
                "cutover fix: the CA the BackendTLSPolicy validates against (the lab fills in its own).",
            )
            remedy.changes.append((f"new ConfigMap {namespace}/{ca_name}", _dump(config_map)))

    def paths(self, finding: Finding) -> None:
        probe_path = finding.probe.split(" ", 1)[-1].split("?", 1)[0]
        if "//" in probe_path:
            why = "nginx merges slashes (merge_slashes on); Gateway API has no setting for Envoy's merge_slashes"
            self.not_fixable(finding, why, self.expected_difference(finding, why))
            return
        ingress = self.ingress(finding.service)
        if ingress is not None and "$" in ingress.annotation("rewrite-target"):
            why = (
                f"rewrite-target {ingress.annotation('rewrite-target')} uses regex capture groups; URLRewrite in "
                "Gateway API replaces a whole path or a matched prefix, never a capture group"
            )
            self.not_fixable(finding, why, self.expected_difference(finding, why))
            return
        lenient = [
            p
            for p in (ingress.paths if ingress else [])
            if p.path_type == "ImplementationSpecific" and probe_path.startswith(p.path) and p.path != "/"
        ]
        if ingress is None or not lenient or ingress.annotation("use-regex") == "true":
            why = "no match type reproduces nginx's matching for this probe (regex hosts and capture groups included)"
            self.not_fixable(finding, why, self.expected_difference(finding, why))
            return
        remedy = self.remedy(
            f"paths:{finding.service}",
            title="a RegularExpression match for nginx's plain prefix",
            reason=(
                "ImplementationSpecific is a plain prefix on nginx (/p also matches /px); PathPrefix matches whole "
                "segments only. A RegularExpression '<path>.*' (a whole-path match in Envoy) reproduces nginx. "
                "If nothing should be served at /px, prefer an expected difference instead."
            ),
            status=FIXABLE,
        )
        remedy.findings.append(finding)
        if len(remedy.findings) > 1:
            return
        prefixes = {p.path.rstrip("/") or "/" for p in lenient}
        for route in self.routes_for(ingress.hosts):
            obj = self.workspace.find("HTTPRoute", route.namespace, route.name)
            if obj is None:
                continue
            document, raw = obj
            touched = False
            for rule in raw.get("spec", {}).get("rules") or []:
                matches = rule.get("matches") or []
                for match in list(matches):
                    path = match.get("path") or {}
                    value = str(path.get("value", "")).rstrip("/")
                    if path.get("type", "PathPrefix") == "PathPrefix" and value in prefixes:
                        # Added next to the PathPrefix match, which stays: the rule still covers the
                        # Ingress path for readers and the coverage check, the regex adds /px.
                        lenient_match = copy.deepcopy(match)
                        lenient_match["path"] = {"type": "RegularExpression", "value": re.escape(value) + ".*"}
                        matches.insert(matches.index(match) + 1, lenient_match)
                        touched = True
            if touched:
                document.notes.append(_note("nginx's plain-prefix matching for ImplementationSpecific", finding))
                remedy.changes.append((f"HTTPRoute {route.namespace}/{route.name}", _dump(copy.deepcopy(raw))))


def _note(change: str, finding: Finding) -> str:
    """'<change> (finding: HSTS lost - headers llm-gateway[GET /] response:strict-transport-security)'"""
    name = FIELD_FINDINGS.get(str(finding.field)) or kind_finding(finding.kind)
    return f"{change} (finding: {name} - {finding.id})"


def _header_name(lower: str) -> str:
    return "-".join(part.capitalize() for part in lower.split("-"))


def _allowlisted(manifests: ManifestSet) -> list[tuple[Ingress, list[str]]]:
    """Every Ingress with a client allowlist, and its CIDRs."""
    allowlisted: list[tuple[Ingress, list[str]]] = []
    for candidate in manifests.ingresses:
        raw = candidate.annotation("whitelist-source-range") or candidate.annotation("allowlist-source-range")
        cidrs = [_cidr(part) for part in raw.split(",") if part.strip()]
        if cidrs:
            allowlisted.append((candidate, cidrs))
    return allowlisted


def _allowlist_rules(manifests: ManifestSet, allowlisted: list[tuple[Ingress, list[str]]]) -> list[dict[str, Any]]:
    """The policy's rules: every route host without an allowlist stays open to everyone (a policy
    on the ingress identity denies what it does not allow); each allowlisted host admits its CIDRs."""
    closed = {h for candidate, _ in allowlisted for h in candidate.hosts}
    open_hosts = sorted({h for r in manifests.http_routes for h in r.hostnames} - closed)
    rules: list[dict[str, Any]] = []
    if open_hosts:
        rules.append({"fromEntities": ["world", "cluster"], "toPorts": [{"rules": {"http": _host_rules(open_hosts)}}]})
    for candidate, cidrs in allowlisted:
        rules.append(
            {
                "fromCIDRSet": [{"cidr": c} for c in cidrs],
                "toPorts": [{"rules": {"http": _host_rules(candidate.hosts)}}],
            }
        )
    return rules


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        return text.strip()


def plan_fix(root: Path, checks: list[dict[str, Any]], profile: GatewayProfile) -> FixPlan:
    """The remedies for every finding of a run, applied to a workspace over `root` (nothing is written)."""
    planner = _Planner(root, profile)
    findings = findings_of(checks)
    backend_tls_services = {f.service for f in findings if f.kind == "backend_tls"}
    for finding in findings:
        planner.plan(finding, backend_tls_services)
    return FixPlan(planner.workspace, list(planner.remedies.values()))


def remedies_by_check(
    root: Path, checks: list[dict[str, Any]], profile_name: str | None
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each failed check's remedies, by (kind, id): what the report shows under a finding."""
    plan = plan_fix(root, checks, get_profile(profile_name or DEFAULT_PROFILE))
    found: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for remedy in plan.remedies:
        for finding in remedy.findings:
            found.setdefault(finding.check_key, {})[remedy.key] = remedy.to_dict()
    return {key: list(remedies.values()) for key, remedies in found.items()}
