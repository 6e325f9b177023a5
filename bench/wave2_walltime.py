"""Benchmark: wall time of `pytest -m wave2` on the embedded lab against its longest probe,
for the plan as written (fixtures/metalkube) and the corrected plan (fixtures/metalkube-corrected).

The long probes (silent requests at nginx's real read timeout, streams that outlast it) start
together when the run begins, so a run should take about as long as its longest probe, not
the sum (goal: wall time at most 1.1x the longest probe). Prints figures; asserts nothing.

    .venv/bin/python bench/wave2_walltime.py [--manifests DIR ...] [-m wave2]
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
FIXTURES = ("fixtures/metalkube", "fixtures/metalkube-corrected")
GOAL = 1.1


def run(manifests: str, markexpr: str) -> None:
    with tempfile.TemporaryDirectory(prefix="cutover-bench-") as reports:
        started = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests_migration",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                markexpr,
                # Relative, so pytest keeps the project's rootdir and ini (see README).
                "--manifests",
                manifests,
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
    failed = sorted(f"{c['kind']} {c['id']}" for c in summary["checks"] if c.get("outcome") in ("failed", "error"))
    print(f"== {manifests}")
    print(f"selection:        -m {markexpr} ({len(summary['checks'])} checks, verdict {summary['verdict']})")
    print(f"wall time:        {wall:6.1f} s  (pytest exit {result.returncode}, lab start and stop included)")
    print(f"longest probe:    {longest['duration']:6.1f} s  ({longest['id']}, {longest['kind']})")
    print(f"sum of probes:    {total:6.1f} s")
    ratio = wall / longest["duration"]
    print(f"wall / longest:   {ratio:6.2f}  (goal <= {GOAL:g}: {'met' if ratio <= GOAL else 'NOT met'})")
    print(f"sum / wall:       {total / wall:6.2f}  (how much the probes overlapped)")
    print(f"not passed:       {', '.join(failed) if failed else 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifests", action="append", help="repeatable; default: both metalkube fixtures")
    parser.add_argument("-m", dest="markexpr", default="wave2")
    args = parser.parse_args()
    for manifests in args.manifests or FIXTURES:
        run(manifests, args.markexpr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
