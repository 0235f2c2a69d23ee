"""What the test environment must provide: under ``CI=true`` anything missing is a failure,
never a silent skip; on a developer's machine it is a skip that says what to install."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    """Fail under CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: nothing the tests need may be missing)")
    pytest.skip(reason)


def require(module: str) -> ModuleType:
    """Import ``module`` (a dev dependency), or fail under CI / skip elsewhere."""
    try:
        return importlib.import_module(module)
    except ImportError:
        unavailable(f"{module} is not installed (make test installs it)")
