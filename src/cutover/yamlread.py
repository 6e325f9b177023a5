"""One reader for the YAML a user hands cutover: the manifests, the targets file, the overlay.

Reading is fast (libyaml when PyYAML has it) and knows nothing of lines; only when a
complaint is raised is the file composed again to find the line of the document or field it
names. Every complaint is one InputError naming file (and line), object and field.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from cutover.errors import InputError

__all__ = [
    "Fields",
    "document_line",
    "document_locator",
    "field_line",
    "load_all",
    "load_one",
    "parse_all",
    "parse_one",
    "read_text",
]

# libyaml's loader when PyYAML has it: the same safe subset, about six times faster, which
# matters for estates of hundreds of objects.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A field path as the readers write it: `spec.rules[0].http`, `services[grafana].paths[2]`.
_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")

# Finds the node a complaint is about in a file's composed documents, or None.
Locator = Callable[[str], int | None]


def read_text(path: Path, hint: str | None = None) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror or exc}", file=str(path), hint=hint) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot be read: {exc}", file=str(path), hint=hint) from None


def _syntax_error(exc: yaml.YAMLError, file: str, line_offset: int = 0) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1 + line_offset}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return InputError(f"is not valid YAML{where}: {problem}", file=file)


def parse_all(text: str, file: str) -> list[Any]:
    """Every document of a (multi-)document text, empty ones as None."""
    try:
        return list(yaml.load_all(text, Loader=_SAFE_LOADER))
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, file) from None


def parse_one(text: str, file: str, line_offset: int = 0) -> Any:
    """The one document of a text (None when empty); line_offset places a chunk of a larger file."""
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, file, line_offset) from None


def load_all(path: Path, hint: str | None = None) -> list[Any]:
    return parse_all(read_text(path, hint), str(path))


def load_one(path: Path, hint: str | None = None) -> Any:
    file = str(path)
    documents = [d for d in parse_all(read_text(path, hint), file) if d is not None]
    if len(documents) > 1:
        raise InputError(f"holds {len(documents)} YAML documents, expected one", file=file, hint=hint)
    return documents[0] if documents else None


# -- finding a line, only when a complaint needs one ------------------------------------------


def _compose(file: str) -> list[yaml.Node]:
    try:
        stat = Path(file).stat()
    except (OSError, ValueError):
        return []  # not a file: objects read from the API, or added by a lab fault
    return _compose_version(file, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _compose_version(file: str, mtime_ns: int, size: int) -> list[yaml.Node]:
    """A file's composed documents, kept while it is unchanged: a lenient read may complain
    about many routes of one file."""
    try:
        text = Path(file).read_text(encoding="utf-8")
        return [node for node in yaml.compose_all(text, Loader=_SAFE_LOADER) if node is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []


def _child(node: yaml.Node, segment: str) -> tuple[yaml.Node, int] | None:
    """The node under one path segment and the line that names it (a key's own line)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == segment:
                return value, key.start_mark.line
    elif isinstance(node, yaml.SequenceNode):
        if segment.isdigit():
            index = int(segment)
            if index < len(node.value):
                return node.value[index], node.value[index].start_mark.line
            return None
        # `services[grafana]`: the item whose name is the segment.
        for item in node.value:
            name = _child(item, "name")
            if name is not None and isinstance(name[0], yaml.ScalarNode) and name[0].value == segment:
                return item, item.start_mark.line
    return None


def _walk(node: yaml.Node, field_path: str) -> int:
    """The 1-based line of the deepest node of field_path the document has (its parent, for a
    missing field)."""
    line = node.start_mark.line
    for name, index in _SEGMENT.findall(field_path):
        found = _child(node, name or index)
        if found is None:
            break
        node, line = found
    return line + 1


def field_line(file: str, field_path: str, document: int = 0) -> int | None:
    """The line of a field of a single-document file such as the targets file."""
    nodes = _compose(file)
    if document >= len(nodes):
        return None
    return _walk(nodes[document], "" if field_path.startswith("(") else field_path)


def _scalar(node: yaml.Node, *path: str) -> str | None:
    for segment in path:
        found = _child(node, segment)
        if found is None:
            return None
        node = found[0]
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _objects(nodes: Iterable[yaml.Node]) -> Iterable[yaml.Node]:
    for node in nodes:
        kind = _scalar(node, "kind") or ""
        items = _child(node, "items")
        if kind.endswith("List") and items is not None and isinstance(items[0], yaml.SequenceNode):
            yield from items[0].value
        else:
            yield node


def document_locator(file: str, kind: str, namespace: str, name: str) -> Locator:
    """Lines within the object of that kind and name in a (multi-)document file or List."""

    def locate(field_path: str) -> int | None:
        for node in _objects(_compose(file)):
            if _scalar(node, "kind") != kind or _scalar(node, "metadata", "name") != name:
                continue
            if _scalar(node, "metadata", "namespace") not in (None, "", namespace):
                continue
            return _walk(node, field_path)
        return None

    return locate


def document_line(file: str, index: int) -> int | None:
    """The first line of the index-th (0-based) non-empty document of a file."""
    nodes = _compose(file)
    return nodes[index].start_mark.line + 1 if index < len(nodes) else None


# -- typed field access -------------------------------------------------------------------------


class Fields:
    """Field access for one object that raises a one-line InputError naming file, line, object
    and field. The line is looked up only when a complaint is raised."""

    def __init__(self, file: str, obj: str, locate: Locator | None = None) -> None:
        self.file = file
        self.obj = obj
        self._locate = locate

    def fail(self, field_path: str, message: str, hint: str | None = None) -> InputError:
        line = self._locate(field_path) if self._locate is not None else None
        return InputError(message, file=self.file, line=line, obj=self.obj, field=field_path, hint=hint)

    def mapping(self, value: Any, field_path: str, *, required: bool) -> dict[str, Any]:
        if value is None:
            if required:
                raise self.fail(field_path, "is missing")
            return {}
        if not isinstance(value, dict):
            raise self.fail(field_path, f"must be a mapping, got {type(value).__name__}")
        return value

    def sequence(self, value: Any, field_path: str, *, required: bool = False) -> list[Any]:
        if value is None:
            if required:
                raise self.fail(field_path, "is missing")
            return []
        if not isinstance(value, list):
            raise self.fail(field_path, f"must be a list, got {type(value).__name__}")
        return value

    def string(self, value: Any, field_path: str, *, required: bool = True, default: str = "") -> str:
        if value is None or value == "":
            if required:
                raise self.fail(field_path, "is missing")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(field_path, f"must be a string, got {type(value).__name__}")
        return str(value)

    def integer(self, value: Any, field_path: str, minimum: int = 0, maximum: int = 65535) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self.fail(field_path, f"must be a whole number from {minimum} to {maximum}, got {value!r}")
        return value

    def port(self, value: Any, field_path: str, *, required: bool = True) -> int | None:
        if value is None:
            if required:
                raise self.fail(field_path, "is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise self.fail(field_path, f"must be a port number from 1 to 65535, got {value!r}")
        return value

    def boolean(self, value: Any, field_path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(field_path, f"must be true or false, got {value!r}")
        return value

    def known(self, entry: dict[str, Any], field_path: str, allowed: tuple[str, ...]) -> None:
        """Refuse keys the entry may not hold, suggesting the closest allowed one: a typo such as
        `https_prot` would otherwise fall back to a default without a word."""
        for key in entry:
            if str(key) in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed)}"
            raise self.fail(field_path, f"unknown key {key!r}; {hint}")
