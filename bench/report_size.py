"""Benchmark: the size of the go/no-go report for a synthetic estate of N services.

Builds each service's results the way the collector receives them from a real run of
`bench/estate.py` (one Ingress per service, ten services per namespace, waves 1-3): 20 results
per service (6 paths probes of 20 attempts per side, headers with the Gateway's usual header
differences, 4 source-IP probes, 3 coverage checks, a 118 s timeout probe, the phase-0
inventory, 4 kinds n/a), with full evidence. Then writes summary.json and renders the page
(cutover's own page: the one a run of more than PYTEST_HTML_LIMIT tests writes) and prints
their sizes. `--failing K` makes the first K services lose HSTS (a NO-GO with K findings).

Prints figures; asserts nothing (tests/test_report_scale.py asserts the limits).

    .venv/bin/python bench/report_size.py 500 [--failing 50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cutover.report.html import render_page  # noqa: E402
from cutover.report.summary import digest_check, write_summary  # noqa: E402
from cutover.report.verdict import CheckResult, decide  # noqa: E402

PER_NAMESPACE = 10
PATHS = ("/", "/cutover-probe", "/CUTOVER-PROBE", "//cutover-probe", "/cutover-probe/a%2Fb", "/cutover-probe?probe=1")
VANTAGES = ("from office", "from office spoofing XFF outside", "from outside", "from outside spoofing XFF office")
LOST = (
    ("request:x-forwarded-host", "{host}"),
    ("request:x-forwarded-port", "80"),
    ("request:x-forwarded-scheme", "http"),
    ("request:x-real-ip", "127.0.10.5"),
    ("request:x-scheme", "http"),
)
NOT_APPLICABLE = {
    "backend_tls": "the old side did not reach this backend over HTTPS",
    "redirects": "the host had no ssl-redirect",
    "sse": "the target declares no SSE route",
    "unmodelled": "every behaviour of its manifests is modelled",
}
HSTS = "max-age=31536000; includeSubDomains"


def service_name(index: int) -> str:
    return f"svc-{index:04d}"


def namespace_of(index: int) -> str:
    return f"team-{index // PER_NAMESPACE:03d}"


def _side(host: str, path: str, backend: str, elapsed: float, **extra: Any) -> dict[str, Any]:
    """One side's evidence as checks.base.side_summary writes it."""
    return {
        "request": f"GET http://{host}{path}",
        "source": "127.0.10.5",
        "status": 200,
        "error": None,
        "headers": {"content-type": "application/json", "server": "nginx"},
        "backend": backend.rsplit(":", 1)[0],
        "served_by": backend,
        "backend_path": path.split("?")[0],
        "elapsed": elapsed,
        "body": ('{"path": "' + path + '", "method": "GET", "headers": {"host": "' + host + '"}}')[:400],
        **extra,
    }


def _difference(field: str, nginx: Any, gateway: Any, severity: str, note: str) -> dict[str, Any]:
    return {
        "field": field,
        "nginx": nginx,
        "gateway": gateway,
        "severity": severity,
        "expected": None,
        "note": note,
        "sides": ["nginx", "gateway"],
        "reviewed": None,
    }


def service_results(index: int, failing: bool = False) -> list[CheckResult]:
    """The 20 results of one service, as the collector holds them before summary.json."""
    name, namespace, wave = service_name(index), namespace_of(index), index % 3 + 1
    host, backend = f"{name}.estate.test", f"{namespace}/{name}:8080"

    def result(kind: str, probe: str, outcome: str = "passed", **fields: Any) -> CheckResult:
        return CheckResult(
            id=f"{name}[{probe}]",
            service=name,
            wave=wave,
            kind=kind,
            outcome=outcome,
            probe=probe,
            nodeid=f"tests_migration/test_{kind}.py::test_{kind}[{name}[{probe}]]",
            **fields,
        )

    results = [
        result(kind, "n/a", "n/a", message=f"Skipping {kind} for {name}: {why}") for kind, why in NOT_APPLICABLE.items()
    ]
    for path in PATHS:
        attempts = [
            {"attempt": n, "side": side, "status": 200, "error": None, "backend": backend}
            for n in range(1, 21)
            for side in ("nginx", "gateway")
        ]
        evidence = {
            "nginx": _side(host, path, backend, 0.01),
            "gateway": _side(host, path, backend, 0.011),
            "probe": "path",
            "rule": f"Ingress {namespace}/{name}",
            "shown_attempt": 1,
            "attempts": attempts,
        }
        results.append(result("paths", f"GET {path}", duration=0.21, evidence=evidence))
    differences = [
        _difference("request:x-envoy-external-address", None, "127.0.10.5", "info", "added by the Gateway"),
        *(
            _difference(field, value.format(host=host), None, "warn", "lost through the Gateway")
            for field, value in LOST
        ),
        _difference("response:server", None, "envoy", "info", "added by the Gateway"),
        _difference("response:x-envoy-upstream-service-time", None, "2", "info", "added by the Gateway"),
    ]
    if failing:
        differences.append(
            _difference("response:strict-transport-security", HSTS, None, "fail", "lost through the Gateway")
        )
    headers = {"status": 200, "error": None, "served_by": backend}
    full_headers = {**headers, "request": {"host": host, "x-real-ip": "127.0.10.5"}, "response": {"server": "nginx"}}
    results.append(
        result(
            "headers",
            "GET /",
            "failed" if failing else "passed",
            message="response:strict-transport-security: nginx max-age=31536000, gateway (none)" if failing else "",
            duration=0.067,
            differences=differences,
            evidence={"nginx": full_headers, "gateway": full_headers, "noise": ["request:x-request-id"]},
            warnings=[
                f"{name}[GET /]: {d['field']}: nginx {d['nginx']}, gateway (none) ({d['note']})"
                for d in differences
                if d["severity"] == "warn"
            ],
        )
    )
    for vantage in VANTAGES:
        seen = {"peer": "127.0.100.1", "x-forwarded-for": "127.0.10.5", "x-real-ip": "127.0.10.5"}
        evidence = {
            "nginx": _side(host, "/", backend, 0.006, seen=seen, answer=f"200 from {backend}"),
            "gateway": _side(host, "/", backend, 0.02, seen=seen, answer=f"200 from {backend}"),
            "vantage": {"name": vantage, "address": "127.0.10.5", "declared": "allowed"},
        }
        results.append(result("source_ip", vantage, duration=0.157, evidence=evidence))
    results += [
        result("coverage", "rules", evidence={"notes": []}),
        result(
            "coverage",
            "timeouts",
            evidence={"nginx_read_timeout": 120, "streaming": False, "rules": [{"rule": f"{host}/"}], "cilium": "1.17"},
        ),
        result(
            "coverage",
            "route status",
            evidence={
                "note": "HTTPRoutes have Accepted and ResolvedRefs; there is no Programmed condition on routes",
                "parents": [{"parentRef": {"name": "kube-system/estate-gateway/http"}, "conditions": ["Accepted"]}],
            },
        ),
    ]
    limits = {"nginx_read_timeout": 120.0, "gateway_total": None, "gateway_idle": 300.0, "tolerance": 1.0}
    results.append(
        result(
            "timeouts",
            "silent 118s /",
            duration=118.0,
            evidence={
                "nginx": _side(host, "/?delay=118", backend, 118.004),
                "gateway": _side(host, "/?delay=118", backend, 118.005),
                "delay": 118.0,
                "line": 15.0,
                "limits": limits,
                "durations": {"nginx": 118.004, "gateway": 118.005},
            },
        )
    )
    inventory = {
        "namespace": namespace,
        "name": name,
        "class": "nginx",
        "hosts": [host],
        "paths": [{"host": host, "path": "/", "type": "Prefix", "backend": f"{name}:8080"}],
        "complexity": "LOW",
        "proposed_wave": wave,
        "checks": ["paths", "headers", "timeouts"],
    }
    results.append(result("phase0", "inventory", evidence={"inventory": inventory}))
    return results


def estate_summary(count: int, failing: int = 0) -> dict[str, Any]:
    """summary.json's content for the estate, built as the collector builds it."""
    results = [r for index in range(count) for r in service_results(index, failing=index < failing)]
    verdict = decide(results)
    return {
        "verdict": verdict.label,
        "reason": verdict.reason,
        "complete": True,
        "incomplete_reason": None,
        "counts": verdict.counts,
        "selected": len(results),
        "waves": [1, 2, 3][: min(count, 3)],
        "services": [service_name(i) for i in range(count)],
        "namespaces": {service_name(i): namespace_of(i) for i in range(count)},
        "selection": "-m wave1 or wave2 or wave3",
        "environment": "embedded lab, profile cilium-1.17, manifests estate",
        "started": "2026-11-27T02:00:00+00:00",
        "finished": "2026-11-27T02:03:00+00:00",
        "checks": [digest_check(r.to_dict()) for r in results],
        "waivers": [],
        "warnings": [w for r in results for w in r.warnings],
        "notes": [],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("services", type=int, help="how many services the estate has")
    parser.add_argument("--failing", type=int, default=0, help="how many services lose HSTS (default: none)")
    parser.add_argument("--keep", type=Path, help="write summary.json and go-no-go.html there")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cutover-report-size-") as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        summary = estate_summary(args.services, args.failing)
        summary_path = write_summary(directory, summary)
        page = directory / "go-no-go.html"
        page.write_text(render_page(summary))
        checks = len(summary["checks"])
        print(
            f"estate:        {args.services} services, {checks} results, {args.failing} failing; {summary['verdict']}"
        )
        print(f"go-no-go.html: {page.stat().st_size / 1e6:6.2f} MB")
        print(f"summary.json:  {summary_path.stat().st_size / 1e6:6.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
