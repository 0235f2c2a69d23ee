"""The house rules that tools can check: ruff and mypy clean, so that CI keeps main so."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from helpers_env import unavailable

REPO = Path(__file__).resolve().parent.parent


def tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed: it is a dev dependency")
    return found


def check(*command: str) -> None:
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_check() -> None:
    check(tool("ruff"), "check", "asgiws", "tests", "examples", "benchmarks")


def test_ruff_format() -> None:
    check(tool("ruff"), "format", "--check", "asgiws", "tests")


def test_mypy() -> None:
    check(tool("mypy"), "asgiws")
