"""Helpers of the reliability suite (imported by name: the test folders have no __init__.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def usam_cmd(*args: str) -> list[str]:
    """The command line of ``usam ARGS`` run with this interpreter."""
    return [sys.executable, "-m", "usam_toolkit", *args]


def run_usam(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``usam ARGS`` from the repository root and capture its output."""
    return subprocess.run(
        usam_cmd(*args), check=False, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout
    )
