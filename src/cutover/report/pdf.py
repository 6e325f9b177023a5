"""`cutover report --pdf`: the page printed to A4 through headless Chromium, when installed.

The page's print stylesheet hides pytest-html's controls and starts each service on a new
page; Chromium is told not to add its own header and footer (the file:// address, the date).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from cutover.errors import CutoverError

__all__ = ["find_chromium", "print_pdf"]

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(page: Path, output: Path, timeout: float = 120.0) -> Path:
    browser = find_chromium()
    if browser is None:
        raise CutoverError("Chromium is not installed, so no PDF can be printed (apt-get install chromium)")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cutover-chromium-") as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            "--virtual-time-budget=5000",
            f"--print-to-pdf={output}",
            page.resolve().as_uri(),
        ]
        try:
            subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise CutoverError(f"Chromium did not print {page} within {timeout:g} s") from None
    if not output.is_file() or output.stat().st_size == 0:
        raise CutoverError(f"Chromium did not write {output}")
    return output
