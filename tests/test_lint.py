"""The code stays ruff clean and type-checks (mypy), as part of the one test command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lo import need

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_clean() -> None:
    need("ruff")
    res = run("ruff", "check", ".")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_clean() -> None:
    need("mypy")
    res = run("mypy", "lscb_xl", "--ignore-missing-imports")
    assert res.returncode == 0, res.stdout + res.stderr
