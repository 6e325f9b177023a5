"""The `cutover` command: the embedded lab, merged reports and PDFs, the phase-0 inventory, verified
fixes, and attaching a verdict to the change ticket."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cutover import __version__
from cutover.errors import CutoverError, InputError
from cutover.lab import DEFAULT_PROFILE, PROFILES, Lab, LabOptions, LabState
from cutover.lab.faults import FAULTS
from cutover.lab.process import alive
from cutover.locations import default_manifests, default_state_dir
from cutover.report import render_reports

if TYPE_CHECKING:  # cutover fix's modules load only when the command runs
    from cutover.fix.remedies import FixPlan
    from cutover.fix.verify import FindingResult, Selection

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cutover", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cutover {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    _add_lab_parser(commands)
    _add_report_parser(commands)
    _add_inventory_parser(commands)
    _add_attach_parser(commands)
    _add_fix_parser(commands)
    return parser


def _add_lab_parser(commands: Any) -> None:
    lab = commands.add_parser("lab", help="the embedded lab: real nginx and Envoy on loopback")
    lab_commands = lab.add_subparsers(dest="lab_command", required=True)
    up = lab_commands.add_parser("up", help="render and start the lab, write <state>/targets.yaml, return")
    up.add_argument(
        "--manifests", type=Path, default=None, help="directory of Kubernetes YAML (default: fixtures/metalkube)"
    )
    up.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default=None,
        help=f"Cilium profile (default: the overlay's lab.profile, else {DEFAULT_PROFILE})",
    )
    up.add_argument(
        "--fault", action="append", default=[], choices=sorted(FAULTS), metavar="NAME", help="seed a fault (repeatable)"
    )
    up.add_argument(
        "--ports", type=int, default=None, metavar="START", help="use consecutive ports from START (default: free ones)"
    )
    up.add_argument(
        "--nginx-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="the ingress-nginx controller's ConfigMap (default: the one in the manifests, else its defaults)",
    )
    for sub in (
        up,
        lab_commands.add_parser("status", help="show the running lab"),
        lab_commands.add_parser("down", help="stop every lab process, by pid"),
    ):
        sub.add_argument("--state", type=Path, default=None, help="state directory (default: ./.lab)")
    lab_commands.add_parser("profiles", help="list the gateway profiles")
    lab_commands.add_parser("faults", help="list the seeded faults")


def _add_report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="re-render the go/no-go page from one or more summary.json files (merged), or print a page to PDF",
    )
    report.add_argument(
        "summaries",
        nargs="+",
        type=Path,
        metavar="SUMMARY.json",
        help="summary.json files (a later run of the same check supersedes an earlier one), or one go-no-go.html",
    )
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("reports/merged/go-no-go.html"),
        help="the HTML file to write (default: reports/merged/go-no-go.html)",
    )
    report.add_argument(
        "--pdf",
        nargs="?",
        type=Path,
        const=Path("-"),
        default=None,
        metavar="FILE",
        help="also print the page to an A4 PDF through headless Chromium (default FILE: the page's name with .pdf)",
    )


def _add_inventory_parser(commands: Any) -> None:
    inventory = commands.add_parser(
        "inventory", help="phase 0: inventory.json, the Ingress backup, a draft targets file"
    )
    inventory.add_argument("--manifests", type=Path, default=None, help="read YAML instead of a cluster (offline)")
    inventory.add_argument("--kubeconfig", default=None, help="kubeconfig (default: in-cluster, then KUBECONFIG)")
    inventory.add_argument("--context", default=None, help="kubeconfig context")
    inventory.add_argument("--out", type=Path, default=Path("reports/inventory"), help="output directory")
    inventory.add_argument(
        "--draft-targets",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write a draft targets file with the checks each annotation calls for",
    )


def _add_attach_parser(commands: Any) -> None:
    attach = commands.add_parser(
        "attach",
        help="upload the go/no-go report to the change ticket",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "environment (credentials are read from here only, never printed or written):\n"
            "  JIRA_URL                      the Jira base URL; with it, --to defaults to jira\n"
            "  JIRA_USER, JIRA_API_TOKEN     basic authentication\n"
            "  JIRA_BEARER_TOKEN             bearer authentication instead\n"
            "  CUTOVER_WEBHOOK_URL           the webhook (--to webhook)\n"
            "  CUTOVER_WEBHOOK_TOKEN         optional bearer token for the webhook\n"
            "An incomplete run, or one made for another ticket, is refused unless --force."
        ),
    )
    attach.add_argument("--ticket", required=True, help="the ticket, e.g. CHG-1234")
    attach.add_argument(
        "--report",
        type=Path,
        default=Path("reports/latest"),
        help="the run directory with go-no-go.html and summary.json (default: reports/latest)",
    )
    attach.add_argument(
        "--to",
        choices=("jira", "webhook"),
        default=None,
        help="where to (default: Jira when JIRA_URL is set, else the webhook)",
    )
    attach.add_argument(
        "--force",
        action="store_true",
        help="attach even an incomplete run, or one made for another ticket (default: refuse)",
    )


def _add_fix_parser(commands: Any) -> None:
    fix = commands.add_parser(
        "fix",
        help="write a patched copy of the manifests with a remedy per finding, and prove each one in the lab",
        description=(
            "Writes a patched copy of DIR (new objects under cutover-fix/, changed objects with a comment naming "
            "the finding), prints the diff, runs the same selection on the copy in the embedded lab and reports per "
            "finding: fixed (verified), not fixed (with the evidence), not fixable (why), or needs another Cilium "
            "profile. Never edits DIR, never touches a cluster. Exit 0 when every finding with a remedy is fixed "
            "and verified and the copy has no new finding, 1 otherwise."
        ),
    )
    fix.add_argument("--manifests", type=Path, required=True, metavar="DIR", help="the manifests as they are")
    fix.add_argument("--out", type=Path, required=True, metavar="DIR2", help="where the patched copy is written")
    fix.add_argument(
        "--from",
        dest="from_summary",
        type=Path,
        default=None,
        metavar="SUMMARY.json",
        help="the findings of an earlier run (default: run the checks on DIR first)",
    )
    fix.add_argument(
        "-m", dest="markexpr", default=None, metavar="EXPR", help="the selection (default: --from's, else all checks)"
    )
    fix.add_argument("-k", dest="keyword", default=None, metavar="EXPR", help="a keyword filter (default: --from's)")
    fix.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default=None,
        help=f"the lab's Cilium profile (default: --from's, else the overlay's lab.profile, else {DEFAULT_PROFILE})",
    )
    fix.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=sorted(FAULTS),
        metavar="NAME",
        help="seed a lab fault in the runs (repeatable): shows a remedy the lab breaks reported as not fixed",
    )
    fix.add_argument(
        "--report-dir", type=Path, default=Path("reports"), help="where the runs are written (default: ./reports)"
    )


def _fix(args: argparse.Namespace) -> int:
    from cutover.fix import plan_fix
    from cutover.fix.verify import NEW, NOT_FIXED, judge, run_suite, write_fix_report
    from cutover.lab.profiles import get_profile

    manifests: Path = args.manifests
    out: Path = args.out
    _check_fix_paths(manifests, out)
    selection, before = _fix_selection(args)
    profile = get_profile(str(selection.profile))
    report_dir: Path = args.report_dir
    if before is None:
        print(f"cutover fix: running the checks on {manifests} (profile {profile.name}) to find what to fix")
        before = run_suite(manifests, report_dir, selection)
    if before.get("complete") is False:
        errors = "; ".join(before.get("_errors") or [])
        print(
            f"cutover fix: the run on {manifests} is incomplete ({before.get('incomplete_reason')}"
            + (f"; {errors}" if errors else "")
            + "): only the findings it reached are fixed"
        )
    plan = plan_fix(manifests, list(before.get("checks") or []), profile)
    if not plan.remedies:
        print(f"cutover fix: {before.get('verdict')}: no finding to fix ({before.get('reason')})")
        return 0 if before.get("verdict") == "GO" else 1
    plan.workspace.write(out)
    print(plan.workspace.diff(), end="")
    print(f"cutover fix: patched copy written to {out}; verifying it in the lab (profile {profile.name})")
    after = run_suite(out, report_dir, selection)
    results = judge(plan, after)
    _, page = write_fix_report(Path(after["_run_dir"]), plan, results, before, after, str(manifests), str(out))
    _print_fix_results(plan, results)
    print(f"cutover fix: after: {after.get('verdict')} - {after.get('reason')}")
    print(f"cutover fix report: {page}")
    return 1 if any(r.status in (NOT_FIXED, NEW) for r in results) else 0


def _check_fix_paths(manifests: Path, out: Path) -> None:
    """cutover fix reads DIR and writes a fresh copy elsewhere: never into DIR."""
    if not manifests.is_dir():
        raise InputError("is not a directory of Kubernetes YAML", file=str(manifests))
    if out.resolve() == manifests.resolve() or out.resolve().is_relative_to(manifests.resolve()):
        raise InputError("must not be the manifests directory or inside it: cutover fix never edits DIR", file=str(out))
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("exists and is not empty: cutover fix writes a fresh copy", file=str(out))


def _fix_selection(args: argparse.Namespace) -> tuple[Selection, dict[str, Any] | None]:
    """What the checks run on (the --from-summary run's selection, overridden by the options),
    and that earlier run's summary when one is given."""
    from cutover.fix.verify import Selection
    from cutover.lab.lab import load_overlay

    before: dict[str, Any] | None = None
    if args.from_summary is not None:
        try:
            before = json.loads(args.from_summary.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot be read as summary.json: {exc}", file=str(args.from_summary)) from None
        selection = Selection.from_summary(before)
    else:
        selection = Selection()
    if args.markexpr is not None:
        selection.markexpr = args.markexpr
    if args.keyword is not None:
        selection.keyword = args.keyword
    selection.faults = list(args.fault)
    overlay_profile = (load_overlay(args.manifests).get("lab") or {}).get("profile")
    selection.profile = args.profile or selection.profile or overlay_profile or DEFAULT_PROFILE
    return selection, before


def _print_fix_results(plan: FixPlan, results: list[FindingResult]) -> None:
    from cutover.fix.verify import FIXED, NEW, NOT_FIXED

    for result in results:
        print(f"  {result.status.upper():30} {result.finding.id}: {result.detail}")
        if result.status == NOT_FIXED or result.status == NEW:
            continue
        remedy = plan.remedy_of(result.finding.id)
        if remedy is not None and remedy.expected_difference is not None and result.status != FIXED:
            print(f"  {'':30} suggested expected difference: {json.dumps(remedy.expected_difference)}")
    counts = {
        status: sum(1 for r in results if r.status == status) for status in dict.fromkeys(r.status for r in results)
    }
    print("cutover fix: " + ", ".join(f"{n} {status}" for status, n in counts.items()))


def _lab_up(args: argparse.Namespace) -> int:
    options = LabOptions(
        manifests=args.manifests or default_manifests(),
        state_dir=args.state or default_state_dir(),
        profile=args.profile,
        faults=list(args.fault),
        ports_start=args.ports,
        detach=True,
        nginx_config=args.nginx_config,
    )
    lab = Lab(options)
    state = lab.up()
    _print_state(state)
    return 0


def _print_state(state: LabState) -> None:
    print(
        f"lab running from {state.state_dir} (profile {state.profile}"
        + (f", faults: {', '.join(state.faults)}" if state.faults else "")
        + ")"
    )
    for side, endpoint in state.endpoints.items():
        print(
            f"  {side:8} http://{endpoint['address']}:{endpoint['http_port']}  "
            f"https://{endpoint['address']}:{endpoint['https_port']}"
        )
    for process in state.processes:
        print(f"  pid {process.pid:<8} {process.name:40} {'running' if alive(process) else 'NOT RUNNING'}")
    if state.notes:
        print("not modelled or ignored:")
        for note in state.notes:
            print(f"  - {note}")
    print(f"targets: {state.targets}")


def _lab_status(args: argparse.Namespace) -> int:
    state_dir = args.state or default_state_dir()
    state = LabState.read(state_dir)
    if state is None:
        print(f"no lab in {state_dir}")
        return 1
    _print_state(state)
    return 0 if all(alive(p) for p in state.processes) else 1


def _lab_down(args: argparse.Namespace) -> int:
    state_dir = args.state or default_state_dir()
    stopped = Lab.stop(state_dir)
    print(f"stopped {len(stopped)} lab processes" if stopped else f"no lab in {state_dir}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from cutover.report.pdf import print_pdf

    inputs = list(args.summaries)
    if len(inputs) == 1 and inputs[0].suffix == ".html":
        if args.pdf is None:
            raise InputError("is a page: pass --pdf to print it, or give summary.json files", file=str(inputs[0]))
        pdf = inputs[0].with_suffix(".pdf") if args.pdf == Path("-") else args.pdf
        print(f"pdf: {print_pdf(inputs[0], pdf)}")
        return 0
    output, verdict = render_reports(inputs, args.output)
    print(f"{verdict}: {output}")
    if args.pdf is not None:
        pdf = output.with_suffix(".pdf") if args.pdf == Path("-") else args.pdf
        print(f"pdf: {print_pdf(output, pdf)}")
    return 0 if verdict == "GO" else 1


def _inventory(args: argparse.Namespace) -> int:
    import datetime as dt
    import os

    from cutover.cluster.inventory import write_inventory
    from cutover.cluster.source import ClusterSource, ManifestSource, connect
    from cutover.cluster.state import read_state

    source: ClusterSource
    if args.manifests is None and (
        args.kubeconfig or args.context or os.environ.get("KUBERNETES_SERVICE_HOST") or os.environ.get("KUBECONFIG")
    ):
        source = connect(args.kubeconfig, args.context)
    else:
        source = ManifestSource(args.manifests or default_manifests())
    state = read_state(source)
    written = write_inventory(state, args.out, dt.date.today(), args.draft_targets)
    data = json.loads(written["inventory"].read_text())
    print(
        f"{data['summary']['ingresses']} Ingresses from {state.description}: "
        + ", ".join(f"{count} {level}" for level, count in data["summary"]["complexity"].items())
    )
    for row in data["ingresses"]:
        flagged = [
            a["key"].split("/")[-1] + f" ({a['category']})"
            for a in row["annotations"]
            if a["category"] in ("unknown", "unsupported")
        ]
        print(
            f"  {row['namespace'] + '/' + row['name']:28} {row['complexity']:6} wave {row['proposed_wave']}  "
            f"{', '.join(row['hosts'])}" + (f"  flagged: {', '.join(flagged)}" if flagged else "")
        )
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def _attach(args: argparse.Namespace) -> int:
    import os

    from cutover.attach import attach_jira, attach_webhook
    from cutover.report.summary import check_ticket

    ticket = check_ticket(args.ticket)
    assert ticket is not None
    target = args.to or ("jira" if os.environ.get("JIRA_URL") else "webhook")
    result = (attach_jira if target == "jira" else attach_webhook)(args.report, ticket, force=args.force)
    print(f"attached {', '.join(result.files)} to {result.target}: {result.comment}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "report":
            return _report(args)
        if args.command == "inventory":
            return _inventory(args)
        if args.command == "attach":
            return _attach(args)
        if args.command == "fix":
            return _fix(args)
        if args.command == "lab":
            if args.lab_command == "up":
                return _lab_up(args)
            if args.lab_command == "status":
                return _lab_status(args)
            if args.lab_command == "down":
                return _lab_down(args)
            if args.lab_command == "profiles":
                for profile in PROFILES.values():
                    print(f"{profile.name:15} Gateway API {profile.gateway_api_bundle:7} {profile.description}")
                return 0
            if args.lab_command == "faults":
                for fault in FAULTS.values():
                    print(f"{fault.name:24} breaks {fault.check:12} {fault.description}")
                return 0
    except CutoverError as exc:
        print(f"cutover: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cutover: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
