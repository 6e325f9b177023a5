"""Benchmark the load engine: its short-request rate against wrk on the lab's Envoy, and
its memory with 1,000 open SSE streams. Prints figures; asserts nothing.

    .venv/bin/python bench/load_engine.py [--seconds 10] [--connections 50] [--streams 1000]

Both clients hit the same URL on the same Envoy in the same run: a host no route matches,
so Envoy answers 404 itself and the figure is the client's and Envoy's, not a backend's.
The memory figure is the resident set of a separate process that holds the streams open.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cutover.lab import Lab, LabOptions  # noqa: E402
from cutover.load.engine import LoadSpec, run_load_async  # noqa: E402
from cutover.targets import parse_targets  # noqa: E402

HOST = "bench.invalid"


def wrk_rate(url: str, seconds: int, connections: int) -> float:
    result = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-H", f"Host: {HOST}", url],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]


def engine_rate(address: str, port: int, seconds: int, connections: int) -> float:
    spec = LoadSpec(
        address=address,
        port=port,
        host=HOST,
        scheme="http",
        streams=0,
        request_path="/",
        rate=0,
        request_connections=connections,
        duration=seconds,
    )
    result = asyncio.run(run_load_async(spec, "bench"))
    return len(result.requests) / result.elapsed


RSS_PROBE = textwrap.dedent(
    """
    import asyncio, sys, time
    sys.path.insert(0, {src!r})
    from cutover.load.engine import LoadSpec, one_stream, raise_fd_limit, _context

    async def main():
        count = {streams}
        raise_fd_limit(count + 64)
        spec = LoadSpec(address={address!r}, port={port}, host={host!r}, scheme="https", ca_bundle={ca!r},
                        source="127.0.10.5", stream_path="/v1/chat/completions?stream=true&events=2&interval=25",
                        stream_timeout=120)
        hold = asyncio.Event()
        context = _context(spec)
        tasks = [asyncio.create_task(one_stream(spec, context, hold)) for _ in range(count)]
        started = time.monotonic()
        while time.monotonic() - started < 60:
            open_streams = sum(1 for t in tasks if not t.done())
            await asyncio.sleep(1.0)
            if open_streams == count and time.monotonic() - started > 5:
                break
        rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]
        failed = sum(1 for t in tasks if t.done())
        print(f"RSS_KB={{rss}} OPEN={{count - failed}} FAILED={{failed}}", flush=True)
        hold.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    """
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    state = Path(tempfile.mkdtemp(prefix="cutover-bench-lab-"))
    lab = Lab(LabOptions(manifests=ROOT / "fixtures" / "metalkube-corrected", state_dir=state, detach=False))
    targets = parse_targets(lab.prepare())
    lab.start()
    try:
        gateway = targets.gateway
        url = f"http://{gateway.address}:{gateway.http_port}/"
        wrk = wrk_rate(url, args.seconds, args.connections)
        engine = engine_rate(gateway.address, gateway.http_port, args.seconds, args.connections)
        print(f"short requests, {args.connections} connections, {args.seconds} s each, Envoy local 404:")
        print(f"  wrk:          {wrk:10.0f} req/s")
        print(f"  cutover load: {engine:10.0f} req/s")
        print(f"  ratio:        {engine / wrk:10.1%} of wrk")
        probe = RSS_PROBE.format(
            src=str(ROOT / "src"),
            streams=args.streams,
            address=gateway.address,
            port=gateway.https_port,
            host="api.metalkube.internal",
            ca=targets.ca_bundle,
        )
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=180)
        match = re.search(r"RSS_KB=(\d+) OPEN=(\d+) FAILED=(\d+)", result.stdout)
        if match is None:
            print(f"stream memory probe failed: {result.stderr[-500:]}")
            return 1
        rss_mb = int(match.group(1)) / 1024
        print(f"open SSE streams through the Gateway: {match.group(2)} open, {match.group(3)} failed")
        print(f"  engine RSS:   {rss_mb:10.1f} MB ({rss_mb * 1024 / max(1, int(match.group(2))):.1f} KB per stream)")
    finally:
        lab.stop_started()
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    start = time.monotonic()
    code = main()
    print(f"(bench took {time.monotonic() - start:.0f} s)")
    sys.exit(code)
