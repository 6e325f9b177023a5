"""The registry of check kinds: one CheckInfo per kind, parity, cluster, soak and load alike.

Markers, the targets' known kinds, the report's columns and the verdict's words are derived
from it. Adding a parity kind is a module with `INFO` and `cases(targets)`, its name on one line
of `PARITY_MODULES` (or one call to `register_check_module`), and a test module declaring
`CHECK_KIND` (see README, "Adding a check kind").

Like testinfra's table of modules, the registry names the modules that hold the kinds and loads
them when first asked: it stands below the checks (which read the targets, which ask the registry
for the kinds a targets file may name) and imports none of them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

__all__ = ["PARITY_MODULES", "CheckInfo", "kinds", "parity_kinds", "parity_modules", "register_check_module"]


@dataclass(frozen=True)
class CheckInfo:
    """The one description of a check kind: everything else (markers, the targets' known
    kinds, the report's columns, the verdict's words, annotation coverage) is derived from it."""

    kind: str
    title: str
    description: str
    protects: tuple[str, ...] = ()
    slow: bool = False
    # The pytest marker's help (default: the description).
    marker: str = ""
    # Runs only when -m names it (load, soak, phase3).
    opt_in: bool = False
    # parity (fires requests at both sides) | cluster | soak | verification
    group: str = "parity"
    # What a failure of this kind is called in the verdict's reason.
    finding: str = ""
    # The targets field that configures it, if any.
    settings: str = ""


# The parity kinds, in the report's order: each module has INFO and cases(targets).
PARITY_MODULES: tuple[str, ...] = (
    "cutover.checks.paths",
    "cutover.checks.timeouts",
    "cutover.checks.sse",
    "cutover.checks.source_ip",
    "cutover.checks.backend_tls",
    "cutover.checks.redirects",
    "cutover.checks.headers",
    "cutover.checks.unmodelled",
    "cutover.checks.load",
)
# The cluster kinds (phase0, phase1, coverage, phase3) share one module's INFOS; the soak has one.
CLUSTER_INFOS_MODULE = "cutover.cluster.common"
SOAK_MODULE = "cutover.soak.check"

# Kinds added by register_check_module (a plugin's or a conftest's), after the built-in ones.
_REGISTERED: dict[str, ModuleType] = {}


def parity_modules() -> dict[str, ModuleType]:
    """Each parity kind's module, built-in ones first, by kind."""
    found: dict[str, ModuleType] = {}
    for name in PARITY_MODULES:
        module = importlib.import_module(name)
        found[module.INFO.kind] = module
    found.update(_REGISTERED)
    return found


def kinds() -> dict[str, CheckInfo]:
    """Every kind, in the report's order: parity kinds, then cluster kinds, then the soak."""
    found: dict[str, CheckInfo] = {kind: module.INFO for kind, module in parity_modules().items()}
    found.update(importlib.import_module(CLUSTER_INFOS_MODULE).INFOS)
    soak: CheckInfo = importlib.import_module(SOAK_MODULE).INFO
    found[soak.kind] = soak
    return found


def parity_kinds() -> tuple[str, ...]:
    """The kinds a targets file may list under a service's `checks`."""
    return tuple(kind for kind, info in kinds().items() if info.group == "parity" and not info.opt_in)


def register_check_module(module: ModuleType) -> None:
    """Add a parity check kind: a module with `INFO` (a CheckInfo) and `cases(targets)`."""
    info = getattr(module, "INFO", None)
    if not isinstance(info, CheckInfo) or not callable(getattr(module, "cases", None)):
        raise TypeError(f"{module.__name__}: a check module needs INFO (a CheckInfo) and cases(targets)")
    _REGISTERED[info.kind] = module
