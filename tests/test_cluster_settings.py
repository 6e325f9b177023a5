"""Cluster source choice and settings (cutover.cluster.settings), and the soak's options
(cutover.soak.source), without pytest's config: the plugin only hands the values over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover.cluster.settings import ClusterOptions, cluster_settings, no_cluster_cases, read_cluster
from cutover.errors import InputError
from cutover.soak.source import options_from
from cutover.targets import ServiceTarget, Targets, parse_targets
from tests.conftest import CORRECTED


@pytest.mark.parametrize(
    ("options", "kind"),
    [
        (ClusterOptions(), "manifests"),  # the lab's own manifests
        (ClusterOptions(targets_option="t.yaml"), None),  # targets alone: no cluster, never the fixtures
        (ClusterOptions(targets_ini="t.yaml"), None),
        (ClusterOptions(targets_option="t.yaml", manifests="m"), "manifests"),
        (ClusterOptions(targets_option="t.yaml", kubeconfig="k"), "api"),
        (ClusterOptions(context="c"), "api"),
        (ClusterOptions(shared_kubeconfig="k"), "api"),
        (ClusterOptions(in_cluster=True, manifests="m"), "api"),
    ],
)
def test_source_kind(options: ClusterOptions, kind: str | None) -> None:
    assert options.source_kind == kind


def _targets(*services: tuple[str, str, str | None]) -> Targets:
    return parse_targets(
        {
            "endpoints": {"nginx": {"address": "-"}, "gateway": {"address": "-"}},
            "services": [
                {"name": name, "host": host, "wave": 1, **({"backend_tls": {"mode": mode}} if mode else {})}
                for name, host, mode in services
            ],
        }
    )


def test_offline_settings_take_the_profile_and_the_overlay() -> None:
    options = ClusterOptions(manifests=str(CORRECTED), profile="cilium-1.20.1")
    cluster = read_cluster(options)
    called: list[int] = []

    def targets() -> Targets:
        called.append(1)
        return _targets(("grafana", "grafana.example", None))

    settings = cluster_settings(options, cluster, targets)
    assert settings.cilium_version == "1.20.1"
    assert settings.target_hosts == {"grafana.example"}
    assert called  # offline: the lab's targets name the hosts


def test_targets_decide_option_b_and_a_given_version_wins() -> None:
    options = ClusterOptions(manifests=str(CORRECTED), targets_option="t.yaml", cilium_version="1.19.1")
    settings = cluster_settings(
        options, read_cluster(options), lambda: _targets(("argocd", "a.example", "B"), ("web", "w.example", None))
    )
    assert settings.option_b == {"argocd"} and settings.cilium_version == "1.19.1"


def test_an_unknown_profile_is_an_input_error() -> None:
    options = ClusterOptions(manifests=str(CORRECTED), profile="cilium-9")
    with pytest.raises(InputError, match="unknown gateway profile"):
        cluster_settings(options, read_cluster(options), lambda: _targets())


def test_no_cluster_cases_are_not_run_per_service_or_once_cluster_wide() -> None:
    services = [ServiceTarget(name="a", host="a.example", wave=2), ServiceTarget(name="b", host="b.example", wave=3)]
    coverage = no_cluster_cases("coverage", lambda: services)
    assert [(c.service.name, c.skip_kind) for c in coverage] == [("a", "not run"), ("b", "not run")]
    (phase1,) = no_cluster_cases("phase1", lambda: services)
    assert phase1.service.name == "cluster" and "no cluster source" in str(phase1.skip_reason)


def test_soak_options_from_a_getter(tmp_path: Path) -> None:
    given: dict[str, Any] = {
        "--hubble-relay": None,
        "--hubble-flows": str(tmp_path),
        "--soak-window": "2h",
        "--soak-until": None,
        "--soak-max-gap": "10m",
        "--hubble-tls-ca": "ca.pem",
        "--hubble-tls-server-name": None,
        "--hubble-tls-cert": None,
        "--hubble-tls-key": None,
    }
    options = options_from(given.__getitem__)
    assert (options.flows, options.window, options.max_gap, options.tls.ca) == (str(tmp_path), "2h", "10m", "ca.pem")
