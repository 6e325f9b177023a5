"""Where cutover finds its bundled fixtures and writes its state by default."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_MANIFESTS", "default_manifests", "default_state_dir", "project_root"]

DEFAULT_MANIFESTS = "fixtures/metalkube"


def project_root() -> Path:
    """The checkout cutover runs from: the working directory if it has fixtures/, else the source tree."""
    cwd = Path.cwd()
    if (cwd / "fixtures").is_dir():
        return cwd
    return Path(__file__).resolve().parents[2]


def default_manifests() -> Path:
    return project_root() / DEFAULT_MANIFESTS


def default_state_dir() -> Path:
    return Path.cwd() / ".lab"
