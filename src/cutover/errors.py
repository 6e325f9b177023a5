"""The exceptions cutover raises. Every message is one full sentence a user can act on."""

from __future__ import annotations

__all__ = [
    "CutoverError",
    "InputError",
    "LabError",
    "PortBusyError",
    "ToolMissingError",
]


class CutoverError(Exception):
    """Base class of every error cutover raises on purpose."""

    exit_code = 1


class InputError(CutoverError):
    """A file the user handed us is unusable: names the file (and line), the object and the field."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        obj: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.obj = obj
        self.field = field
        self.hint = hint
        self.detail = message
        place = f"{file}:{line}" if file and line else file
        where = ": ".join(part for part in (place, obj, field) if part)
        text = f"{where}: {message}" if where else message
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)


class LabError(CutoverError):
    """The embedded lab could not start or stop."""

    exit_code = 2


class ToolMissingError(LabError):
    """nginx or envoy is not installed where the lab looks for it."""


class PortBusyError(LabError):
    """A loopback port the lab was told to use is taken."""
