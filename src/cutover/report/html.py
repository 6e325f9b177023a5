"""The go/no-go page: banner, scope, services x checks matrix, evidence side by side,
inline SVG charts. Everything that came from a server is escaped here, once, on output."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any

from cutover import registry
from cutover.report.verdict import BLOCKING, OUTCOMES, PASSING, CheckResult, finding

__all__ = ["CSS", "check_extra", "fragments", "latency_chart", "render_page", "sse_chart", "timeout_chart"]

CELL = {
    "passed": "pass",
    "failed": "fail",
    "error": "error",
    "waived": "waived",
    "n/a": "n.a.",
    "not run": "not run",
    "not verified": "not verified",
}

# Up to this many services, every namespace of the page is open; beyond, a namespace where
# everything passed is one collapsed line.
OPEN_SERVICES = 20
# Up to this many charts of passing long probes are shown open; beyond, each is one line.
OPEN_CHARTS = 12
# Each finding shows its evidence in full on this many checks; the same finding on further
# checks shows its differences only (their full evidence is in summary.json).
FULL_EVIDENCE = 10
# Lines of one grouped warning listed on the page (all of them are in summary.json).
WARNING_LINES = 20

CSS = """
.cutover { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1d1d1f; }
.cutover .banner { padding: 18px 22px; border-radius: 8px; color: #fff; margin: 8px 0 16px; }
.cutover .banner.go { background: #1a7f37; } .cutover .banner.nogo { background: #c62828; }
.cutover .banner h1 { margin: 0; font-size: 30px; letter-spacing: .5px; }
.cutover .banner p { margin: 6px 0 0; font-size: 15px; }
.cutover table.grid { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
.cutover table.grid th, .cutover table.grid td { border: 1px solid #ccc; padding: 4px 8px; text-align: left;
  vertical-align: top; }
.cutover td.pass { background: #dafbe1; } .cutover td.fail { background: #ffd7d5; }
.cutover td.waived { background: #fff3c4; } .cutover td.na { background: #f2f2f2; color: #777; }
.cutover td.notrun, .cutover td.notverified { background: #ffe0b2; } .cutover td.error { background: #ffd7d5; }
.cutover .evidence { border: 1px solid #ddd; border-left: 4px solid #c62828; padding: 8px 12px; margin: 10px 0;
  page-break-inside: avoid; }
.cutover .evidence.waived { border-left-color: #b58900; }
.cutover .sides { display: flex; gap: 12px; flex-wrap: wrap; }
.cutover .side { flex: 1 1 320px; background: #fafafa; padding: 6px 8px; font-size: 12px; }
.cutover pre { white-space: pre-wrap; word-break: break-all; margin: 0; font-size: 12px; }
.cutover dl.scope { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; font-size: 14px; }
.cutover dl.scope dt { font-weight: 600; }
.cutover details.compact { margin: 4px 0; } .cutover details summary { cursor: pointer; }
.cutover details.namespace { margin: 6px 0; } .cutover details.namespace > table { margin-left: 16px; }
.cutover ul.checks { margin: 2px 0; padding-left: 16px; font-size: 12px; }
.cutover .tally { font-size: 15px; }
.cutover h3.namespace { margin: 22px 0 2px; }
.cutover .service-block h4.service { margin: 14px 0 4px; font-size: 16px; }
.cutover svg { max-width: 100%; height: auto; overflow: visible; }
/* pytest-html's own environment box: the same facts are in the collapsed section at the end. */
#environment-header, #environment { display: none; }
@page { size: A4; margin: 12mm; }
@media print {
  .cutover .banner, .cutover td, .cutover .evidence { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .cutover .service-block { break-before: page; }
  .cutover .service-block:first-of-type { break-before: auto; }
  .cutover .evidence { break-inside: avoid; }
  .cutover details { display: block; } .cutover details > summary { list-style: none; }
  .filters, .filter, .summary__reload, .summary__spacer, .controls, .collapse, .expand, .logexpander,
  input, button, #results-table, .summary__data > h2, .media, p.filter, #not-found-message { display: none !important; }
  body { font-size: 11px; }
}
"""


def e(value: Any) -> str:
    """Escape anything for HTML text or attribute context."""
    return html.escape("" if value is None else str(value), quote=True)


def _banner(summary: dict[str, Any]) -> str:
    go = summary.get("verdict") == "GO"
    ticket = f" &middot; {e(summary['ticket'])}" if summary.get("ticket") else ""
    return (
        f'<div class="banner {"go" if go else "nogo"}" id="cutover-verdict">'
        f"<h1>{'GO' if go else 'NO-GO'}{ticket}</h1><p>{e(summary.get('reason'))}</p></div>"
    )


def _scope(summary: dict[str, Any]) -> str:
    endpoints = summary.get("endpoints") or {}
    rows = [
        ("Ticket", summary.get("ticket") or "-"),
        ("Change note", summary.get("change_note") or "-"),
        ("Waves", ", ".join(str(w) for w in summary.get("waves") or []) or "-"),
        ("Services", _services_line(summary)),
        ("nginx endpoint", _endpoint(endpoints.get("nginx"))),
        ("Gateway endpoint", _endpoint(endpoints.get("gateway"))),
        ("Run against", summary.get("environment") or "-"),
        ("Selection", summary.get("selection") or "-"),
        ("Started / finished", f"{summary.get('started', '-')} / {summary.get('finished', '-')}"),
        ("cutover", summary.get("suite_version", "-")),
    ]
    body = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in rows)
    runs = summary.get("runs") or []
    table = ""
    if runs:
        lines = "".join(
            f"<tr><td>{e(r.get('started'))}</td><td>{e(r.get('selection'))}</td><td>{e(r.get('environment'))}</td>"
            f"<td>{e(_endpoint((r.get('endpoints') or {}).get('nginx')))}<br>"
            f"{e(_endpoint((r.get('endpoints') or {}).get('gateway')))}</td>"
            f"<td>{e(r.get('ticket') or '-')}</td><td>{e(r.get('verdict'))}"
            f"{'' if r.get('complete') is not False else ' (incomplete)'}</td></tr>"
            for r in runs
        )
        table = (
            '<table class="grid" id="cutover-runs"><tr><th>run started</th><th>selection</th><th>against</th>'
            f"<th>nginx / gateway</th><th>ticket</th><th>verdict</th></tr>{lines}</table>"
        )
    return f'<h2>Scope</h2><dl class="scope">{body}</dl>{table}'


def _services_line(summary: dict[str, Any]) -> str:
    services = list(summary.get("services") or [])
    if len(services) <= OPEN_SERVICES:
        return ", ".join(services) or "-"
    namespaces = {namespace_of(s, summary.get("namespaces") or {}) for s in services}
    return f"{len(services)} services in {len(namespaces)} namespaces (listed under Services by namespace)"


def _endpoint(endpoint: dict[str, Any] | None) -> str:
    if not endpoint:
        return "-"
    return f"{endpoint.get('address')} (http {endpoint.get('http_port')}, https {endpoint.get('https_port')})"


def _cell_text(outcomes: list[str]) -> tuple[str, str]:
    """The cell's class (its worst outcome) and what it counts: "3 pass, 1 n.a.", "1 fail of 4"."""
    worst = min(outcomes, key=OUTCOMES.index)
    css = CELL[worst].replace(".", "").replace(" ", "")
    if len(outcomes) == 1:
        return css, CELL[worst]
    if worst in BLOCKING:
        return css, f"{outcomes.count(worst)} {CELL[worst]} of {len(outcomes)}"
    counts = [f"{outcomes.count(o)} {CELL[o]}" for o in OUTCOMES if o in outcomes]
    return css, ", ".join(counts)


def _columns(checks: list[dict[str, Any]]) -> list[str]:
    present = {c["kind"] for c in checks}
    # Every parity kind always has a column (a "-" says it did not run); the others when present.
    registered = registry.kinds()
    columns = [k for k, info in registered.items() if k in present or (info.group == "parity" and not info.opt_in)]
    return columns + sorted(present - set(registered) - {"other"})


def _worst(outcomes: Iterable[str]) -> str:
    return min(outcomes, key=OUTCOMES.index, default="n/a")


def _tally(outcomes: list[str]) -> str:
    """How many of each outcome, worst first: "1 fail, 12 pass, 4 n.a."."""
    return ", ".join(f"{outcomes.count(o)} {CELL[o]}" for o in OUTCOMES if o in outcomes)


def namespace_of(service: str, namespaces: dict[str, str]) -> str:
    return namespaces.get(service) or "(no namespace)"


def _by_namespace(
    checks: list[dict[str, Any]], namespaces: dict[str, str]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """namespace -> service -> its checks; namespaces with something that blocks GO (or was
    waived) first, then by name; services by wave, then name."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for check in checks:
        service = str(check["service"])
        grouped.setdefault(namespace_of(service, namespaces), {}).setdefault(service, []).append(check)

    def wave(own: list[dict[str, Any]]) -> int:
        waves = [int(c["wave"]) for c in own if isinstance(c.get("wave"), int)]
        return min(waves, default=0)

    def rank(namespace: str) -> tuple[int, str]:
        worst = _worst(c["outcome"] for own in grouped[namespace].values() for c in own)
        return (0 if worst not in PASSING else 1, namespace)

    return {
        namespace: dict(sorted(grouped[namespace].items(), key=lambda item: (wave(item[1]), item[0])))
        for namespace in sorted(grouped, key=rank)
    }


def _waves_of(checks: list[dict[str, Any]]) -> str:
    waves = sorted({int(c["wave"]) for c in checks if isinstance(c.get("wave"), int)})
    return ", ".join(str(w) for w in waves) or "-"


def _wave_label(checks: list[dict[str, Any]]) -> str:
    """How a group names its waves: wave 2, waves 1, 2, 3."""
    waves = _waves_of(checks)
    return f"wave{'s' if ',' in waves else ''} {waves}"


def _kind_line(kind: str, own: list[dict[str, Any]]) -> str:
    """A service's checks of one kind in a line: how they ended, their probes, and what answered
    on each side over every attempt."""
    outcomes = [str(c["outcome"]) for c in own]
    probes = ", ".join(str(c.get("probe") or c.get("id")) for c in own)
    seen: dict[str, dict[str, int]] = {}
    for check in own:
        evidence = check.get("evidence") or {}
        counts = evidence.get("attempt_counts") or {
            side: {f"{data.get('status') or data.get('error') or '-'} {data.get('served_by') or ''}".strip(): 1}
            for side in ("nginx", "gateway")
            if isinstance(data := evidence.get(side), dict) and (data.get("status") or data.get("error"))
        }
        for side, tally in counts.items():
            for key, count in tally.items():
                seen.setdefault(side, {})[key] = seen.setdefault(side, {}).get(key, 0) + count
    if seen and seen.get("nginx") == seen.get("gateway"):
        answered = "both sides: " + ", ".join(f"{key} x{n}" for key, n in seen["nginx"].items())
    else:
        answered = "; ".join(
            f"{side}: " + ", ".join(f"{key} x{n}" for key, n in tally.items()) for side, tally in seen.items()
        )
    return (
        f"<li><b>{e(kind)}</b> {e(_tally(outcomes))}: {e(probes)}{' &middot; ' + e(answered) if answered else ''}</li>"
    )


def _service_checks(own: list[dict[str, Any]]) -> str:
    """A service's checks, collapsed: one line per kind, the n/a kinds together."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for check in own:
        if check["outcome"] != "n/a":
            kinds.setdefault(str(check["kind"]), []).append(check)
    idle = sorted({str(c["kind"]) for c in own if c["outcome"] == "n/a"})
    items = "".join(_kind_line(kind, checks) for kind, checks in kinds.items())
    if idle:
        items += f"<li>n.a.: {e(', '.join(idle))}</li>"
    return f'<details class="compact"><summary>{len(own)} checks</summary><ul class="checks">{items}</ul></details>'


def _matrix(checks: list[dict[str, Any]], namespaces: dict[str, str] | None = None) -> str:
    """Services x checks, one table per namespace: a service is one line, its checks one click
    away; a namespace where everything passed is one collapsed line (all open on a small run)."""
    namespaces = namespaces or {}
    kinds = _columns(checks)
    head = "".join(f"<th>{e(kind)}</th>" for kind in kinds)
    grouped = _by_namespace([c for c in checks if c.get("kind") != "other"], namespaces)
    small = sum(len(services) for services in grouped.values()) <= OPEN_SERVICES
    blocks = []
    for namespace, services in grouped.items():
        rows = []
        for service, own in services.items():
            cells = []
            for kind in kinds:
                outcomes = [c["outcome"] for c in own if c["kind"] == kind]
                if not outcomes:
                    cells.append('<td class="na">-</td>')
                    continue
                css, text = _cell_text(outcomes)
                cells.append(f'<td class="{css}">{e(text)}</td>')
            blocking = any(c["outcome"] in BLOCKING or c["outcome"] == "waived" for c in own)
            name = f'<a href="#{e(_anchor(service))}">{e(service)}</a>' if blocking else e(service)
            rows.append(
                f"<tr><th>{name}</th><td>{e(_waves_of(own))}</td>{''.join(cells)}<td>{_service_checks(own)}</td></tr>"
            )
        every = [c for own in services.values() for c in own]
        outcomes = [c["outcome"] for c in every]
        troubled = any(o in BLOCKING or o == "waived" for o in outcomes)
        state = "" if troubled else " &middot; all passed or n.a."
        blocks.append(
            f'<details class="namespace"{" open" if troubled or small else ""}><summary><b>{e(namespace)}</b> &middot; '
            f"{len(services)} service{'s' if len(services) != 1 else ''} &middot; {e(_wave_label(every))} &middot; "
            f"{len(every)} checks: {e(_tally(outcomes))}{state}</summary>"
            f'<table class="grid"><tr><th>service</th><th>wave</th>{head}<th>checks</th></tr>{"".join(rows)}</table>'
            "</details>"
        )
    return f'<h2>Services by namespace</h2><div id="cutover-matrix">{"".join(blocks)}</div>'


def _anchor(service: str, section: str = "finding") -> str:
    """The id of a service's block in a section (Findings or Waived: one id each, never twice)."""
    return f"{section}-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in service)


def readable(value: Any) -> str:
    """A value as a reader wants it: yes/no for booleans, lists joined, mappings one per line."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "\n".join(f"  {k}: {readable(v)}" for k, v in value.items() if not _absent(v))
    if isinstance(value, list | tuple):
        if all(isinstance(item, str | int | float) for item in value):
            return ", ".join(str(item) for item in value)
        return json.dumps(value, indent=1, sort_keys=True, default=str)
    return str(value)


def _absent(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _side(title: str, data: Any) -> str:
    if _absent(data):
        return ""
    if not isinstance(data, dict):
        return f'<div class="side"><b>{e(title)}</b><pre>{e(readable(data))}</pre></div>'
    lines = []
    for key, value in data.items():
        if key in ("arrivals", "heartbeats") or _absent(value):
            continue
        text = readable(value)
        lines.append(f"{key}:\n{text}" if isinstance(value, dict) else f"{key}: {text}")
    return f'<div class="side"><b>{e(title)}</b><pre>{e(chr(10).join(lines))}</pre></div>'


def _cell_value(value: Any) -> str:
    return "(none)" if value is None else readable(value)


def _differences(differences: list[dict[str, Any]]) -> str:
    if not differences:
        return ""
    left, right = differences[0].get("sides") or ("nginx", "gateway")
    rows = "".join(
        f"<tr><td>{e(d.get('field'))}</td><td>{e(_cell_value(d.get('nginx')))}</td>"
        f"<td>{e(_cell_value(d.get('gateway')))}</td>"
        f"<td>{e(d.get('severity'))}{' (expected: ' + e(d.get('expected')) + ')' if d.get('expected') else ''}</td>"
        f"<td>{e(d.get('note'))}</td></tr>"
        for d in differences
    )
    return (
        f'<table class="grid"><tr><th>field</th><th>{e(left)}</th><th>{e(right)}</th><th>severity</th><th>note</th></tr>'
        f"{rows}</table>"
    )


def sse_chart(evidence: dict[str, Any]) -> str:
    """Event arrival times through both sides on one time axis: buffering and cut-offs show."""
    nginx, gateway = evidence.get("nginx") or {}, evidence.get("gateway") or {}
    end = max([1.0, float(nginx.get("elapsed") or 0), float(gateway.get("elapsed") or 0)])
    width, left, right = 640, 80, 20

    def x(t: float) -> float:
        return left + (width - left - right) * min(max(t, 0.0), end) / end

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="110" role="img" '
        f'aria-label="SSE event arrival times"><rect width="{width}" height="110" fill="#fff"/>'
    ]
    for row, (label, side, colour) in enumerate((("nginx", nginx, "#1f6feb"), ("gateway", gateway, "#c62828"))):
        y = 30 + row * 40
        parts.append(f'<text x="4" y="{y + 4}" font-size="12">{label}</text>')
        parts.append(f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" stroke="#bbb"/>')
        for t in side.get("heartbeats") or []:
            parts.append(
                f'<line x1="{x(float(t)):.1f}" y1="{y - 9}" x2="{x(float(t)):.1f}" y2="{y - 4}" stroke="#999"/>'
            )
        for t in side.get("arrivals") or []:
            parts.append(f'<circle cx="{x(float(t)):.1f}" cy="{y}" r="4" fill="{colour}"/>')
        done_at = float(side.get("elapsed") or 0)
        mark = "[DONE]" if side.get("done") else "cut off"
        parts.append(f'<text x="{min(x(done_at) + 4, width - 60):.1f}" y="{y + 16}" font-size="10">{e(mark)}</text>')
    parts.append(f'<text x="{left}" y="104" font-size="10">0 s</text>')
    parts.append(f'<text x="{width - right - 40}" y="104" font-size="10">{end:.1f} s</text></svg>')
    return "".join(parts)


def timeout_chart(evidence: dict[str, Any]) -> str:
    """Each side's duration as a bar against the limits that matter: nginx's idle limit, the
    Gateway's total limit when it has one (else Envoy's 15 s default line, for old evidence)."""
    durations = evidence.get("durations") or {}
    limits = evidence.get("limits") or {}
    lines: list[tuple[float, str]] = []
    if limits.get("nginx_read_timeout"):
        lines.append((float(limits["nginx_read_timeout"]), "nginx idle limit"))
    if limits.get("gateway_total"):
        lines.append((float(limits["gateway_total"]), "Gateway total limit"))
    if not lines:
        lines.append((float(evidence.get("line") or 15.0), "Envoy route default"))
    end = max([*(at * 1.1 for at, _ in lines), *(float(v) for v in durations.values()), 1.0]) * 1.05
    width, left, right = 640, 80, 150  # room on the right so no label is clipped
    scale = (width - left - right) / end
    height = 76 + 14 * len(lines)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="request durations"><rect width="{width}" height="{height}" fill="#fff"/>'
    ]
    for row, side in enumerate(("nginx", "gateway")):
        value = float(durations.get(side) or 0)
        status = (evidence.get(side) or {}).get("status")
        y = 12 + row * 30
        colour = "#1a7f37" if status == 200 else "#c62828"
        parts.append(f'<text x="4" y="{y + 13}" font-size="12">{side}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{value * scale:.1f}" height="18" fill="{colour}"/>')
        parts.append(
            f'<text x="{left + value * scale + 4:.1f}" y="{y + 13}" font-size="11">'
            f"{value:.1f} s &#8594; {e(status if status is not None else 'no answer')}</text>"
        )
    for index, (at, label) in enumerate(lines):
        lx = left + at * scale
        y = 84 + index * 14
        parts.append(f'<line x1="{lx:.1f}" y1="4" x2="{lx:.1f}" y2="{y - 10}" stroke="#555" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{lx:.1f}" y="{y}" font-size="10" text-anchor="middle">{at:g} s {e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def latency_chart(evidence: dict[str, Any]) -> str:
    """The distribution of stream durations on each side: one cumulative curve per side."""
    width, height, left, bottom = 640, 200, 60, 30
    series = {side: (evidence.get(side) or {}).get("stream_totals_ms") or [] for side in ("nginx", "gateway")}
    top = max([1.0, *(max(values) for values in series.values() if values)]) * 1.05
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="stream duration distribution"><rect width="{width}" height="{height}" fill="#fff"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#888"/>',
        f'<line x1="{left}" y1="10" x2="{left}" y2="{height - bottom}" stroke="#888"/>',
    ]
    for side, colour in (("nginx", "#1f6feb"), ("gateway", "#c62828")):
        values = sorted(float(v) for v in series[side])
        if not values:
            continue
        points = " ".join(
            f"{left + (width - left - 10) * v / top:.1f},{(height - bottom) - (height - bottom - 10) * (i + 1) / len(values):.1f}"
            for i, v in enumerate(values)
        )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        p99 = (evidence.get(side) or {}).get("stream_total", {}).get("p99")
        if p99 is not None:
            x = left + (width - left - 10) * float(p99) / top
            parts.append(
                f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height - bottom}" stroke="{colour}" '
                f'stroke-dasharray="3 3"/><text x="{x + 2:.1f}" y="{20 if side == "nginx" else 34}" '
                f'font-size="10" fill="{colour}">{side} p99 {float(p99):.0f} ms</text>'
            )
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="10">0 ms</text>')
    parts.append(f'<text x="{width - 70}" y="{height - 8}" font-size="10">{top:.0f} ms</text>')
    parts.append('<text x="4" y="20" font-size="10">100%</text></svg>')
    return "".join(parts)


def _chart(check: dict[str, Any]) -> str:
    evidence = check.get("evidence") or {}
    if check.get("kind") == "sse" and evidence.get("nginx"):
        return sse_chart(evidence)
    if check.get("kind") == "timeouts" and evidence.get("durations"):
        return timeout_chart(evidence)
    if check.get("kind") == "load" and evidence.get("nginx"):
        return latency_chart(evidence)
    return ""


def check_extra(check: dict[str, Any], full: bool = True) -> str:
    """One check's evidence: both sides side by side, the differences, and its chart (with
    full=False the differences and the message only: a finding repeated on many checks)."""
    evidence = check.get("evidence") or {}
    waiver = check.get("waiver")
    waiver_html = (
        f"<p>Waived by {e(waiver.get('owner'))} until {e(waiver.get('expires'))}: {e(waiver.get('reason'))}</p>"
        if waiver
        else ""
    )
    message = f"<pre>{e(check.get('message'))}</pre>" if check.get("message") and not check.get("differences") else ""
    differences = check.get("differences") or []
    if not full:
        blocking = [d for d in differences if d.get("severity", "fail") == "fail" and not d.get("expected")]
        if blocking and len(blocking) < len(differences):
            message += f"<p>{len(differences) - len(blocking)} other differences: in summary.json.</p>"
            differences = blocking
    # Cluster findings compare expected with found: there are no proxy panes to show.
    sides = "".join(_side(name, evidence.get(name)) for name in ("nginx", "gateway")) if full else ""
    chart = _chart(check) if full else ""
    return (
        f'<div class="evidence {"waived" if check.get("outcome") == "waived" else ""}">'
        f"<h3>{e(check.get('id'))} &middot; {e(check.get('kind'))} &middot; {e(check.get('outcome'))}</h3>"
        f"{waiver_html}{message}{_differences(differences)}{_remedies(check)}{chart}"
        + (f'<div class="sides">{sides}</div>' if sides else "")
        + "</div>"
    )


def _remedies(check: dict[str, Any]) -> str:
    """The change that closes a finding (cutover.fix), collapsed, its YAML ready to copy."""
    shown = []
    for remedy in check.get("remedy") or []:
        needs = f", needs {e(remedy.get('needs_profile'))}" if remedy.get("needs_profile") else ""
        snippet = f'<pre class="remedy-yaml">{e(remedy.get("yaml"))}</pre>' if remedy.get("yaml") else ""
        shown.append(
            f'<details class="remedy"><summary>Remedy: {e(remedy.get("title"))} ({e(remedy.get("status"))}{needs})'
            f"</summary><p>{e(remedy.get('reason'))}</p>{snippet}</details>"
        )
    return "".join(shown)


def _passed_evidence(checks: list[dict[str, Any]]) -> str:
    """What a board approves on for a GO too: the stream timelines and timeout bars, compact
    (each one a closed line when there are more than OPEN_CHARTS)."""
    shown = [c for c in checks if c["outcome"] == "passed" and _chart(c)]
    if not shown:
        return ""
    state = " open" if len(shown) <= OPEN_CHARTS else ""
    items = "".join(
        f'<details class="compact"{state}><summary>{e(c["id"])} &middot; {e(c["kind"])}</summary>{_chart(c)}</details>'
        for c in shown
    )
    return f'<h2>Evidence of the passing long probes</h2><div id="cutover-passed-evidence">{items}</div>'


def _findings(checks: list[dict[str, Any]], namespaces: dict[str, str], title: str, html_id: str, section: str) -> str:
    """Results grouped by namespace, then service (its wave shown); each finding's evidence in
    full for its first FULL_EVIDENCE checks, its differences only after that."""
    if not checks:
        return ""
    seen: dict[str, int] = {}
    blocks = []
    for namespace, services in _by_namespace(checks, namespaces).items():
        blocks.append(f'<h3 class="namespace">{e(namespace)}</h3>')
        for service, own in services.items():
            extras = []
            for check in own:
                name = (
                    finding(CheckResult.from_dict(check)) if check["outcome"] in BLOCKING else f"waived {check['kind']}"
                )
                seen[name] = seen.get(name, 0) + 1
                extras.append(check_extra(check, full=seen[name] <= FULL_EVIDENCE))
            blocks.append(
                f'<div class="service-block"><h4 class="service" id="{e(_anchor(service, section))}">{e(service)} '
                f"&middot; {e(_wave_label(own))}</h4>{''.join(extras)}</div>"
            )
    repeated = {name: count - FULL_EVIDENCE for name, count in seen.items() if count > FULL_EVIDENCE}
    note = (
        "<p>"
        + "; ".join(
            f"{e(name)}: evidence in full on the first {FULL_EVIDENCE}, differences only on the other {n}"
            for name, n in repeated.items()
        )
        + " (summary.json keeps every check's evidence).</p>"
        if repeated
        else ""
    )
    return f'<h2>{e(title)}</h2><div id="{html_id}">{note}{"".join(blocks)}</div>'


def _warnings(summary: dict[str, Any]) -> str:
    """Warnings grouped by field and note, each group's lines collapsed (a lost X-Forwarded-Host
    on 500 services is one line, not 500)."""
    warnings = [str(w) for w in summary.get("warnings") or []]
    if not warnings:
        return ""
    groups: dict[str, list[str]] = {}
    for warning in warnings:
        parts = warning.split(": ", 2)
        field = parts[1] if len(parts) == 3 else warning
        note = warning.rsplit(" (", 1)[1].rstrip(")") if warning.endswith(")") and " (" in warning else ""
        groups.setdefault(f"{field}: {note}" if note else field, []).append(warning)
    items = []
    for title, lines in groups.items():
        listed = "".join(f"<li>{e(line)}</li>" for line in lines[:WARNING_LINES])
        more = (
            f"<li>and {len(lines) - WARNING_LINES} more (summary.json lists them)</li>"
            if len(lines) > WARNING_LINES
            else ""
        )
        items.append(
            f'<li><details class="compact"><summary>{e(title)} &middot; {len(lines)} check{"s" if len(lines) != 1 else ""}'
            f"</summary><ul>{listed}{more}</ul></details></li>"
        )
    return f'<h2>Warnings (do not block GO)</h2><ul id="cutover-warnings">{"".join(items)}</ul>'


def _headline(summary: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    """One line under the banner: how much was checked, and how it ended."""
    services = list(dict.fromkeys(str(c["service"]) for c in checks if c.get("kind") != "other"))
    namespaces = {namespace_of(s, summary.get("namespaces") or {}) for s in services}
    passing = _passing_services(checks)
    outcomes = [str(c["outcome"]) for c in checks]
    return (
        f'<p class="tally" id="cutover-tally">{len(services)} service{"s" if len(services) != 1 else ""} in '
        f"{len(namespaces)} namespace{'s' if len(namespaces) != 1 else ''}, {e(_wave_label(checks))}: "
        f"{len(passing)} with every check passed or n.a.; {len(checks)} checks: {e(_tally(outcomes)) or 'none'}</p>"
    )


def _passing_services(checks: list[dict[str, Any]]) -> list[str]:
    troubled = {str(c["service"]) for c in checks if c["outcome"] not in PASSING}
    return [
        s for s in dict.fromkeys(str(c["service"]) for c in checks if c.get("kind") != "other") if s not in troubled
    ]


def _environment(summary: dict[str, Any]) -> str:
    environment = summary.get("environment_table") or {}
    if not environment:
        return ""
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(readable(v))}</td></tr>" for k, v in environment.items())
    return (
        '<details id="cutover-environment"><summary><b>Environment</b> (Python, platform, packages)</summary>'
        f'<table class="grid">{rows}</table></details>'
    )


def fragments(summary: dict[str, Any]) -> list[str]:
    """The verdict first, then what blocks it (grouped by namespace and service), what was
    waived, the scope, every service one line under its namespace, and the rest."""
    checks = summary.get("checks") or []
    namespaces = summary.get("namespaces") or {}
    parts = [f"<style>{CSS}</style>", _banner(summary)]
    if summary.get("complete") is False:
        parts.append(
            '<p id="cutover-incomplete"><b>This run is incomplete</b>: '
            f"{e(summary.get('incomplete_reason'))}. Its results are shown as they stood; run it again.</p>"
        )
    parts.append(_headline(summary, checks))
    findings = _findings(
        [c for c in checks if c["outcome"] in BLOCKING], namespaces, "Findings", "cutover-findings", "finding"
    )
    if findings:
        parts.append(findings)
    waived = _findings(
        [c for c in checks if c["outcome"] == "waived"], namespaces, "Waived", "cutover-waived", "waived"
    )
    if waived:
        parts.append(waived)
    refused = [w for w in summary.get("waivers") or [] if w.get("status") != "valid"]
    if refused:
        items = "".join(f"<li>{e(w.get('check'))} / {e(w.get('service'))}: {e(w.get('status'))}</li>" for w in refused)
        parts.append(f"<h2>Waivers refused</h2><ul>{items}</ul>")
    parts += [_scope(summary), _matrix(checks, namespaces)]
    passed = _passed_evidence(checks)
    if passed:
        parts.append(passed)
    warnings = _warnings(summary)
    if warnings:
        parts.append(warnings)
    notes = summary.get("notes") or []
    if notes:
        parts.append("<h2>Lab notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    history = summary.get("superseded") or []
    if history:
        rows = "".join(
            f"<li>{e(c.get('id'))} &middot; {e(c.get('kind'))}: {e(c.get('outcome'))} in the run of {e(c.get('run'))}</li>"
            for c in history
        )
        parts.append(f"<h2>Superseded by a later run</h2><ul>{rows}</ul>")
    environment = _environment(summary)
    if environment:
        parts.append(environment)
    return [f'<div class="cutover">{p}</div>' for p in parts]


def render_page(summary: dict[str, Any], sources: Iterable[str] = ()) -> str:
    """A self-contained page (no scripts at all) for `cutover report`."""
    listed = "".join(f"<li>{e(s)}</li>" for s in sources)
    body = "".join(fragments(summary))
    origin = f'<div class="cutover"><h2>Merged from</h2><ul>{listed}</ul></div>' if listed else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>cutover go/no-go: {e(summary.get('verdict'))}</title></head><body>{body}{origin}</body></html>"
    )
