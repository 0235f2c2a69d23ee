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

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
AUTOBAHN = REPO.parent / "shared" / "autobahn"
IN_CI = os.environ.get("CI") == "true"
TIMEOUT = 3600  # a run, from its start; run.sh's own wstest limit is a little shorter
CASES = 463
SUMMARY = re.compile(
    r"^autobahn (?P<agent>\S+): total=(?P<total>\d+) ok=(?P<ok>\d+) "
    r"non_strict=(?P<non_strict>\d+) informational=(?P<informational>\d+) "
    r"unimplemented=(?P<unimplemented>\d+) failed=(?P<failed>\d+)$",
    re.MULTILINE,
)

pytestmark = [pytest.mark.autobahn_full, pytest.mark.timeout(TIMEOUT + 120)]


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def native_echo(port: int) -> list[str]:
    return [sys.executable, str(AUTOBAHN / "servers" / "asgiws_echo.py"), str(port)]


def asgi_echo(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "asgiws", "asgi_echo:app"),
        *("--app-dir", str(AUTOBAHN / "servers"), "--port", str(port)),
        *("--ws-max-size", str(16 << 20), "--log-level", "warning"),
    ]


class AutobahnRun:
    """One ``run.sh`` of every case in the background, against its own server."""

    def __init__(self, agent: str, out: Path, server: list[str], port: int) -> None:
        self.agent = agent
        self.out = out
        command = [
            str(AUTOBAHN / "run.sh"),
            f"ws://127.0.0.1:{port}",
            agent,
            *("--out", str(out), "--timeout", str(TIMEOUT - 60)),
            *("--serve", shlex.join(server)),
        ]
        # The servers import this checkout's asgiws, whatever is installed.
        pythonpath = [str(REPO), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, pythonpath)))
        self.deadline = time.monotonic() + TIMEOUT
        # run.sh leads its own process group, so that stop() reaches wstest too; its EXIT trap
        # stops the server it started.
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.output: tuple[str, str] | None = None

    def wait(self) -> tuple[int, str, str]:
        if self.output is None:
            remaining = max(1.0, self.deadline - time.monotonic())
            try:
                self.output = self.process.communicate(timeout=remaining)
            except subprocess.TimeoutExpired:
                self.stop()
                pytest.fail(f"run.sh ({self.agent}) did not finish in {TIMEOUT} s")
        stdout, stderr = self.output
        return self.process.returncode, stdout, stderr

    def stop(self) -> None:
        """SIGTERM run.sh's process group (its EXIT trap stops the server), then SIGKILL."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.output = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.output = self.process.communicate()

    def summary(self) -> dict[str, int]:
        """Check run.sh's exit status; print and return its summary line's counts."""
        status, stdout, stderr = self.wait()
        output = stdout + stderr  # the per-group table and the failed cases
        if status == 2 and "setup.sh failed" in output:
            unavailable(f"Autobahn|Testsuite setup failed:\n{output}")
        server_log = self.out / "server.log"
        if server_log.exists():
            output += f"\n--- server.log ---\n{server_log.read_text()[-4000:]}"
        match = SUMMARY.search(stdout)
        assert match is not None, output
        print(f"\n{match[0]}")
        assert status == 0, output
        assert match["agent"] == self.agent
        return {name: int(value) for name, value in match.groupdict().items() if name != "agent"}


@pytest.fixture(scope="module")
def full_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, AutobahnRun]]:
    if "autobahn_full" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("~10 min of Autobahn runs: make autobahn-full (pytest -m autobahn_full)")
    if not (AUTOBAHN / "run.sh").is_file() or not (AUTOBAHN / "servers").is_dir():
        unavailable(f"Autobahn|Testsuite not found at {AUTOBAHN}")
    reports = tmp_path_factory.mktemp("autobahn-full")
    runs: dict[str, AutobahnRun] = {}
    try:
        for name, server in (("native", native_echo), ("asgi", asgi_echo)):
            port = free_port()
            runs[name] = AutobahnRun(f"asgiws-{name}-deflate", reports / name, server(port), port)
        yield runs
    finally:
        for run in runs.values():
            run.stop()


def check(summary: dict[str, int]) -> None:
    assert summary["total"] == CASES, summary
    assert summary["failed"] == 0, summary
    assert summary["unimplemented"] == 0, summary  # groups 12/13: permessage-deflate offered
    assert summary["ok"] + summary["non_strict"] + summary["informational"] == CASES, summary


def test_autobahn_full_native_echo(full_runs: dict[str, AutobahnRun]) -> None:
    check(full_runs["native"].summary())


def test_autobahn_full_asgi_echo(full_runs: dict[str, AutobahnRun]) -> None:
    check(full_runs["asgi"].summary())
