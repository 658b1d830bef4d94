"""Helpers shared by the test modules (imported as ``from conftest import ...``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The repository's root (the source checkout the tests run against)."""


def run_script(script: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run one of the repository's scripts (``evaluate.py``, ``train.py``, ...) as a user would:
    a fresh interpreter in the repository's root, output captured as text."""
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
