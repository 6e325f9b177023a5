"""The controller's own settings on the lab's nginx side: its ConfigMap (in the folder or
`--nginx-config`), its class flags, first-Ingress-wins merging, invalid annotation values and
nginx's refusals traced back to their Ingress. Facts from kubernetes/ingress-nginx (cited)."""

from __future__ import annotations

import socket
import ssl
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cutover.cli import _parser
from cutover.errors import LabError
from cutover.lab import Lab, LabOptions
from cutover.lab.model import LabLayout
from cutover.lab.nginx_config import controller_config, read_nginx_config_file
from cutover.lab.nginx_render import controller_order, render_nginx
from cutover.manifests import load_manifests
from tests.conftest import OFFICE, OUTSIDE, RunningLab

ANN = "nginx.ingress.kubernetes.io/"
SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: main, namespace: demo}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: demo}
spec: {ports: [{name: http, port: 80}]}
"""


def ingress(
    name: str,
    host: str,
    *,
    service: str = "main",
    path: str = "/",
    annotations: dict[str, str] | None = None,
    tls: bool = False,
    klass: str | None = "nginx",
    created: str | None = None,
) -> str:
    meta = f"metadata:\n  name: {name}\n  namespace: demo"
    if created:
        meta += f"\n  creationTimestamp: {created!r}"
    if annotations:
        meta += "\n  annotations:" + "".join(f"\n    {k}: {v!r}" for k, v in annotations.items())
    spec = "spec:" + (f"\n  ingressClassName: {klass}" if klass else "")
    if tls:
        spec += f"\n  tls: [{{hosts: [{host}], secretName: {name}-tls}}]"
    spec += (
        f"\n  rules:\n    - host: {host}\n      http:\n        paths:\n"
        f"          - {{path: {path}, pathType: Prefix, backend: {{service: {{name: {service}, port: {{number: 80}}}}}}}}"
    )
    return f"---\napiVersion: networking.k8s.io/v1\nkind: Ingress\n{meta}\n{spec}\n"


CONFIGMAP = """---
apiVersion: v1
kind: ConfigMap
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
data:
  proxy-body-size: 2k
  proxy-read-timeout: "3"
  hsts-max-age: "100"
  hsts-preload: "true"
  use-forwarded-headers: "true"
  compute-full-forwarded-for: "true"
  enable-real-ip: "true"
  whitelist-source-range: 127.0.10.0/24
  use-http2: "false"
"""


def write(directory: Path, *documents: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "objects.yaml").write_text(SERVICES + "".join(documents))
    return directory


def layout(tmp_path: Path) -> LabLayout:
    return LabLayout(tmp_path, "127.0.0.1", 1, 2, 3, 4, 5, "127.0.100.1", "127.0.200.1")


def prepared(directory: Path, **options: object) -> Lab:
    # Beside the manifests, inside the test's own temporary directory: the lab's keys and
    # configs go when pytest clears its temporary directories, never left in /tmp.
    state = Path(tempfile.mkdtemp(prefix="lab-state-", dir=directory.parent))
    lab = Lab(LabOptions(manifests=directory, state_dir=state, detach=False, **options))  # type: ignore[arg-type]
    lab.prepare()
    return lab


@pytest.fixture(scope="module")
def configured_lab(start_lab: Callable[..., RunningLab], tmp_path_factory: pytest.TempPathFactory) -> RunningLab:
    directory = write(
        tmp_path_factory.mktemp("nginx-configmap"),
        CONFIGMAP,
        ingress("secure", "secure.example", tls=True),
        ingress("open", "open.example", annotations={ANN + "whitelist-source-range": "0.0.0.0/0"}),
    )
    return start_lab(directory)


@pytest.fixture(scope="module")
def stock_lab(start_lab: Callable[..., RunningLab], tmp_path_factory: pytest.TempPathFactory) -> RunningLab:
    directory = write(
        tmp_path_factory.mktemp("nginx-stock"),
        ingress("secure", "secure.example", tls=True),
        ingress("plain", "plain.example"),
        # Two Ingresses, one host and path, no timestamps: the controller keeps the one whose
        # namespace/name sorts last (store.go sortIngressSlice), never a duplicate location.
        ingress("a-first", "shared.example", service="main"),
        ingress("b-second", "shared.example", service="other"),
        # With timestamps, the older one wins whatever the names.
        ingress("z-newer", "dated.example", service="other", created="2025-02-01T00:00:00Z"),
        ingress("y-older", "dated.example", service="main", created="2025-01-01T00:00:00Z"),
        ingress("big", "big.example", annotations={ANN + "proxy-body-size": "2Mi"}),
        ingress("slow", "slow.example", annotations={ANN + "proxy-read-timeout": "30s"}),
    )
    return start_lab(directory)


# -- the ConfigMap sets the global defaults ---------------------------------------------
def test_configmap_body_size_is_the_global_limit(configured_lab: RunningLab) -> None:
    small = configured_lab.get("nginx", "secure.example", "/", method="POST", body=b"x" * 1900)
    big = configured_lab.get("nginx", "secure.example", "/", method="POST", body=b"x" * 2100)
    assert (small.status, big.status) == (200, 413)


def test_stock_body_size_without_a_configmap(stock_lab: RunningLab) -> None:
    assert stock_lab.get("nginx", "secure.example", "/", method="POST", body=b"x" * 2100).status == 200


def test_configmap_read_timeout_is_the_global_limit(configured_lab: RunningLab) -> None:
    assert configured_lab.get("nginx", "secure.example", "/?delay=1").status == 200
    assert configured_lab.get("nginx", "secure.example", "/?delay=5").status == 504


def test_configmap_hsts_settings(configured_lab: RunningLab, stock_lab: RunningLab) -> None:
    configured = configured_lab.get("nginx", "secure.example", "/")
    stock = stock_lab.get("nginx", "secure.example", "/")
    assert configured.header("strict-transport-security") == "max-age=100; includeSubDomains; preload"
    assert stock.header("strict-transport-security") == "max-age=31536000; includeSubDomains"


def test_hsts_only_on_hosts_with_a_certificate(stock_lab: RunningLab) -> None:
    # lua_ingress.lua header(): certificate_configured_for_current_request().
    assert stock_lab.get("nginx", "plain.example", "/", scheme="http").header("strict-transport-security") is None


def test_configmap_global_allowlist(configured_lab: RunningLab) -> None:
    assert configured_lab.get("nginx", "secure.example", "/", source=OFFICE).status == 200
    assert configured_lab.get("nginx", "secure.example", "/", source=OUTSIDE).status == 403
    # An Ingress's own annotation replaces the global list.
    assert configured_lab.get("nginx", "open.example", "/", scheme="http", source=OUTSIDE).status == 200


def test_configmap_use_forwarded_headers(configured_lab: RunningLab, stock_lab: RunningLab) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.10.9"}
    trusted = configured_lab.get("nginx", "secure.example", "/", scheme="http", source=OUTSIDE, headers=headers)
    # The scheme comes from X-Forwarded-Proto (no redirect), the client from X-Forwarded-For (allowed).
    assert trusted.status == 200, trusted.status
    seen = (trusted.json or {}).get("headers", {})
    assert seen.get("x-forwarded-proto") == "https" and seen.get("x-real-ip") == "127.0.10.9"
    # compute-full-forwarded-for: the incoming chain plus the real peer ($realip_remote_addr).
    assert seen.get("x-forwarded-for") == f"127.0.10.9, {OUTSIDE}"
    hosted = configured_lab.get(
        "nginx",
        "secure.example",
        "/",
        headers={"X-Forwarded-Host": "public.example, inner.example", "X-Forwarded-Port": "8443"},
    )
    seen = (hosted.json or {}).get("headers", {})
    # lua_ingress.lua: $best_http_host is the first X-Forwarded-Host; $pass_port the X-Forwarded-Port.
    assert (seen.get("host"), seen.get("x-forwarded-host"), seen.get("x-forwarded-port")) == (
        "public.example",
        "public.example",
        "8443",
    )
    stock = stock_lab.get("nginx", "secure.example", "/", scheme="http", headers=headers)
    assert stock.status == 308


def _alpn(lab: RunningLab, host: str) -> str | None:
    context = ssl.create_default_context(cafile=lab.targets.ca_bundle)
    context.set_alpn_protocols(["h2", "http/1.1"])
    endpoint = lab.nginx
    with (
        socket.create_connection((endpoint.address, endpoint.port("https")), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.selected_alpn_protocol()


def test_http2_on_tls_servers_by_default(configured_lab: RunningLab, stock_lab: RunningLab) -> None:
    assert _alpn(stock_lab, "secure.example") == "h2"
    assert _alpn(configured_lab, "secure.example") in (None, "http/1.1")


def test_scope_names_the_controller_settings(configured_lab: RunningLab, stock_lab: RunningLab) -> None:
    assert configured_lab.targets.source["nginx_config"] == "ConfigMap ingress-nginx/ingress-nginx-controller"
    assert stock_lab.targets.source["nginx_config"] == "controller defaults"


# -- merging and invalid values (live) ------------------------------------------------------
def test_same_host_and_path_merge_as_the_controller_does(stock_lab: RunningLab) -> None:
    assert stock_lab.get("nginx", "shared.example", "/x", scheme="http").backend == "demo/other"
    assert stock_lab.get("nginx", "dated.example", "/x", scheme="http").backend == "demo/main"
    notes = "\n".join(stock_lab.targets.notes)
    assert "Ingress demo/a-first: shared.example Prefix / is already served by Ingress demo/b-second" in notes


def test_invalid_body_size_falls_back_to_the_default(stock_lab: RunningLab) -> None:
    # proxy/main.go: SizeRegex refuses "2Mi"; the parser keeps the default (1m).
    ok = stock_lab.get("nginx", "big.example", "/", scheme="http", method="POST", body=b"x" * 900_000)
    refused = stock_lab.get("nginx", "big.example", "/", scheme="http", method="POST", body=b"x" * 1_100_000)
    assert (ok.status, refused.status) == (200, 413)
    assert any("proxy-body-size='2Mi' is invalid" in n for n in stock_lab.targets.notes)


def test_non_integer_timeout_falls_back_to_the_default(stock_lab: RunningLab) -> None:
    assert any("proxy-read-timeout='30s' is not an integer" in n for n in stock_lab.targets.notes)
    assert "proxy_read_timeout 60s;" in (stock_lab.lab.nginx.text if stock_lab.lab.nginx else "")


# -- offline (rendered, not started) ---------------------------------------------------------
def test_nginx_refusal_names_the_line_and_the_ingress(tmp_path: Path) -> None:
    directory = write(tmp_path / "m", ingress("tiny", "tiny.example", annotations={ANN + "proxy-body-size": "10b"}))
    lab = prepared(directory)
    with pytest.raises(LabError) as caught:
        lab.start()
    message = str(caught.value)
    assert '[emerg] "client_max_body_size" directive invalid value' in message
    assert "rendered from Ingress demo/tiny proxy-body-size" in message


def test_nginx_config_file_beats_the_folder(tmp_path: Path) -> None:
    directory = write(tmp_path / "m", CONFIGMAP, ingress("secure", "secure.example", tls=True))
    file = tmp_path / "controller.yaml"
    file.write_text("proxy-body-size: 7k\nhsts: false\n")
    lab = prepared(directory, nginx_config=file)
    assert lab.nginx is not None
    assert lab.nginx.config.source == f"--nginx-config {file}"
    assert "client_max_body_size 7k;" in lab.nginx.text and "Strict-Transport-Security" not in lab.nginx.text
    assert lab.targets()["source"]["nginx_config"] == f"--nginx-config {file}"
    args = _parser().parse_args(["lab", "up", "--nginx-config", str(file)])
    assert args.nginx_config == file


def test_nginx_config_file_as_a_configmap_object(tmp_path: Path) -> None:
    file = tmp_path / "cm.yaml"
    file.write_text(CONFIGMAP)
    data = read_nginx_config_file(file)
    config = controller_config(data, "file")
    assert config.proxy_body_size == "2k" and config.use_http2 is False and config.hsts_preload is True


def test_configmap_values_the_controller_cannot_decode_keep_the_default() -> None:
    config = controller_config({"ssl-redirect": "yes", "proxy-read-timeout": "2m", "gzip-level": "5"}, "cm")
    assert config.ssl_redirect is True and config.proxy_read_timeout == 60
    messages = [n.message for n in config.notes]
    assert any("ssl-redirect='yes' is not a boolean" in m for m in messages)
    assert any("proxy-read-timeout='2m' is not an integer" in m for m in messages)
    unmodelled = [n for n in config.notes if "gzip-level" in n.message]
    assert unmodelled and unmodelled[0].verify


def test_global_ssl_redirect_off(tmp_path: Path) -> None:
    directory = write(
        tmp_path / "m",
        CONFIGMAP.replace("use-http2", 'ssl-redirect: "false"\n  use-http2'),
        ingress("secure", "secure.example", tls=True),
    )
    text = prepared(directory).nginx.text  # type: ignore[union-attr]
    assert "return 308" not in text


@pytest.fixture
def classes(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    def make(extra: str) -> Path:
        return write(
            tmp_path / "m",
            extra,
            ingress("classless", "classless.example", klass=None),
            ingress(
                "annotated", "annotated.example", klass=None, annotations={"kubernetes.io/ingress.class": "internal"}
            ),
        )

    yield make


def test_default_ingress_class_is_assigned_to_classless_ingresses(classes: Callable[[str], Path]) -> None:
    ours = """---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx-default
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: k8s.io/ingress-nginx}
"""
    lab = prepared(classes(ours))
    assert lab.nginx is not None
    assert lab.nginx.served == ["Ingress demo/classless"]
    assert (
        "'internal' is not the controller's --ingress-class 'nginx'" in lab.nginx.not_served["Ingress demo/annotated"]
    )


def test_default_ingress_class_of_another_controller(classes: Callable[[str], Path]) -> None:
    theirs = """---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: traefik
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: traefik.io/ingress-controller}
"""
    lab = prepared(classes(theirs))
    assert lab.nginx is not None and lab.nginx.served == []
    assert (
        "(the default class) belongs to controller 'traefik.io/ingress-controller'"
        in lab.nginx.not_served["Ingress demo/classless"]
    )


def test_ingress_class_flag_from_the_overlay(classes: Callable[[str], Path]) -> None:
    directory = classes("")
    (directory / "cutover.yaml").write_text("lab:\n  ingress_class: internal\n  watch_ingress_without_class: true\n")
    lab = prepared(directory)
    assert lab.nginx is not None
    assert sorted(lab.nginx.served) == ["Ingress demo/annotated", "Ingress demo/classless"]


def test_critical_annotations_reject_the_ingress(tmp_path: Path) -> None:
    snippet = {ANN + "configuration-snippet": "more_set_headers 'X: y';"}
    directory = write(tmp_path / "m", ingress("snippet", "snippet.example", annotations=snippet))
    config = render_nginx(load_manifests(directory), layout(tmp_path))
    assert "Critical risk" in config.not_served["Ingress demo/snippet"]
    allowed = controller_config({"annotations-risk-level": "Critical", "allow-snippet-annotations": "true"}, "cm")
    config = render_nginx(load_manifests(directory), layout(tmp_path), allowed)
    assert config.served == ["Ingress demo/snippet"]
    assert any(n.verify and "configuration-snippet" in n.message for n in config.notes)


def test_controller_order(tmp_path: Path) -> None:
    manifests_dir = tmp_path
    write(
        manifests_dir,
        ingress("a", "x.example"),
        ingress("b", "x.example"),
        ingress("c", "x.example", created="2024-01-01T00:00:00Z"),
    )
    order = [i.name for i in controller_order(load_manifests(manifests_dir).ingresses)]
    # No timestamp is Go's zero time, older than any; equal ones by namespace/name descending.
    assert order == ["b", "a", "c"]


CONFIGMAP_HEADERS = """---
apiVersion: v1
kind: ConfigMap
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
data:
  enable-real-ip: "true"
  forwarded-for-header: X-Client-IP
  proxy-buffering: "on"
  hsts: "false"
  http-redirect-code: "301"
"""


@pytest.fixture(scope="module")
def headers_lab(start_lab: Callable[..., RunningLab], tmp_path_factory: pytest.TempPathFactory) -> RunningLab:
    directory = write(
        tmp_path_factory.mktemp("nginx-configmap-headers"),
        CONFIGMAP_HEADERS,
        ingress("secure", "secure.example", tls=True, annotations={ANN + "whitelist-source-range": "127.0.10.0/24"}),
    )
    return start_lab(directory)


def test_configmap_forwarded_for_header_and_real_ip(headers_lab: RunningLab) -> None:
    # enable-real-ip trusts the configured header (real_ip_header), not X-Forwarded-For.
    claimed = headers_lab.get("nginx", "secure.example", "/", source=OUTSIDE, headers={"X-Client-IP": "127.0.10.7"})
    assert claimed.status == 200
    assert (claimed.json or {}).get("headers", {}).get("x-real-ip") == "127.0.10.7"
    xff = headers_lab.get("nginx", "secure.example", "/", source=OUTSIDE, headers={"X-Forwarded-For": "127.0.10.7"})
    assert xff.status == 403


def test_configmap_hsts_off_and_redirect_code(headers_lab: RunningLab) -> None:
    assert headers_lab.get("nginx", "secure.example", "/").header("strict-transport-security") is None
    redirect = headers_lab.get("nginx", "secure.example", "/x/", scheme="http")
    assert (redirect.status, redirect.header("location")) == (301, "https://secure.example/x")


def test_configmap_proxy_buffering(headers_lab: RunningLab, stock_lab: RunningLab) -> None:
    assert headers_lab.lab.nginx is not None and stock_lab.lab.nginx is not None
    assert "proxy_buffering on;" in headers_lab.lab.nginx.text
    assert "proxy_buffering on;" not in stock_lab.lab.nginx.text
