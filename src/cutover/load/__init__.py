"""Load generation: asyncio streams, bounded concurrency, percentiles."""

from cutover.load.engine import LoadResult, LoadSpec, percentile, run_load

__all__ = ["LoadResult", "LoadSpec", "percentile", "run_load"]
