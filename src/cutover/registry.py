"""The registry of check kinds: one CheckInfo per kind, parity, cluster, soak and load alike.

Markers, the targets' known kinds, the report's columns and the verdict's words are derived
from it. Adding a parity kind is a module with `INFO` and `cases(targets)`, one call to
`register_check_module`, and a test module declaring `CHECK_KIND` (see README, "Adding a
check kind").
"""

from __future__ import annotations

from types import ModuleType

from cutover.checks.base import CheckInfo

__all__ = ["kinds", "parity_kinds", "register_check_module"]


def kinds() -> dict[str, CheckInfo]:
    """Every kind, in the report's order: parity kinds, then cluster kinds, then the soak."""
    # Imported here: these modules import the checks' base, which this module must not pull in
    # before cutover.checks has finished loading.
    from cutover.checks import CHECK_MODULES
    from cutover.cluster.checks import INFOS
    from cutover.soak.check import INFO as SOAK

    found = {kind: module.INFO for kind, module in CHECK_MODULES.items()}
    found.update(INFOS)
    found[SOAK.kind] = SOAK
    return found


def parity_kinds() -> tuple[str, ...]:
    """The kinds a targets file may list under a service's `checks`."""
    return tuple(kind for kind, info in kinds().items() if info.group == "parity" and not info.opt_in)


def register_check_module(module: ModuleType) -> None:
    """Add a parity check kind: a module with `INFO` (a CheckInfo) and `cases(targets)`."""
    from cutover.checks import CHECK_MODULES

    info = module.INFO
    if not isinstance(info, CheckInfo) or not callable(getattr(module, "cases", None)):
        raise TypeError(f"{module.__name__}: a check module needs INFO (a CheckInfo) and cases(targets)")
    CHECK_MODULES[info.kind] = module
