"""Where the soak reads its flows from: the command line's options (Hubble Relay, exported
files, or neither) turned into soak cases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cutover.checks.base import Case
from cutover.errors import InputError
from cutover.manifests import parse_duration
from cutover.soak.check import soak_cases
from cutover.soak.hubble import HubbleRead, RelayTLS, parse_time, read_files, read_relay
from cutover.targets import ServiceTarget

__all__ = ["SoakOptions", "cases_from_options", "options_from"]


@dataclass(frozen=True)
class SoakOptions:
    """The soak's command-line options, as given (pytest's --hubble-*, --soak-*)."""

    relay: str | None = None
    flows: str | None = None
    window: str = "48h"
    until: str | None = None
    max_gap: str = "1h"
    tls: RelayTLS = field(default_factory=RelayTLS)


def _duration(text: str, option: str) -> dt.timedelta:
    try:
        return dt.timedelta(seconds=parse_duration(text))
    except ValueError as exc:
        raise InputError(str(exc), field=option) from None


def cases_from_options(services: list[ServiceTarget], options: SoakOptions) -> list[Case]:
    """The soak cases for these services from the options: the Hubble source (Relay or files),
    the window and the largest gap allowed. Raises InputError for a bad value."""
    window = _duration(options.window, "--soak-window")
    max_gap = _duration(options.max_gap, "--soak-max-gap")
    try:
        until = parse_time(options.until) if options.until else None
    except ValueError:
        raise InputError(f"{options.until!r} is not an ISO time", field="--soak-until") from None
    namespaces = sorted(
        {b.partition("/")[0] for s in services for b in s.backends} | {s.namespace for s in services if s.namespace}
    )
    if options.relay:
        relay, tls = options.relay, options.tls
        end = until or dt.datetime.now(dt.UTC)
        return soak_cases(
            services,
            f"Hubble Relay {relay}",
            lambda: read_relay(relay, end - window, end, namespaces, tls),
            window,
            end,
            max_gap,
        )
    if options.flows:
        path = Path(options.flows)
        return soak_cases(
            services,
            f"{'files in' if path.is_dir() else 'file'} {path.name}",
            lambda: read_files(path),
            window,
            until,
            max_gap,
        )
    return soak_cases(services, None, lambda: HubbleRead(), window, until, max_gap)


def options_from(option: Callable[[str], Any]) -> SoakOptions:
    """The soak options from a getter of command-line values (pytest's `config.getoption`)."""
    return SoakOptions(
        relay=option("--hubble-relay"),
        flows=option("--hubble-flows"),
        window=str(option("--soak-window")),
        until=option("--soak-until"),
        max_gap=str(option("--soak-max-gap")),
        tls=RelayTLS(
            ca=option("--hubble-tls-ca"),
            server_name=option("--hubble-tls-server-name"),
            cert=option("--hubble-tls-cert"),
            key=option("--hubble-tls-key"),
        ),
    )
