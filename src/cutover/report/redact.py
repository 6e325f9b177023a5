"""Secrets never reach the report: header values that carry credentials are replaced."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["REDACTED", "is_sensitive", "redact"]

REDACTED = "[redacted]"
_SENSITIVE = re.compile(
    r"(^|[-_:])(authorization|proxy-authorization|cookie|set-cookie|api[-_]?key|x-api-key|apikey|token|"
    r"secret|password|passwd|x-auth[-_][a-z-]*|x-amz-security-token|kubeconfig|client-key-data|"
    r"client-certificate-data|bearer)([-_]|$)",
    re.IGNORECASE,
)


def is_sensitive(name: str, extra: Iterable[str] = ()) -> bool:
    lowered = name.lower().split(":", 1)[-1]
    return bool(_SENSITIVE.search(lowered)) or lowered in {e.lower() for e in extra}


def redact(value: Any, extra: Iterable[str] = ()) -> Any:
    """A copy of value with every sensitive key's value (and difference row) replaced."""
    names = [e.lower() for e in extra]
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        field = value.get("field")
        sensitive_row = isinstance(field, str) and is_sensitive(field, names)
        for key, item in value.items():
            if isinstance(key, str) and is_sensitive(key, names):
                result[key] = REDACTED if item is not None else None
            elif sensitive_row and key in ("nginx", "gateway") and item is not None:
                result[key] = REDACTED
            else:
                result[key] = redact(item, names)
        return result
    if isinstance(value, list):
        return [redact(item, names) for item in value]
    if isinstance(value, str) and re.search(r"(?i)\bbearer\s+[a-z0-9._~+/=-]{8,}", value):
        return re.sub(r"(?i)(\bbearer\s+)[a-z0-9._~+/=-]{8,}", r"\1" + REDACTED, value)
    return value
