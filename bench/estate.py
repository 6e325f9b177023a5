"""Benchmark: a synthetic estate of N services through the embedded lab.

Generates N services (one Ingress, one Service and one HTTPRoute each, plain HTTP, waves 1-3
in turn, ten services per namespace) into a temporary folder, then prints:

- `lab up`: the wall time of `cutover lab up`, the lab's processes and their RSS (summed over
  every process of the lab and its children, from /proc), then `lab down`;
- all waves: the wall time of `pytest -m "wave1 or wave2 or wave3"` over the estate (the run
  starts its own lab), the lab's peak RSS during the run, the longest check's duration, the
  ratio wall / longest, and the size of the report (go-no-go.html, summary.json).

Prints figures; asserts nothing.

    .venv/bin/python bench/estate.py 150 [--no-run] [--keep DIR] [--markexpr EXPR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PER_NAMESPACE = 10
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def service_name(index: int) -> str:
    return f"svc-{index:04d}"


def namespace_of(index: int) -> str:
    return f"team-{index // PER_NAMESPACE:03d}"


def wave_of(index: int) -> int:
    return index % 3 + 1


def write_estate(directory: Path, count: int) -> None:
    """Wave 1: a plain Ingress (LOW); wave 2: proxy-read-timeout (MEDIUM); wave 3: named by
    cutover.dev/wave, so every service stays plain HTTP with the same checks."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "gateway.yaml").write_text(
        "apiVersion: gateway.networking.k8s.io/v1\n"
        "kind: Gateway\n"
        "metadata: {name: estate-gateway, namespace: kube-system}\n"
        "spec:\n"
        "  gatewayClassName: cilium\n"
        "  listeners:\n"
        "    - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}\n"
        # The routes are plain HTTP; the HTTPS listener (its Secret minted by the lab) is there because
        # the preflight wants both ports of both endpoints to answer.
        "    - name: https\n"
        "      port: 443\n"
        "      protocol: HTTPS\n"
        "      tls: {mode: Terminate, certificateRefs: [{name: estate-wildcard-tls, namespace: kube-system}]}\n"
        "      allowedRoutes: {namespaces: {from: All}}\n"
    )
    services, ingresses, routes = [], [], []
    for index in range(count):
        name, namespace, wave = service_name(index), namespace_of(index), wave_of(index)
        host = f"{name}.estate.test"
        annotations = {
            1: "{}",
            2: '{nginx.ingress.kubernetes.io/proxy-read-timeout: "120"}',
            3: '{cutover.dev/wave: "3"}',
        }[wave]
        services.append(
            "apiVersion: v1\nkind: Service\n"
            f"metadata: {{name: {name}, namespace: {namespace}}}\n"
            f"spec: {{selector: {{app: {name}}}, ports: [{{name: http, port: 8080}}]}}\n"
        )
        ingresses.append(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
            f"metadata: {{name: {name}, namespace: {namespace}, annotations: {annotations}}}\n"
            "spec:\n"
            "  ingressClassName: nginx\n"
            "  rules:\n"
            f"    - host: {host}\n"
            "      http:\n"
            "        paths:\n"
            "          - path: /\n"
            "            pathType: Prefix\n"
            f"            backend: {{service: {{name: {name}, port: {{number: 8080}}}}}}\n"
        )
        routes.append(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
            f"metadata: {{name: {name}, namespace: {namespace}}}\n"
            "spec:\n"
            "  parentRefs: [{name: estate-gateway, namespace: kube-system, sectionName: http}]\n"
            f"  hostnames: [{host}]\n"
            "  rules:\n"
            "    - matches: [{path: {type: PathPrefix, value: /}}]\n"
            f"      backendRefs: [{{name: {name}, port: 8080}}]\n"
        )
    (directory / "services.yaml").write_text("---\n".join(services))
    (directory / "ingresses.yaml").write_text("---\n".join(ingresses))
    (directory / "httproutes.yaml").write_text("---\n".join(routes))


def _processes() -> dict[int, tuple[int, int, str, float]]:
    """pid -> (parent pid, RSS in KiB, command line, CPU seconds so far) of every process this user can read."""
    found: dict[int, tuple[int, int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            statm = (entry / "statm").read_text().split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if stat[0] == "Z":
            continue
        # stat fields after the command: state ppid ... utime (12) stime (13), in clock ticks.
        cpu = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
        found[int(entry.name)] = (int(stat[1]), int(statm[1]) * PAGE_KIB, cmdline, cpu)
    return found


def _descendants(table: dict[int, tuple[int, int, str, float]], roots: set[int]) -> dict[int, int]:
    """pid -> the root it descends from, for roots and every process below them."""
    owner = {pid: pid for pid in roots if pid in table}
    grew = True
    while grew:
        grew = False
        for pid, (parent, *_) in table.items():
            if parent in owner and pid not in owner:
                owner[pid] = owner[parent]
                grew = True
    return owner


class CpuSampler:
    """CPU seconds per process group (pytest, nginx, envoy, backends) of a process and its
    descendants, from /proc: the last figure seen of each process (sampled every second, so a
    process's last second before it exits may be missed)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.last: dict[int, tuple[str, float]] = {}

    def sample(self) -> None:
        table = _processes()
        for pid in _descendants(table, {self.root}):
            cmdline, cpu = table[pid][2], table[pid][3]
            group = "pytest" if pid == self.root else _kind(cmdline)
            self.last[pid] = (group, cpu)

    def by_group(self) -> dict[str, float]:
        groups: dict[str, float] = {}
        for group, cpu in self.last.values():
            groups[group] = groups.get(group, 0.0) + cpu
        return groups


def _kind(cmdline: str) -> str:
    if "cutover.lab.backend" in cmdline or "cutover/lab/backend.py" in cmdline:
        return "backends"
    program = cmdline.split(" ", 1)[0]
    if "envoy" in program:
        return "envoy"
    return "nginx" if "nginx" in program else "other"


def lab_rss(marker: str) -> tuple[int, int, dict[str, int]]:
    """(process count, RSS in KiB, RSS in KiB per kind) of the processes whose command line names
    marker, and their children (nginx's worker)."""
    table = _processes()
    roots = {
        pid
        for pid, (_, _, cmdline, _) in table.items()
        if marker in cmdline and "pytest" not in cmdline and "bench/estate.py" not in cmdline
    }
    owner = _descendants(table, roots)
    by_kind: dict[str, int] = {}
    for pid, root in owner.items():
        kind = _kind(table[root][2])
        by_kind[kind] = by_kind.get(kind, 0) + table[pid][1]
    return len(owner), sum(by_kind.values()), by_kind


def cutover(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cutover.cli", *args], capture_output=True, text=True, cwd=ROOT)


def measure_lab_up(manifests: Path, work: Path) -> dict[str, Any]:
    state = work / "lab"
    started = time.monotonic()
    up = cutover("lab", "up", "--manifests", str(manifests), "--state", str(state))
    elapsed = time.monotonic() - started
    if up.returncode != 0:
        print(up.stdout[-2000:], up.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"lab up failed with exit {up.returncode}")
    try:
        count, rss, by_kind = lab_rss(str(state))
    finally:
        down = cutover("lab", "down", "--state", str(state))
        if down.returncode != 0:
            print(down.stderr, file=sys.stderr)
    return {"seconds": elapsed, "processes": count, "rss_kib": rss, "by_kind": by_kind}


@dataclass
class RunFigures:
    exit: int
    wall: float
    checks: int
    outcomes: dict[str, int]
    verdict: str
    longest: float
    longest_id: str
    total: float
    html_bytes: int
    summary_bytes: int
    peak_rss_kib: int
    peak_processes: int
    last_line: str
    by_kind: dict[str, tuple[int, float, float]]
    cpu_seconds: dict[str, float]
    # Seconds from the start of pytest to: collected (lab starting), lab ready, last check
    # (pytest's [100%] progress line), verdict (the report written, the summary printed).
    phases: dict[str, float]
    # Long probes by probe (service name dropped): count, shortest and longest duration.
    long_probes: dict[str, tuple[int, float, float]]


def measure_run(manifests: Path, work: Path, markexpr: str) -> RunFigures:
    reports, state = work / "reports", work / "run-lab"
    peak = {"rss_kib": 0, "processes": 0}
    done = threading.Event()
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests_migration",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        markexpr,
        "--manifests",
        str(manifests),
        "--lab-state",
        str(state),
        "--report-dir",
        str(reports),
    ]
    started = time.monotonic()
    # Unbuffered: the phases below are timed by the lines as pytest writes them.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    cpu = CpuSampler(process.pid)

    def sample() -> None:
        while not done.wait(1.0):
            count, rss, _ = lab_rss(str(state))
            if rss > peak["rss_kib"]:
                peak.update(rss_kib=rss, processes=count)
            cpu.sample()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # When the run reached each phase, from its terminal lines as they arrive.
    phases: dict[str, float] = {}
    marks = {
        "cutover: starting the embedded lab": "collected",
        "cutover: lab ready": "lab ready",
        "cutover: GO": "verdict",
        "cutover: NO-GO": "verdict",
    }
    lines: list[str] = []

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            for prefix, phase in marks.items():
                if line.startswith(prefix) and phase not in phases:
                    phases[phase] = time.monotonic() - started
            if "[100%]" in line and "last check" not in phases:
                phases["last check"] = time.monotonic() - started

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    assert process.stderr is not None
    stderr = process.stderr.read()
    process.wait()
    reader.join()
    stdout = "".join(lines)
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    run = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    latest = reports / "latest"
    if not (latest / "summary.json").is_file():
        print(run.stdout[-3000:], run.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"the run wrote no summary.json (pytest exit {run.returncode})")
    summary = json.loads((latest / "summary.json").read_text())
    checks = [c for c in summary["checks"] if c.get("duration")]
    longest = max(checks, key=lambda c: c["duration"])
    outcomes: dict[str, int] = {}
    for check in summary["checks"]:
        outcomes[check["outcome"]] = outcomes.get(check["outcome"], 0) + 1
    html = latest / "go-no-go.html"
    by_kind: dict[str, tuple[int, float, float]] = {}
    for check in checks:
        count, total, most = by_kind.get(check["kind"], (0, 0.0, 0.0))
        by_kind[check["kind"]] = (count + 1, total + check["duration"], max(most, check["duration"]))
    lines = run.stdout.strip().splitlines()
    return RunFigures(
        exit=run.returncode,
        wall=wall,
        checks=len(summary["checks"]),
        outcomes=outcomes,
        verdict=summary["verdict"],
        longest=longest["duration"],
        longest_id=f"{longest['kind']} {longest['id']}",
        total=sum(c["duration"] for c in checks),
        html_bytes=html.stat().st_size if html.exists() else 0,
        summary_bytes=(latest / "summary.json").stat().st_size,
        peak_rss_kib=peak["rss_kib"],
        peak_processes=peak["processes"],
        last_line=lines[-1] if lines else "",
        by_kind=by_kind,
        cpu_seconds=cpu.by_group(),
        phases=phases,
        long_probes=_long_probe_spread(checks),
    )


def _long_probe_spread(checks: list[dict[str, Any]]) -> dict[str, tuple[int, float, float]]:
    """The timeouts and sse probes grouped by probe: if the machine was saturated, a long probe
    takes longer than its limit, and the run looks slower than it is."""
    spread: dict[str, tuple[int, float, float]] = {}
    for check in checks:
        if check["kind"] not in ("timeouts", "sse"):
            continue
        probe = f"{check['kind']} {check['id'].split('[', 1)[-1].rstrip(']')}"
        count, low, high = spread.get(probe, (0, float("inf"), 0.0))
        spread[probe] = (count + 1, min(low, check["duration"]), max(high, check["duration"]))
    return spread


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("services", type=int, help="how many services the estate has")
    parser.add_argument("--no-run", action="store_true", help="measure `lab up` only, not the pytest run")
    parser.add_argument("--keep", type=Path, help="write the estate there and keep it (default: a temporary folder)")
    parser.add_argument("--markexpr", default="wave1 or wave2 or wave3", help="the run's -m (all three waves)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cutover-estate-") as scratch:
        work = Path(scratch)
        manifests = args.keep or work / "manifests"
        write_estate(manifests, args.services)
        print(f"estate:           {args.services} services (Ingress + Service + HTTPRoute each) in {manifests}")
        lab = measure_lab_up(manifests, work)
        print(f"lab up:           {lab['seconds']:6.1f} s")
        print(f"lab processes:    {lab['processes']:6d}")
        print(f"lab RSS:          {lab['rss_kib'] / 1024:6.0f} MB  (after `lab up`, every lab process and child)")
        kinds = ", ".join(f"{kind} {kib / 1024:.0f} MB" for kind, kib in sorted(lab["by_kind"].items()))
        print(f"                  {kinds}")
        if args.no_run:
            return 0
        run = measure_run(manifests, work, args.markexpr)
        print(f"all waves:        -m {args.markexpr!r}: {run.checks} checks, verdict {run.verdict}")
        print(f"                  outcomes {run.outcomes}, pytest exit {run.exit}: {run.last_line}")
        print(f"wall time:        {run.wall:6.1f} s  (lab start and stop included)")
        shown = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in run.phases.items())
        print(f"phases:           {shown}, exit {run.wall:.1f} s")
        print(f"longest check:    {run.longest:6.1f} s  ({run.longest_id})")
        print(f"wall / longest:   {run.wall / run.longest:6.2f}")
        print(f"sum / wall:       {run.total / run.wall:6.2f}  (how much the checks overlapped)")
        for kind, (count, total, most) in sorted(run.by_kind.items(), key=lambda item: -item[1][1]):
            print(f"  {kind:12} {count:5d} checks, {total:7.1f} s in all, longest {most:5.1f} s")
        for probe, (count, low, high) in sorted(run.long_probes.items()):
            print(f"  long probe   {probe:32} {count:4d}x, {low:6.1f} to {high:6.1f} s")
        cpu = ", ".join(f"{group} {seconds:.1f} s" for group, seconds in sorted(run.cpu_seconds.items()))
        print(f"CPU seconds:      {sum(run.cpu_seconds.values()):6.1f} s  ({cpu}; machine: {os.cpu_count()} cores)")
        print(f"lab peak RSS:     {run.peak_rss_kib / 1024:6.0f} MB  during the run ({run.peak_processes} processes)")
        print(
            f"report:           go-no-go.html {run.html_bytes / 1e6:.2f} MB, summary.json {run.summary_bytes / 1e6:.2f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
