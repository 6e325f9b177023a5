"""Sharding a run: `--shard K/N` runs the services of shard K, chosen by a stable hash of the
service's name, so N machines (or an Indexed Job's N pods) split one estate and their summaries
merge into the verdict of one run (`cutover report --merge`)."""

from __future__ import annotations

import os
import zlib

from cutover.errors import InputError

__all__ = ["parse_shard", "shard_of"]


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """`K/N` -> (K-1, N); `auto/N` takes K from a Kubernetes Indexed Job's JOB_COMPLETION_INDEX."""
    if value is None:
        return None
    first, _, second = str(value).partition("/")
    try:
        count = int(second)
        index = int(os.environ["JOB_COMPLETION_INDEX"]) if first == "auto" else int(first) - 1
    except (ValueError, KeyError):
        raise InputError(
            f"{value!r} is not K/N (K from 1 to N), or auto/N inside an Indexed Job", field="--shard"
        ) from None
    if count < 1 or not 0 <= index < count:
        raise InputError(f"{value!r} needs 1 <= K <= N", field="--shard")
    return index, count


def shard_of(service: str, count: int) -> int:
    """Which shard a service belongs to: stable across runs, machines and Python versions."""
    return zlib.crc32(service.encode()) % count
