"""The manifests loader: empty, partial and full directories, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutover.errors import InputError
from cutover.manifests import load_manifests, parse_duration
from tests.conftest import CORRECTED, METALKUBE


def test_full_fixture_loads_every_object() -> None:
    manifests = load_manifests(METALKUBE)
    assert [i.name for i in manifests.ingresses] == [
        "grafana",
        "mlflow",
        "ml-serving",
        "llm-gateway",
        "qdrant",
        "argocd",
    ]
    assert len(manifests.http_routes) == 6
    assert [g.name for g in manifests.gateways] == ["metalkube-gateway"]
    assert manifests.backend_tls_policies[0].api_version == "gateway.networking.k8s.io/v1alpha3"
    assert len(manifests.services) == 6
    llm = next(r for r in manifests.http_routes if r.name == "llm-gateway")
    assert llm.rules[0].timeout_request == 120.0


def test_corrected_fixture_has_the_redirect_route() -> None:
    manifests = load_manifests(CORRECTED)
    redirect = next(r for r in manifests.http_routes if r.name == "https-redirect")
    assert redirect.parent_refs[0].section_name == "http"


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"holds no \.yaml"):
        load_manifests(tmp_path)


def test_partial_directory_and_kubectl_list(tmp_path: Path) -> None:
    (tmp_path / "backup.yaml").write_text(
        """
apiVersion: v1
kind: List
items:
  - apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: a, namespace: ns}
    spec:
      rules:
        - host: a.example
          http:
            paths:
              - path: /x
                backend: {service: {name: svc, port: {number: 80}}}
"""
    )
    manifests = load_manifests(tmp_path)
    assert manifests.ingresses[0].paths[0].path_type == "Prefix"  # a missing pathType is Prefix
    assert manifests.gateways == []


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Ingress\nmetadata: {name: [\n")
    with pytest.raises(InputError) as error:
        load_manifests(tmp_path)
    assert str(bad) in str(error.value) and "line" in str(error.value)


def test_missing_field_names_object_and_field(tmp_path: Path) -> None:
    (tmp_path / "i.yaml").write_text(
        """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: broken, namespace: web}
spec:
  rules:
    - host: a.example
      http:
        paths:
          - path: /x
            pathType: Prefix
            backend: {service: {port: {number: 80}}}
"""
    )
    with pytest.raises(InputError) as error:
        load_manifests(tmp_path)
    message = str(error.value)
    assert "Ingress web/broken" in message
    assert "spec.rules[0].http.paths[0].backend.service.name" in message
    assert "is missing" in message


def test_bad_timeout_duration(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: n}
spec:
  parentRefs: [{name: g}]
  rules:
    - timeouts: {request: "two minutes"}
"""
    )
    with pytest.raises(InputError, match=r"spec.rules\[0\].timeouts.request"):
        load_manifests(tmp_path)


TWO_INGRESSES = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: fine, namespace: web}
spec:
  rules:
    - host: a.example
      http:
        paths:
          - path: /
            backend: {service: {name: a, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: broken, namespace: web}
spec:
  rules:
    - host: b.example
      http:
        paths:
          - path: /
            backend:
              service:
                name: b
                port: {number: eighty}
"""


def test_wrong_typed_field_names_file_line_object_and_field(tmp_path: Path) -> None:
    # The second document's port (line 24) is a word: the complaint names the line of the field,
    # not the first document's nor the object's first line.
    bad = tmp_path / "two.yaml"
    bad.write_text(TWO_INGRESSES)
    with pytest.raises(InputError) as error:
        load_manifests(tmp_path)
    assert str(error.value) == (
        f"{bad}:24: Ingress web/broken: spec.rules[0].http.paths[0].backend.service.port.number: "
        "must be a port number from 1 to 65535, got 'eighty'"
    )
    assert error.value.line == 24


def test_a_missing_field_of_a_list_item_points_at_its_parent(tmp_path: Path) -> None:
    # A `kubectl get -o yaml` List whose second item lacks its backend Service's name: the
    # complaint points at the parent `service:` (line 24) within that item.
    backup = tmp_path / "backup.yaml"
    backup.write_text(
        """\
apiVersion: v1
kind: List
items:
  - apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: fine, namespace: web}
    spec:
      rules:
        - host: a.example
          http:
            paths:
              - path: /
                backend: {service: {name: a, port: {number: 80}}}
  - apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: broken, namespace: web}
    spec:
      rules:
        - host: b.example
          http:
            paths:
              - path: /
                backend:
                  service:
                    port: {number: 80}
"""
    )
    with pytest.raises(InputError) as error:
        load_manifests(tmp_path)
    assert (error.value.line, error.value.obj) == (24, "Ingress web/broken")
    assert error.value.field == "spec.rules[0].http.paths[0].backend.service.name"


def test_a_document_that_is_not_an_object_is_named_by_line(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text(TWO_INGRESSES.split("---")[0] + "---\n# a comment\n- just\n- a list\n")
    with pytest.raises(InputError, match=r"list\.yaml:13: document 2 is a list, not a Kubernetes object"):
        load_manifests(tmp_path)


@pytest.mark.parametrize(("text", "seconds"), [("120s", 120.0), ("1m30s", 90.0), ("500ms", 0.5), ("0s", 0.0)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
