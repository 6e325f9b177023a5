"""The annotation table (cutover.facts.annotations) is complete, consistent, and true to the parts
that read it: the registry's check kinds and the lab's nginx renderer."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from cutover import registry
from cutover.facts import annotations as facts
from cutover.facts.kube import NGINX_PREFIX
from cutover.lab import nginx_render
from cutover.lab.model import BackendAddress, LabLayout
from cutover.lab.nginx_render import render_nginx
from cutover.manifests import load_manifests
from tests.test_annotations import DOCUMENTED_ANNOTATIONS

SRC = Path(__file__).resolve().parents[1] / "src" / "cutover"
ROWS = facts.ANNOTATIONS


def test_the_table_holds_every_documented_annotation_once() -> None:
    names = [row.name for row in ROWS]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    # The 130 the docs name, and 11 the catalog has always carried beyond them (allowlist-source-range,
    # the global-rate-limit family, fastcgi-*, ...).
    assert set(DOCUMENTED_ANNOTATIONS) <= set(names)
    assert len(DOCUMENTED_ANNOTATIONS) == 130 and len(ROWS) == 141
    assert all(not row.name.startswith(NGINX_PREFIX) and row.key == NGINX_PREFIX + row.name for row in ROWS)
    with pytest.raises(KeyError, match="proxy-read-timeut"):
        facts.fact("proxy-read-timeut")
    assert facts.lookup("proxy-read-timeut") is None


def _inconsistencies(row: facts.AnnotationFact) -> list[str]:
    problems = []
    if row.level not in ("HIGH", "MEDIUM", "LOW"):
        problems.append(f"level {row.level!r}")
    if row.category not in ("mapped", "runtime", "unsupported"):
        problems.append(f"category {row.category!r}")
    if not row.gateway:
        problems.append("says neither what carries it on the Gateway nor why nothing does")
    if row.category == "runtime" and not row.check:
        problems.append("runtime, but names no check that proves it")
    if row.category == "unsupported" and (row.check or row.verified_by):
        problems.append("unsupported, but names a check that would verify it")
    if row.verified_by and row.check not in row.verified_by:
        problems.append(f"phase 0 names {row.check!r}, but only {row.verified_by} exercise it")
    if any(value != value.strip().lower() for value in row.defaults):
        problems.append(f"defaults {row.defaults} are compared stripped and lower-case")
    if row.modelled != bool(row.example):
        problems.append("a modelled row needs an example value (and only a modelled row has one)")
    if row.example and row.restates_default(row.example):
        problems.append(f"example {row.example!r} restates the default: it cannot change what nginx does")
    if (row.canary == "rule") != row.name.startswith("canary"):
        problems.append(f"canary {row.canary!r} for {row.name}")
    if row.critical and row.category != "unsupported":
        problems.append("a Critical-risk snippet mapped to the Gateway")
    return problems


def test_each_row_is_consistent() -> None:
    found = {row.name: problems for row in ROWS if (problems := _inconsistencies(row))}
    assert found == {}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"category": "runtime", "check": ""}, "names no check"),
        ({"check": "timeouts"}, "only ('paths',) exercise it"),
        ({"example": ""}, "needs an example"),
        ({"example": "FALSE"}, "restates the default"),
    ],
    ids=["runtime-without-check", "check-not-verifying", "modelled-without-example", "example-is-default"],
)
def test_consistency_catches_a_seeded_inconsistency(change: dict[str, str], problem: str) -> None:
    use_regex = facts.fact("use-regex")
    assert _inconsistencies(use_regex) == []
    assert any(problem in p for p in _inconsistencies(dataclasses.replace(use_regex, **change)))  # type: ignore[arg-type]


def test_check_kinds_exist_in_the_registry() -> None:
    kinds = registry.kinds()
    parity = set(registry.parity_kinds())
    for row in ROWS:
        if row.check:
            assert row.check in parity, (row.name, row.check)
        assert set(row.verified_by) <= set(kinds), (row.name, row.verified_by)
    # Each kind's CheckInfo.protects is the table's answer (plus what is not an annotation).
    for kind, info in kinds.items():
        assert tuple(name for name in info.protects if facts.lookup(name)) == facts.verified_by(kind), kind


# -- the `modelled` column against the renderer ---------------------------------------------------

_MAIN = """---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
  namespace: web{annotations}
spec:
  ingressClassName: nginx{tls}
  rules:
    - host: app.example
      http:
        paths: [{{path: /app, pathType: Prefix, backend: {{service: {{name: app, port: {{number: 80}}}}}}}}]
"""
_SECOND = """---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: beta
  namespace: web{annotations}
spec:
  ingressClassName: nginx
  rules:
    - host: app.example
      http:
        paths: [{{path: /app, pathType: Prefix, backend: {{service: {{name: beta, port: {{number: 80}}}}}}}}]
"""
_TLS = "\n  tls: [{hosts: [app.example], secretName: app-tls}]"
# A canary Ingress as the canary annotations are read on it: every row's effect shows against it.
_CANARY_BASE = ("canary", "canary-by-header", "canary-weight")


def _annotations(values: dict[str, str]) -> str:
    if not values:
        return ""
    return "\n  annotations:" + "".join(f"\n    {NGINX_PREFIX}{k}: {v!r}" for k, v in values.items())


class _Render:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.layout = LabLayout(tmp_path / "state", "127.0.0.1", 1, 2, 3, 4, 5, "127.0.100.1", "127.0.200.1")
        # Both Services have an endpoint, so what the annotation does to the upstream shows.
        for lab_port, service in enumerate(("app", "beta"), start=20001):
            self.layout.backends[("web", service, 80)] = BackendAddress(
                "web", service, 80, "127.0.0.1", lab_port, False
            )
        self.count = 0

    def __call__(self, text: str) -> nginx_render.NginxConfig:
        self.count += 1
        folder = self.tmp_path / f"m{self.count}"
        folder.mkdir()
        (folder / "ingress.yaml").write_text(text)
        return render_nginx(load_manifests(folder), self.layout)


def _scenarios(row: facts.AnnotationFact) -> list[tuple[str, str]]:
    """(without the annotation, with it) manifests in which the annotation's effect would show."""
    value = row.example or "true"
    if row.canary == "rule":
        base = {name: facts.fact(name).example for name in _CANARY_BASE if name != row.name}
        main = _MAIN.format(annotations="", tls="")
        return [
            (
                main + _SECOND.format(annotations=_annotations(base)),
                main + _SECOND.format(annotations=_annotations({**base, row.name: value})),
            )
        ]
    return [
        (_MAIN.format(annotations="", tls=tls), _MAIN.format(annotations=_annotations({row.name: value}), tls=tls))
        for tls in ("", _TLS)
    ]


def _modelled_mismatch(row: facts.AnnotationFact, render: Callable[[str], nginx_render.NginxConfig]) -> str:
    """Empty when the renderer does what the row's `modelled` says: a modelled annotation changes the
    nginx config and is not reported as unmodelled; any other leaves the config alone and is."""
    changed = noted = False
    for without, with_it in _scenarios(row):
        before, after = render(without), render(with_it)
        changed |= before.text != after.text
        noted |= any(f"annotation {row.key} is not modelled by the lab" in n.message for n in after.notes)
    if row.modelled and not changed:
        return f"{row.name}: modelled, but {row.example!r} leaves the nginx config as it was"
    if row.modelled and noted:
        return f"{row.name}: modelled, but the renderer reports it as not modelled"
    if not row.modelled and changed:
        return f"{row.name}: not modelled, but the renderer changes the nginx config for it"
    if not row.modelled and not noted:
        return f"{row.name}: not modelled, but the renderer does not say so"
    return ""


def test_modelled_is_true_to_the_renderer(tmp_path: Path) -> None:
    render = _Render(tmp_path)
    checked = [row for row in ROWS if not row.critical]
    mismatches = [m for row in checked if (m := _modelled_mismatch(row, render))]
    assert mismatches == []
    assert sum(row.modelled for row in checked) == 20


def test_critical_annotations_get_the_ingress_rejected(tmp_path: Path) -> None:
    """Above the default annotations-risk-level (High) the controller rejects the Ingress."""
    render = _Render(tmp_path)
    for row in ROWS:
        config = render(_MAIN.format(annotations=_annotations({row.name: "true"}), tls=""))
        rejected = any("Critical risk" in why for why in config.not_served.values())
        assert rejected == row.critical, (row.name, config.not_served)


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        ("proxy-send-timeout", {"modelled": False}, "not modelled, but the renderer changes the nginx config"),
        ("limit-rps", {"modelled": True, "example": "10"}, "leaves the nginx config as it was"),
        ("canary-weight-total", {"modelled": False}, "not modelled, but the renderer changes the nginx config"),
    ],
    ids=["modelled-row-marked-unmodelled", "unmodelled-row-marked-modelled", "canary-row-marked-unmodelled"],
)
def test_a_wrong_modelled_flag_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, change: dict[str, object], expected: str
) -> None:
    """A seeded fault: one row's flag flipped in the table the renderer consults."""
    wrong = dataclasses.replace(facts.fact(name), **change)  # type: ignore[arg-type]
    monkeypatch.setattr(nginx_render, "lookup", lambda short: wrong if short == name else facts.lookup(short))
    assert expected in _modelled_mismatch(wrong, _Render(tmp_path))


def _string_constants(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_the_renderer_reads_only_modelled_annotations() -> None:
    """Every table name in the renderer's source is a modelled row (or the canary names it
    consults): an annotation read there and not marked modelled is caught even without an example."""
    read = _string_constants(ast.parse((SRC / "lab" / "nginx_render.py").read_text())) & set(facts.BY_NAME)
    # "default-backend" is the upstream name nginx gives a location without a backend, not the annotation.
    read -= {"default-backend"}
    assert read and {name for name in read if not facts.fact(name).modelled} == set()


# Module-level definitions that hold these names for another reason: ConfigMap keys are the
# controller's global settings, named like the annotations but not annotations.
_NOT_ANNOTATIONS = {SRC / "lab" / "nginx_config.py"}


def _definitions(source: str) -> list[str]:
    """Module-level assignments whose value writes table names as literals, except as the argument
    of a lookup (`facts.fact("proxy-read-timeout")`), with their line."""
    found = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        names = {
            child.value
            for parent in ast.walk(node.value)
            if not isinstance(parent, ast.Call)
            for child in ast.iter_child_nodes(parent)
            if isinstance(child, ast.Constant) and isinstance(child.value, str) and child.value in facts.BY_NAME
        }
        if names:
            found.append(f"{node.lineno} {sorted(names)}")
    return found


def test_each_annotation_name_is_defined_once() -> None:
    """No module-level constant outside the table lists annotation names (a set, a dict, a tuple,
    a CheckInfo's protects): code may read a value by name; the facts about a name live in the table."""
    defined_elsewhere = [
        f"{path.relative_to(SRC)}:{where}"
        for path in sorted(SRC.rglob("*.py"))
        if path != SRC / "facts" / "annotations.py" and path not in _NOT_ANNOTATIONS
        for where in _definitions(path.read_text())
    ]
    assert defined_elsewhere == []
    # The seeded fault: the lists this table replaced are caught.
    assert _definitions('_HIGH = {"auth-url", "canary"}') == ["1 ['auth-url', 'canary']"]
    assert _definitions('INFO = CheckInfo("sse", protects=("proxy-buffering",))') == ["1 ['proxy-buffering']"]
    assert _definitions('_READ = facts.fact("proxy-read-timeout")') == []
