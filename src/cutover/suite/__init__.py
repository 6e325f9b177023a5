"""The migration checks as pytest modules, shipped inside the package.

pytest collects them from here when a cutover run names no test paths (`pytest -m wave2`
from any directory, or with path-valued options that move pytest's rootdir); the checkout's
tests_migration/ re-exports the same modules so `pytest tests_migration` keeps its ids.
"""

from pathlib import Path

SUITE_DIR = Path(__file__).resolve().parent

__all__ = ["SUITE_DIR"]
