"""Benchmark: wall time of `pytest -m wave2` on the embedded lab against its longest probe.

The long probes (slow requests, streams) start together when the run begins, so the run
should take about as long as the longest one, not the sum. Prints figures; asserts nothing.

    .venv/bin/python bench/wave2_walltime.py [--manifests fixtures/metalkube-corrected] [-m wave2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifests", default=str(ROOT / "fixtures" / "metalkube-corrected"))
    parser.add_argument("-m", dest="markexpr", default="wave2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cutover-bench-") as reports:
        started = time.monotonic()
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests_migration",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                args.markexpr,
                "--manifests",
                args.manifests,
                "--report-dir",
                reports,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - started
        summary = json.loads((Path(reports) / "latest" / "summary.json").read_text())
    checks = [c for c in summary["checks"] if c.get("duration")]
    longest = max(checks, key=lambda c: c["duration"])
    total = sum(c["duration"] for c in checks)
    print(f"selection:        -m {args.markexpr} ({len(summary['checks'])} checks, verdict {summary['verdict']})")
    print(f"wall time:        {wall:6.1f} s  (pytest exit {run.returncode}, lab start and stop included)")
    print(f"longest probe:    {longest['duration']:6.1f} s  ({longest['id']}, {longest['kind']})")
    print(f"sum of probes:    {total:6.1f} s")
    print(f"wall / longest:   {wall / longest['duration']:6.2f}")
    print(f"sum / wall:       {total / wall:6.2f}  (how much the probes overlapped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
