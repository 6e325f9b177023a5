"""How the verdict is written: summary.json, the HTML page, redaction."""

from cutover.report.html import check_extra, fragments, render_page
from cutover.report.redact import redact
from cutover.report.summary import load_summary, merge_summaries, render_reports
from cutover.report.verdict import CheckResult, Verdict, decide

__all__ = [
    "CheckResult",
    "Verdict",
    "check_extra",
    "decide",
    "fragments",
    "load_summary",
    "merge_summaries",
    "redact",
    "render_page",
    "render_reports",
]
