"""The Cilium release table (cutover.facts.cilium): which row a version gets, the lab profiles as
views over it, and the phase1 "cilium version" case agreeing with what the lab renders."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from cutover.checks.base import ProbeContext
from cutover.cluster.checks import ClusterSettings, cluster_cases
from cutover.cluster.coverage import offline_profile
from cutover.cluster.source import ManifestSource
from cutover.cluster.state import read_state
from cutover.errors import InputError
from cutover.facts.cilium import RELEASES, CiliumRelease, facts_for_version, parse_version
from cutover.lab import Lab, LabOptions
from cutover.lab.envoy_render import EnvoyConfig
from cutover.lab.profiles import DEFAULT_PROFILE, PROFILES, profile_for_version, with_stream_idle_timeout
from cutover.targets import parse_targets
from tests.conftest import CORRECTED
from tests.test_coverage_timeouts import OBJECTS as TIMEOUT_OBJECTS


# -- the lookup ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "row"),
    [
        ("1.15.0", "1.15.0"),
        # The patch that carried the 1.15 fixes is not confirmed: 1.15.x keeps 1.15.0's facts.
        ("1.15.3", "1.15.0"),
        ("1.16", "1.16.0"),
        ("v1.17.4", "1.17.0"),
        ("1.18.0-rc.1", "1.18.0"),
        ("1.19.2", "1.19.0"),
        ("1.20", "1.20.0"),
        ("1.20.0", "1.20.0"),
        ("1.20.1", "1.20.1"),
        # Newer than the table: the newest row, its known bugs assumed to persist.
        ("1.20.7", "1.20.1"),
        ("1.23.0", "1.20.1"),
        # Older than the table: the oldest row (the fixes came later).
        ("1.14.6", "1.15.0"),
    ],
)
def test_facts_for_version(version: str, row: str) -> None:
    assert facts_for_version(version).version == row


@pytest.mark.parametrize("version", ["", "latest", "1", "one.two", "1.17.x"])
def test_a_version_that_is_not_one_is_an_input_error(version: str) -> None:
    with pytest.raises(InputError, match="is not a Cilium version"):
        facts_for_version(version)


def test_the_table_is_ordered_and_each_name_is_defined_once() -> None:
    versions = [parse_version(r.version) for r in RELEASES]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    names = [r.lab_profile for r in RELEASES if r.lab_profile is not None]
    assert len(set(names)) == len(names)
    assert DEFAULT_PROFILE in PROFILES


def test_the_bundle_crash_is_specific_to_its_line_and_bundle() -> None:
    """Close to the threshold: 1.19 with v1.5.1 crashes; 1.19 with v1.4.1 and 1.20 with v1.5.1 do not."""
    assert facts_for_version("1.19.2").crashes_with("v1.5.1")
    assert not facts_for_version("1.19.2").crashes_with("v1.4.1")
    assert not facts_for_version("1.19.2").crashes_with("v1.50.0")
    assert not facts_for_version("1.20.0").crashes_with("v1.5.1")


# -- profiles are views ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PROFILES))
def test_each_lab_profile_reads_its_release_row(name: str) -> None:
    profile = PROFILES[name]
    release = profile.release
    assert release.lab_profile == name
    for item in fields(CiliumRelease):
        if item.name in ("version", "lab_profile", "incompatible_bundles"):
            continue
        assert getattr(profile, item.name) == getattr(release, item.name), item.name
    assert profile.cilium_version == release.version
    assert profile_for_version(release.version) is profile


def test_the_stream_idle_timeout_is_the_only_lab_override() -> None:
    profile = with_stream_idle_timeout(PROFILES["cilium-1.20"], 4.0)
    assert profile.stream_idle_timeout == 4.0
    assert PROFILES["cilium-1.20"].stream_idle_timeout == PROFILES["cilium-1.20"].release.stream_idle_timeout == 300.0


def test_a_release_without_a_lab_profile_gets_a_view() -> None:
    """Offline route status for a 1.19 cluster is computed with 1.19's facts, not the default's."""
    profile = offline_profile(ClusterSettings(cilium_version="1.19.3"))
    assert profile.name == "cilium-1.19.0" and profile.release.version == "1.19.0"
    assert profile.name not in PROFILES
    assert offline_profile(ClusterSettings()).name == DEFAULT_PROFILE


# -- the cluster check and the lab agree ------------------------------------------------------
# A portless scheme redirect (301, accepted by every release) on the HTTP listener, beside the
# corrected folder's 308 one: it shows the scheme guard (1.20) and the first-listener port (1.15.0).
EXTRA_REDIRECT = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: extra-redirect, namespace: kube-system}
spec:
  parentRefs: [{name: metalkube-gateway, namespace: kube-system, sectionName: http}]
  hostnames: ["extra.metalkube.internal"]
  rules:
    - filters:
        - type: RequestRedirect
          requestRedirect: {scheme: https, statusCode: 301}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    manifests = tmp_path_factory.mktemp("facts") / "manifests"
    shutil.copytree(CORRECTED, manifests)
    (manifests / "gateway" / "extra-redirect.yaml").write_text(EXTRA_REDIRECT)
    return manifests


def _rendered(folder: Path, state: Path, profile: str) -> EnvoyConfig:
    lab = Lab(LabOptions(manifests=folder, state_dir=state, profile=profile, detach=False))
    lab.prepare()
    assert lab.envoy is not None
    return lab.envoy


def _routes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "match" in node and ("route" in node or "redirect" in node):
            yield node
        for value in node.values():
            yield from _routes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _routes(value)


def _lab_says(envoy: EnvoyConfig) -> dict[str, bool]:
    """What the rendered Envoy configuration shows, implication by implication."""
    routes = list(_routes(envoy.bootstrap))
    forwarding = [r for r in routes if "route" in r and "timeout" not in r["route"]]
    redirects = [r for r in routes if "redirect" in r and r["redirect"].get("scheme_redirect") == "https"]
    notes = " ".join(str(n) for n in envoy.notes)
    argocd = [mode for (namespace, service, _), mode in envoy.upstream_modes.items() if service == "argocd-server"]
    return {
        "BackendTLSPolicy needs": argocd == ["plaintext"],
        "default to routes without timeouts": bool(forwarding)
        and all("max_stream_duration" not in r["route"] for r in forwarding),
        "accepts no RequestRedirect statusCode": "statusCode 308 is not accepted" in notes,
        "answers 404": bool(redirects)
        and all(
            any(h.get("name") == "x-forwarded-proto" and h.get("invert_match") for h in r["match"].get("headers", []))
            for r in redirects
        ),
        "first listener's port": "cilium/cilium#29099" in notes,
    }


def _disagreements(name: str, folder: Path, state_dir: Path) -> list[str]:
    """Implications the phase1 case states for the profile's version that the lab's rendering
    of the same folder does not show, and the reverse."""
    profile = PROFILES[name]
    state = read_state(ManifestSource(folder))
    settings = ClusterSettings(bundle_version="v1.6.1", cilium_version=profile.cilium_version)
    (case,) = [c for c in cluster_cases("phase1", state, settings) if c.probe == "cilium version"]
    assert case.runner is not None
    context = ProbeContext(
        parse_targets({"endpoints": {"nginx": {"address": "-"}, "gateway": {"address": "-"}}, "services": []})
    )
    implications = " | ".join(case.run(context).evidence["implications"])
    lab = _lab_says(_rendered(folder, state_dir, name))
    return [
        f"{phrase}: check {phrase in implications}, lab {shown}"
        for phrase, shown in lab.items()
        if (phrase in implications) != shown
    ]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_phase1_cilium_version_agrees_with_the_lab_profile(name: str, folder: Path, tmp_path: Path) -> None:
    """For each release with a lab profile: every implication the phase1 case states for that
    version is one the lab's rendering of the same folder shows, and none it does not."""
    assert _disagreements(name, folder, tmp_path / "lab") == []


def test_a_profile_drifting_from_the_table_is_caught(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seeded drift: the lab's cilium-1.16 renders the 15 s route default while the table (and so
    the check) says 1.16 has none."""
    drifted = replace(PROFILES["cilium-1.16"], release=replace(facts_for_version("1.16.0"), route_default_timeout=15.0))
    monkeypatch.setitem(PROFILES, "cilium-1.16", drifted)
    assert _disagreements("cilium-1.16", folder, tmp_path / "lab") == [
        "default to routes without timeouts: check False, lab True"
    ]


SYSTEM_CA = """
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: argocd-backend-tls, namespace: argocd}
spec:
  targetRefs: [{group: "", kind: Service, name: argocd-server}]
  validation: {wellKnownCACertificates: System, hostname: argocd-server.argocd.svc}
"""


@pytest.mark.parametrize("name", sorted(n for n, p in PROFILES.items() if p.supports_backend_tls_policy))
def test_the_system_ca_implication_agrees_with_the_lab(name: str, folder: Path, tmp_path: Path) -> None:
    """cilium#48307: the implication is stated exactly for the releases whose lab rendering talks
    plaintext to a backend whose policy names the System CAs."""
    system = tmp_path / "system"
    shutil.copytree(folder, system)
    (system / "gateway" / "argocd-backendtls.yaml").write_text(SYSTEM_CA)
    envoy = _rendered(system, tmp_path / "lab", name)
    modes = [mode for (_, service, _), mode in envoy.upstream_modes.items() if service == "argocd-server"]
    stated = any(
        "wellKnownCACertificates System talks plaintext" in line for line in PROFILES[name].release.implications()
    )
    assert modes == (["plaintext"] if stated else ["tls"]), (name, modes)


# -- the coverage check's route default, from the table ------------------------------------------
@pytest.mark.parametrize(
    ("version", "flagged"),
    [("1.15.0", True), ("1.15.3", True), ("1.16.0", False), ("1.20.1", False), (None, True)],
)
def test_the_route_default_warning_follows_the_table(tmp_path: Path, version: str | None, flagged: bool) -> None:
    """A route without timeouts in front of proxy-read-timeout 120: Envoy's 15 s default may cut it
    on the 1.15 line and when the version is unknown; from 1.16 on Cilium switches it off."""
    directory = tmp_path / "objects"
    directory.mkdir()
    (directory / "objects.yaml").write_text(
        TIMEOUT_OBJECTS.replace("V1_TIMEOUTS", "filters: []").replace("BATCH_TIMEOUTS", "filters: []")
    )
    context = ProbeContext(
        parse_targets({"endpoints": {"nginx": {"address": "-"}, "gateway": {"address": "-"}}, "services": []})
    )
    cases = cluster_cases("coverage", read_state(ManifestSource(directory)), ClusterSettings(cilium_version=version))
    outcome = next(c for c in cases if c.id == "llm[timeouts]").run(context)
    lines = [d.line() for d in outcome.failures]
    if flagged:
        assert len(lines) == 2 and all("Envoy's 15 s route default may apply" in line for line in lines), lines
    else:
        assert lines == []
