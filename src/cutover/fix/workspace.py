"""A patched copy of a manifests directory, edited object by object.

Unchanged documents are copied byte for byte; a changed document is written again from its
object, under a comment naming the finding it closes (the document's own leading comments
are kept above it); a new object gets a file of its own under `cutover-fix/`.
"""

from __future__ import annotations

import difflib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cutover.errors import InputError
from cutover.manifests import OVERLAY_NAMES, yaml_files
from cutover.yamlread import parse_one, read_text

__all__ = ["NEW_OBJECTS_DIR", "Workspace", "YamlDocument", "dump"]

NEW_OBJECTS_DIR = "cutover-fix"
_SEPARATOR = re.compile(r"^---\s*(#.*)?$")


class _IndentedDumper(yaml.SafeDumper):
    """Lists indented under their key, as Kubernetes manifests are usually written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_IndentedDumper, sort_keys=False, default_flow_style=False, width=120)


@dataclass
class YamlDocument:
    text: str
    obj: Any
    notes: list[str] = field(default_factory=list)
    # A new object: rendered from obj (which may still change) under this comment.
    header: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.notes)

    def objects(self) -> Iterator[dict[str, Any]]:
        if not isinstance(self.obj, dict):
            return
        if str(self.obj.get("kind", "")).endswith("List"):
            yield from (item for item in self.obj.get("items") or [] if isinstance(item, dict))
        else:
            yield self.obj

    def render(self) -> str:
        if self.header is not None:
            return self.header + dump(self.obj)
        if not self.changed:
            return self.text
        leading = []
        for line in self.text.splitlines():
            if line.startswith("#") or not line.strip():
                leading.append(line)
                continue
            break
        notes = [f"# cutover fix: {note}" for note in dict.fromkeys(self.notes)]
        body = dump(self.obj)
        return "\n".join([*notes, *[line for line in leading if line.strip()]]) + "\n" + body


@dataclass
class _File:
    relative: Path
    documents: list[YamlDocument]
    separators: list[str]
    new: bool = False

    def render(self) -> str:
        parts: list[str] = []
        for index, document in enumerate(self.documents):
            if index:
                separator = self.separators[index - 1]
                parts.append(separator if separator.endswith("\n") else separator + "\n")
            rendered = document.render()
            parts.append(rendered if rendered.endswith("\n") or not rendered else rendered + "\n")
        return "".join(parts)


def _split(text: str) -> tuple[list[str], list[str]]:
    chunks: list[str] = []
    separators: list[str] = []
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if _SEPARATOR.match(line.rstrip("\n")):
            chunks.append("".join(current))
            separators.append(line)
            current = []
        else:
            current.append(line)
    chunks.append("".join(current))
    return chunks, separators


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    metadata = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


class Workspace:
    """Every YAML file of a manifests directory, as editable documents."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[_File] = []
        for path in yaml_files(root):
            chunks, separators = _split(read_text(path))
            documents = []
            first_line = 0
            for chunk in chunks:
                obj = parse_one(chunk, str(path), first_line) if chunk.strip() else None
                documents.append(YamlDocument(chunk, obj))
                # The chunk's lines and the separator line after it.
                first_line += chunk.count("\n") + 1
            self.files.append(_File(path.relative_to(root), documents, separators))

    def find(self, kind: str, namespace: str, name: str) -> tuple[YamlDocument, dict[str, Any]] | None:
        """The document holding an object, and the object itself (an item of a List included)."""
        for file in self.files:
            for document in file.documents:
                for obj in document.objects():
                    found_kind, found_namespace, found_name = _key(obj)
                    if found_kind == kind and found_name == name and found_namespace in (namespace, ""):
                        return document, obj
        return None

    def add(self, file_name: str, obj: dict[str, Any], comment: str) -> None:
        """A new object in a file of its own (several objects may share one file)."""
        relative = Path(NEW_OBJECTS_DIR) / file_name
        header = "".join(f"# {line}\n" for line in comment.splitlines())
        document = YamlDocument("", obj, header=header)
        for file in self.files:
            if file.relative == relative:
                file.documents.append(document)
                file.separators.append("---\n")
                return
        self.files.append(_File(relative, [document], [], new=True))

    def rendered(self) -> dict[Path, str]:
        return {file.relative: file.render() for file in self.files}

    def diff(self) -> str:
        """A unified diff of every changed or new file against the original directory."""
        lines: list[str] = []
        for file in self.files:
            after = file.render()
            before = "" if file.new else (self.root / file.relative).read_text(encoding="utf-8")
            if before == after:
                continue
            lines.extend(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile="/dev/null" if file.new else f"a/{file.relative}",
                    tofile=f"b/{file.relative}",
                )
            )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def write(self, out: Path) -> None:
        """The patched copy: every file of the original directory (non-YAML ones and the overlay
        too), changed files rewritten, new files added. Never writes below the original."""
        if out.resolve() == self.root.resolve() or out.resolve().is_relative_to(self.root.resolve()):
            raise InputError("must not be the manifests directory or inside it", file=str(out))
        if out.exists() and any(out.iterdir()):
            raise InputError("exists and is not empty: cutover fix writes a fresh copy", file=str(out))
        shutil.copytree(self.root, out, dirs_exist_ok=True)
        for relative, text in self.rendered().items():
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

    @staticmethod
    def overlay(root: Path) -> Path | None:
        for name in sorted(OVERLAY_NAMES):
            if (root / name).is_file():
                return root / name
        return None
