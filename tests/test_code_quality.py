"""The house rules that tools can check, so that CI keeps main so: ruff and mypy clean, and
the layers of DESIGN.md (protocol/ and http/ import no asyncio, server/ no asgi/)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


# DESIGN.md's layers: what each package may not import (relative or absolute).
FORBIDDEN = {
    "protocol": {"asyncio", "asgiws.server", "asgiws.asgi", "asgiws.http", "asgiws.hub"},
    "http": {"asyncio", "asgiws.server", "asgiws.asgi", "asgiws.protocol", "asgiws.hub"},
    "server": {"asgiws.asgi", "asgiws.hub"},
}


def imported_modules(path: Path) -> set[str]:
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_what_design_allows(layer: str) -> None:
    crossings = [
        f"{path.relative_to(REPO)} imports {module}"
        for path in sorted((REPO / "asgiws" / layer).rglob("*.py"))
        for module in sorted(imported_modules(path))
        if any(module == banned or module.startswith(banned + ".") for banned in FORBIDDEN[layer])
    ]
    assert not crossings, crossings
