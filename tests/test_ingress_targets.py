"""One Ingress-to-service translation: the lab's targets and `inventory --draft-targets` agree."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from cutover.cluster.inventory import draft_targets
from cutover.cluster.source import ManifestSource
from cutover.cluster.state import read_state
from cutover.ingress_targets import service_entry
from cutover.lab.lab import Lab, LabOptions
from cutover.targets import parse_targets
from tests.conftest import METALKUBE

# A second `grafana`, in another namespace and on another host: the same Ingress name twice.
SAME_NAME_ELSEWHERE = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: grafana, namespace: staging}
spec:
  ingressClassName: nginx
  rules:
    - host: grafana.staging.internal
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: grafana, port: {number: 3000}}}
"""


def _shared(entry: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    result = {key: entry[key] for key in keys}
    result["timeouts"] = {"read_timeout": entry["timeouts"]["read_timeout"]}
    return result


def _both(manifests: Path, state: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    lab_services = Lab(LabOptions(manifests=manifests, state_dir=state)).prepare()["services"]
    draft_services = draft_targets(read_state(ManifestSource(manifests)))["services"]
    return {s["name"]: s for s in lab_services}, {s["name"]: s for s in draft_services}


def _keys(manifests: Path) -> list[str]:
    state = read_state(ManifestSource(manifests))
    return list(service_entry(state.manifests, state.manifests.ingresses[0]))


def test_the_draft_targets_of_the_bundled_fixture_equal_what_the_lab_derives(tmp_path: Path) -> None:
    lab, draft = _both(METALKUBE, tmp_path / "state")
    assert (
        sorted(lab) == sorted(draft) == sorted(["grafana", "mlflow", "ml-serving", "llm-gateway", "qdrant", "argocd"])
    )
    keys = _keys(METALKUBE)
    for name in lab:
        assert _shared(draft[name], keys) == _shared(lab[name], keys), name


@pytest.mark.parametrize("where", ["lab", "draft"])
def test_an_ingress_name_used_in_two_namespaces_names_both_services_by_namespace(tmp_path: Path, where: str) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(METALKUBE, manifests)
    (manifests / "ingress" / "staging-grafana.yaml").write_text(SAME_NAME_ELSEWHERE)
    lab, draft = _both(manifests, tmp_path / "state")
    services = lab if where == "lab" else draft
    assert {"monitoring/grafana", "staging/grafana"} <= set(services) and "grafana" not in services
    assert services["staging/grafana"]["host"] == "grafana.staging.internal"
    keys = _keys(manifests)
    assert {n: _shared(s, keys) for n, s in lab.items()} == {n: _shared(s, keys) for n, s in draft.items()}
    # Either is a valid targets file once the endpoints are filled in (a name listed twice is refused).
    document = {
        "endpoints": {"nginx": {"address": "127.0.0.1"}, "gateway": {"address": "127.0.0.2"}},
        "vantage_points": {"office": {"address": "127.0.10.5"}, "outside": {"address": "127.0.99.5"}},
        "services": list(services.values()),
    }
    assert len(parse_targets(document).services) == 7
