"""The lab's nginx side against a table that follows ingress-nginx's own e2e tests.

Every row cites the e2e test it follows (kubernetes/ingress-nginx, test/e2e/...): the manifests
are our own, written for this table, and the requests go through the lab's real nginx.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import OFFICE, OUTSIDE, RunningLab

NS = "e2e"
ANN = "nginx.ingress.kubernetes.io/"


def _service(name: str) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {NS}}}
spec: {{ports: [{{name: http, port: 80}}]}}
"""


def _ingress(
    name: str,
    host: str,
    path: str = "/info",
    service: str = "main",
    annotations: dict[str, str] | None = None,
    klass: str | None = "nginx",
    tls: bool = False,
    path_type: str = "Prefix",
) -> str:
    notes = "".join(f"\n    {key}: {value!r}" for key, value in (annotations or {}).items())
    meta = f"metadata:\n  name: {name}\n  namespace: {NS}" + (f"\n  annotations:{notes}" if notes else "")
    spec = "spec:"
    if klass is not None:
        spec += f"\n  ingressClassName: {klass}"
    if tls:
        spec += f"\n  tls: [{{hosts: [{host}], secretName: {name}-tls}}]"
    spec += (
        f"\n  rules:\n    - host: {host}\n      http:\n        paths:\n"
        f"          - {{path: {path!r}, pathType: {path_type}, "
        f"backend: {{service: {{name: {service}, port: {{number: 80}}}}}}}}"
    )
    return f"apiVersion: networking.k8s.io/v1\nkind: Ingress\n{meta}\n{spec}\n"


def _canary(name: str, host: str, **annotations: str) -> str:
    keys = {ANN + "canary": "true", **{ANN + k.replace("_", "-"): v for k, v in annotations.items()}}
    return _ingress(name, host, service="canary", annotations=keys)


DOCUMENTS = [
    _service("main"),
    _service("canary"),
    _service("other"),
    # settings/ingress_class.go
    """
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: other}
spec: {controller: example.com/other-controller}
""",
    _ingress("class-name", "class-name.example"),
    _ingress(
        "class-annotation", "class-annotation.example", klass=None, annotations={"kubernetes.io/ingress.class": "nginx"}
    ),
    _ingress(
        "class-annotation-other",
        "class-annotation-other.example",
        klass=None,
        annotations={"kubernetes.io/ingress.class": "testclass"},
    ),
    _ingress("class-other-controller", "class-other-controller.example", klass="other"),
    _ingress("class-none", "class-none.example", klass=None),
    # annotations/canary.go
    _ingress("canary-main", "canary.example"),
    _canary("canary-main-canary", "canary.example", canary_by_header="CanaryByHeader"),
    _ingress("canary-value", "canary-value.example"),
    _canary(
        "canary-value-canary",
        "canary-value.example",
        canary_by_header="CanaryByHeader",
        **{"canary-by-header-value": "DoCanary"},
    ),
    _ingress("canary-pattern", "canary-pattern.example"),
    _canary(
        "canary-pattern-canary",
        "canary-pattern.example",
        canary_by_header="CanaryByHeader",
        **{"canary-by-header-pattern": "^Do[A-Z][a-z]+y$"},
    ),
    _ingress("canary-value-pattern", "canary-value-pattern.example"),
    _canary(
        "canary-value-pattern-canary",
        "canary-value-pattern.example",
        canary_by_header="CanaryByHeader",
        **{"canary-by-header-value": "DoCanary", "canary-by-header-pattern": "^Do[A-Z][a-z]+y$"},
    ),
    _ingress("canary-bad-regex", "canary-bad-regex.example"),
    _canary(
        "canary-bad-regex-canary",
        "canary-bad-regex.example",
        canary_by_header="CanaryByHeader",
        canary_by_cookie="CanaryByCookie",
        **{"canary-by-header-pattern": "[][**da?$&*"},
    ),
    _ingress("canary-value-cookie", "canary-value-cookie.example"),
    _canary(
        "canary-value-cookie-canary",
        "canary-value-cookie.example",
        canary_by_header="CanaryByHeader",
        canary_by_cookie="CanaryByCookie",
        **{"canary-by-header-value": "DoCanary"},
    ),
    _ingress("canary-cookie", "canary-cookie.example"),
    _canary("canary-cookie-canary", "canary-cookie.example", canary_by_cookie="CanaryByCookie"),
    _ingress("canary-weight0", "canary-weight0.example"),
    _canary("canary-weight0-canary", "canary-weight0.example", canary_weight="0"),
    _ingress("canary-weight100", "canary-weight100.example"),
    _canary("canary-weight100-canary", "canary-weight100.example", canary_weight="100"),
    _ingress("canary-weight-total", "canary-weight-total.example"),
    _canary(
        "canary-weight-total-canary", "canary-weight-total.example", canary_weight="200", canary_weight_total="200"
    ),
    _ingress("canary-weight50", "canary-weight50.example"),
    _canary("canary-weight50-canary", "canary-weight50.example", canary_weight="50"),
    _ingress("canary-weight100of200", "canary-weight100of200.example"),
    _canary(
        "canary-weight100of200-canary", "canary-weight100of200.example", canary_weight="100", canary_weight_total="200"
    ),
    _canary("canary-alone", "canary-alone.example", canary_by_header="CanaryByHeader"),
    # annotations/rewrite.go
    _ingress("kube-lego", "rewrite-longest.example", path="/.well-known/acme/challenge"),
    _ingress(
        "rewrite-index", "rewrite-longest.example", path="/", annotations={ANN + "rewrite-target": "/new/backend"}
    ),
    _ingress("regex-foo", "rewrite-regex.example", path="/foo"),
    _ingress(
        "regex",
        "rewrite-regex.example",
        path="/foo.+",
        annotations={ANN + "use-regex": "true", ANN + "rewrite-target": "/new/backend"},
    ),
    _ingress("warning-foo", "rewrite-warning.example", path="/foo/bar/bar"),
    _ingress(
        "warning-regex",
        "rewrite-warning.example",
        path="/foo/bar/[a-z]{3}",
        annotations={ANN + "use-regex": "true", ANN + "rewrite-target": "/new/backend"},
    ),
    _ingress(
        "rewrite-capture",
        "rewrite-capture.example",
        path="/foo/bar/(.+)",
        annotations={ANN + "use-regex": "true", ANN + "rewrite-target": "/new/backend/$1"},
    ),
    # annotations/forcesslredirect.go, and ssl-redirect as rootfs/etc/nginx/lua/lua_ingress.lua does it
    _ingress("force-ssl", "forcesslredirect.example", path="/", annotations={ANN + "force-ssl-redirect": "true"}),
    _ingress("ssl-redirect", "sslredirect.example", path="/", tls=True),
    _ingress(
        "ssl-preserve",
        "sslpreserve.example",
        path="/",
        tls=True,
        annotations={ANN + "preserve-trailing-slash": "true"},
    ),
    _ingress("ssl-off", "ssloff.example", path="/", tls=True, annotations={ANN + "ssl-redirect": "false"}),
    # settings/no_tls_redirect_locations.go: the default list exempts the ACME solver's location
    _ingress("acme-app", "acme.example", path="/", tls=True),
    _ingress(
        "acme-solver",
        "acme.example",
        path="/.well-known/acme-challenge/token-1",
        service="other",
        path_type="Exact",
    ),
    # annotations/ipallowlist.go
    _ingress(
        "allowlist",
        "ipallowlist.example",
        path="/",
        annotations={ANN + "allowlist-source-range": "127.0.10.0/24, 127.0.11.0/24"},
    ),
    _ingress(
        "allowlist-bad",
        "ipallowlist-bad.example",
        path="/",
        annotations={ANN + "whitelist-source-range": "127.0.10.0/24, 10.0.0.300/8"},
    ),
]

CANARY_HEADER = "CanaryByHeader"


@dataclass(frozen=True)
class Row:
    follows: str
    host: str
    path: str
    status: int
    backend: str | None = None
    location: str | None = None
    upstream_path: str | None = None
    scheme: str = "http"
    headers: tuple[tuple[str, str], ...] = ()
    source: str = OFFICE

    @property
    def id(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.headers)
        return (
            f"{self.scheme}://{self.host}{self.path}"
            + (f"[{extra}]" if extra else "")
            + ("[outside]" if self.source == OUTSIDE else "")
        )


MAIN, CANARY, OTHER = f"{NS}/main", f"{NS}/canary", f"{NS}/other"
CLASS = "test/e2e/settings/ingress_class.go"
CAN = "test/e2e/annotations/canary.go"
REW = "test/e2e/annotations/rewrite.go"
SSL = "test/e2e/annotations/forcesslredirect.go"
LUA = "rootfs/etc/nginx/lua/lua_ingress.lua redirect_to_https"
NOTLS = "test/e2e/settings/no_tls_redirect_locations.go"
ALLOW = "test/e2e/annotations/ipallowlist.go"
DEFB = "test/e2e/defaultbackend/default_backend.go"


def _h(value: str) -> tuple[tuple[str, str], ...]:
    return ((CANARY_HEADER, value),)


def _cookie(value: str) -> tuple[str, str]:
    return ("Cookie", f"CanaryByCookie={value}")


ROWS = [
    Row(
        f"{CLASS} should accept both Ingresses with default IngressClassName and IngressClass annotation",
        "class-name.example",
        "/info",
        200,
        MAIN,
    ),
    Row(
        f"{CLASS} should accept both Ingresses with default IngressClassName and IngressClass annotation",
        "class-annotation.example",
        "/info",
        200,
        MAIN,
    ),
    Row(
        f"{CLASS} should ignore Ingress with a different class annotation",
        "class-annotation-other.example",
        "/info",
        404,
    ),
    Row(
        f"{CLASS} should ignore Ingress with different controller class", "class-other-controller.example", "/info", 404
    ),
    Row(f"{CLASS} should ignore Ingress without IngressClass configuration", "class-none.example", "/info", 404),
    Row(f"{CAN} when canary is created: mainline ingress answers", "canary.example", "/info", 200, MAIN),
    Row(f"{CAN} when canaried by header with no value", "canary.example", "/info", 200, CANARY, headers=_h("always")),
    Row(f"{CAN} when canaried by header with no value", "canary.example", "/info", 200, MAIN, headers=_h("never")),
    Row(
        f"{CAN} when canaried by header with no value",
        "canary.example",
        "/info",
        200,
        MAIN,
        headers=_h("badheadervalue"),
    ),
    Row(
        f"{CAN} when canaried by header with value",
        "canary-value.example",
        "/info",
        200,
        CANARY,
        headers=_h("DoCanary"),
    ),
    Row(
        f"{CAN} when canaried by header with value",
        "canary-value.example",
        "/info",
        200,
        MAIN,
        headers=_h("otherheadervalue"),
    ),
    Row(f"{CAN} when canaried by header with value", "canary-value.example", "/info", 200, MAIN, headers=_h("always")),
    Row(
        f"{CAN} when canaried by header with value and pattern",
        "canary-pattern.example",
        "/info",
        200,
        CANARY,
        headers=_h("DoCanary"),
    ),
    Row(
        f"{CAN} when canaried by header with value and pattern",
        "canary-pattern.example",
        "/info",
        200,
        MAIN,
        headers=_h("Docanary"),
    ),
    Row(
        f"{CAN} when canaried by header with value and pattern (value wins)",
        "canary-value-pattern.example",
        "/info",
        200,
        MAIN,
        headers=_h("DoCananry"),
    ),
    Row(
        f"{CAN} should routes to mainline upstream when the given Regex causes error",
        "canary-bad-regex.example",
        "/info",
        200,
        MAIN,
        headers=(*_h("DoCanary"), _cookie("always")),
    ),
    Row(
        f"{CAN} when canaried by header with value and cookie",
        "canary-value-cookie.example",
        "/info",
        200,
        CANARY,
        headers=(*_h("otherheadervalue"), _cookie("always")),
    ),
    Row(
        f"{CAN} when canaried by cookie: respects always and never values",
        "canary-cookie.example",
        "/info",
        200,
        CANARY,
        headers=(_cookie("always"),),
    ),
    Row(
        f"{CAN} when canaried by cookie: respects always and never values",
        "canary-cookie.example",
        "/info",
        200,
        MAIN,
        headers=(_cookie("never"),),
    ),
    Row(
        f"{CAN} when canaried by cookie: respects always and never values",
        "canary-cookie.example",
        "/info",
        200,
        MAIN,
        headers=(_cookie("badcookievalue"),),
    ),
    Row(
        f"{CAN} Single canary Ingress: should not use canary with domain as a server",
        "canary-alone.example",
        "/info",
        404,
        headers=_h("always"),
    ),
    Row(
        f"{REW} should use correct longest path match",
        "rewrite-longest.example",
        "/.well-known/acme/challenge",
        200,
        MAIN,
        upstream_path="/.well-known/acme/challenge",
    ),
    Row(
        f"{REW} should use correct longest path match (the / location rewrites)",
        "rewrite-longest.example",
        "/anything",
        200,
        MAIN,
        upstream_path="/new/backend",
    ),
    Row(
        f"{REW} should use ~* location modifier if regex annotation is present",
        "rewrite-regex.example",
        "/foo",
        200,
        MAIN,
        upstream_path="/foo",
    ),
    Row(
        f"{REW} should use ~* location modifier if regex annotation is present",
        "rewrite-regex.example",
        "/foo/bar",
        200,
        MAIN,
        upstream_path="/new/backend",
    ),
    Row(
        f"{REW} should fail to use longest match for documented warning",
        "rewrite-warning.example",
        "/foo/bar/bar",
        200,
        MAIN,
        upstream_path="/new/backend",
    ),
    Row(
        f"{REW} should allow for custom rewrite parameters",
        "rewrite-capture.example",
        "/foo/bar/bar",
        200,
        MAIN,
        upstream_path="/new/backend/bar",
    ),
    Row(
        f"{SSL} should redirect to https",
        "forcesslredirect.example",
        "/",
        308,
        location="https://forcesslredirect.example",
    ),
    Row(
        f"{LUA}: the trailing slash is dropped",
        "sslredirect.example",
        "/app/",
        308,
        location="https://sslredirect.example/app",
    ),
    Row(
        f"{LUA}: the query is kept",
        "sslredirect.example",
        "/app?x=1",
        308,
        location="https://sslredirect.example/app?x=1",
    ),
    Row(
        f"{LUA}: the port of the Host header is dropped",
        "sslredirect.example:8080",
        "/app",
        308,
        location="https://sslredirect.example/app",
    ),
    Row(f"{LUA}: HTTPS is served", "sslredirect.example", "/app/", 200, MAIN, scheme="https"),
    Row(
        f"{LUA}: preserve-trailing-slash keeps it",
        "sslpreserve.example",
        "/app/",
        308,
        location="https://sslpreserve.example/app/",
    ),
    Row(f"{LUA}: ssl-redirect false serves plain HTTP", "ssloff.example", "/app", 200, MAIN),
    Row(f"{NOTLS}: the solver's location is exempt", "acme.example", "/.well-known/acme-challenge/token-1", 200, OTHER),
    Row(
        f"{NOTLS}: exemption is by location, not by request path",
        "acme.example",
        "/.well-known/acme-challenge/token-2",
        308,
        location="https://acme.example/.well-known/acme-challenge/token-2",
    ),
    Row(f"{ALLOW} should set valid ip allowlist range", "ipallowlist.example", "/", 200, MAIN),
    Row(f"{ALLOW} should set valid ip allowlist range", "ipallowlist.example", "/", 403, source=OUTSIDE),
    Row(
        "internal/ingress/annotations/ipallowlist/main.go: a bad CIDR denies the location (503)",
        "ipallowlist-bad.example",
        "/",
        503,
    ),
    Row(
        f"{DEFB} should return 404 sending requests when only a default backend is running", "unknown.example", "/", 404
    ),
    Row(f"{DEFB}: a known host's unmatched path goes to the default backend", "class-name.example", "/nothing", 404),
]


@pytest.fixture(scope="module")
def e2e_lab(start_lab: Callable[..., RunningLab], tmp_path_factory: pytest.TempPathFactory) -> RunningLab:
    directory = tmp_path_factory.mktemp("nginx-e2e")
    (directory / "e2e.yaml").write_text("\n---\n".join(doc.strip("\n") for doc in DOCUMENTS) + "\n")
    return start_lab(directory)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_nginx_follows_the_e2e_table(e2e_lab: RunningLab, row: Row) -> None:
    result = e2e_lab.get("nginx", row.host, row.path, scheme=row.scheme, headers=dict(row.headers), source=row.source)
    assert result.error is None, f"{row.follows}: {result.error}"
    assert result.status == row.status, f"{row.follows}: status expected {row.status}, got {result.status}"
    assert result.backend == row.backend, f"{row.follows}: backend expected {row.backend}, got {result.backend}"
    if row.location is not None:
        assert result.header("location") == row.location, f"{row.follows}: Location"
    if row.upstream_path is not None:
        seen = (result.json or {}).get("path")
        assert seen == row.upstream_path, f"{row.follows}: upstream path expected {row.upstream_path}, got {seen}"
    if row.status == 404:
        assert b"<title>404 Not Found</title>" in result.body


WEIGHTS = [
    (f"{CAN} should route requests only to mainline if canary weight is 0", "canary-weight0.example", {MAIN}),
    (f"{CAN} should route requests only to canary if canary weight is 100", "canary-weight100.example", {CANARY}),
    (
        f"{CAN} should route requests only to canary if canary weight is equal to canary weight total",
        "canary-weight-total.example",
        {CANARY},
    ),
    (
        f"{CAN} should route requests split between mainline and canary if canary weight is 50",
        "canary-weight50.example",
        {MAIN, CANARY},
    ),
    (
        f"{CAN} should route requests split between mainline and canary if canary weight is 100 and weight total "
        "is 200",
        "canary-weight100of200.example",
        {MAIN, CANARY},
    ),
]


@pytest.mark.parametrize(("follows", "host", "expected"), WEIGHTS, ids=[w[1] for w in WEIGHTS])
def test_nginx_canary_weights_follow_the_e2e_table(
    e2e_lab: RunningLab, follows: str, host: str, expected: set[str]
) -> None:
    # 40 requests: a 50% split shows both backends except with probability 2 * 0.5**40.
    seen = Counter(e2e_lab.get("nginx", host, "/info", scheme="http").backend for _ in range(40))
    assert set(seen) == expected, f"{follows}: backends {dict(seen)}"
    if expected == {MAIN, CANARY}:
        assert 4 <= seen[CANARY] <= 36, f"{follows}: a 50% split gave {dict(seen)}"


def test_default_backend_over_https(e2e_lab: RunningLab) -> None:
    """test/e2e/defaultbackend/default_backend.go: an unknown host over HTTPS gets the default
    server's certificate (not the host's) and the stock 404, as the e2e client sees it unverified."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    endpoint = e2e_lab.nginx
    with httpx.Client(verify=context, trust_env=False) as client:
        response = client.get(
            f"https://{endpoint.address}:{endpoint.port('https')}/",
            headers={"Host": "unknown.example"},
            extensions={"sni_hostname": "unknown.example"},
        )
    assert response.status_code == 404
    assert "<title>404 Not Found</title>" in response.text
    assert "strict-transport-security" not in response.headers


def test_the_table_lab_says_what_it_did_not_serve(e2e_lab: RunningLab) -> None:
    nginx = e2e_lab.lab.nginx
    assert nginx is not None
    not_served = nginx.not_served
    assert "testclass" in not_served[f"Ingress {NS}/class-annotation-other"]
    assert "example.com/other-controller" in not_served[f"Ingress {NS}/class-other-controller"]
    assert "no IngressClass" in not_served[f"Ingress {NS}/class-none"]
    assert "canary" in not_served[f"Ingress {NS}/canary-alone"]
    assert nginx.canaries[f"Ingress {NS}/canary-main-canary"] == f"Ingress {NS}/canary-main"
    services = {s["ingress"] for s in e2e_lab.lab.targets()["services"]}
    assert f"{NS}/class-none" not in services and f"{NS}/canary-main-canary" not in services
    assert f"{NS}/class-name" in services
    notes = "\n".join(e2e_lab.targets.notes)
    assert "not served by this controller" in notes
