"""Autobahn|Testsuite in full, permessage-deflate (groups 12/13) included: 463 cases.

Two runs of ``../shared/autobahn/run.sh`` (see its README), started together, each against its
own echo server on its own port, compression on:

* the native echo, ``../shared/autobahn/servers/asgiws_echo.py`` (``serve()``'s defaults);
* the ``asgiws`` command serving the raw ASGI echo app ``../shared/autobahn/servers/asgi_echo.py``
  (``--ws-per-message-deflate`` at its default, on).

Each must end with 0 FAILED and 0 UNIMPLEMENTED. Groups 12/13 take ~5 minutes a run on a quiet
2-core machine (much longer on a busy one), so these tests run only when selected:
``make autobahn-full``, i.e. ``pytest -m autobahn_full tests/test_autobahn_full.py``; a plain
``pytest`` skips them. Under CI a missing ``../shared`` or a failed setup is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers_autobahn import (
    AutobahnRun,
    asgi_echo,
    check_summary,
    free_port,
    native_echo,
    require_suite,
)

TIMEOUT = 3600  # a run, from its start; run.sh's own wstest limit is a little shorter
CASES = 463

pytestmark = [pytest.mark.autobahn_full, pytest.mark.timeout(TIMEOUT + 120)]


@pytest.fixture(scope="module")
def full_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, AutobahnRun]]:
    if "autobahn_full" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("~10 min of Autobahn runs: make autobahn-full (pytest -m autobahn_full)")
    require_suite()
    reports = tmp_path_factory.mktemp("autobahn-full")
    runs: dict[str, AutobahnRun] = {}
    try:
        for name, server in (("native", native_echo), ("asgi", asgi_echo)):
            port = free_port()
            runs[name] = AutobahnRun(
                f"asgiws-{name}-deflate", reports / name, server(port), port, timeout=TIMEOUT
            )
        yield runs
    finally:
        for run in runs.values():
            run.stop()


def test_autobahn_full_native_echo(full_runs: dict[str, AutobahnRun]) -> None:
    check_summary(full_runs["native"].summary(), CASES)


def test_autobahn_full_asgi_echo(full_runs: dict[str, AutobahnRun]) -> None:
    check_summary(full_runs["asgi"].summary(), CASES)
