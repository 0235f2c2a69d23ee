"""Autobahn|Testsuite against the native echo server, compression off.

Runs ``../shared/autobahn/run.sh`` (see its README) with the echo server of
``../shared/autobahn/servers/asgiws_echo.py`` on this checkout's asgiws. Every case but the
permessage-deflate groups 12/13 must pass: 247 cases, 0 FAILED; with ``--with-9`` (the 54
large-message cases of group 9) 301 cases. The two runs start together, each against its own
server, since they spend most of their time waiting (~15 s and ~30 s). Under CI a missing
``../shared`` or a failed setup is a failure; locally it is a skip.
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
TIMEOUT = 300
SUMMARY = re.compile(
    r"^autobahn (?P<agent>\S+): total=(?P<total>\d+) ok=(?P<ok>\d+) "
    r"non_strict=(?P<non_strict>\d+) informational=(?P<informational>\d+) "
    r"unimplemented=(?P<unimplemented>\d+) failed=(?P<failed>\d+)$",
    re.MULTILINE,
)

# The runs take 15-35 s (more on a loaded machine): the suite's default per-test timeout
# (120 s) is too tight, and run.sh must be stopped by AutobahnRun.stop(), not killed outside.
pytestmark = [pytest.mark.autobahn, pytest.mark.timeout(TIMEOUT + 100)]


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AutobahnRun:
    """One ``run.sh`` in the background against a fresh echo server on its own port."""

    def __init__(self, agent: str, out: Path, *options: str) -> None:
        self.agent = agent
        self.out = out
        port = free_port()
        echo_server = AUTOBAHN / "servers" / "asgiws_echo.py"
        serve = shlex.join([sys.executable, str(echo_server), str(port), "--no-deflate"])
        command = [
            str(AUTOBAHN / "run.sh"),
            f"ws://127.0.0.1:{port}",
            agent,
            "--exclude",
            "12.*,13.*",
            "--out",
            str(out),
            "--timeout",
            str(TIMEOUT - 20),
            *options,
            "--serve",
            serve,
        ]
        # The echo server imports this checkout's asgiws, whatever is installed.
        pythonpath = [str(REPO), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, pythonpath)))
        self.deadline = time.monotonic() + TIMEOUT
        # run.sh leads its own process group, so that stop() reaches wstest too; its EXIT trap
        # stops the echo server it started.
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
        """Wait for run.sh (at most TIMEOUT seconds from its start): status, stdout, stderr."""
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
        """Check run.sh's exit status and return its summary line's counts."""
        status, stdout, stderr = self.wait()
        output = stdout + stderr  # run.sh prints the per-group table and the failed cases
        if status == 2 and "setup.sh failed" in output:
            unavailable(f"Autobahn|Testsuite setup failed:\n{output}")
        server_log = self.out / "server.log"
        if server_log.exists():
            output += f"\n--- server.log ---\n{server_log.read_text()[-4000:]}"
        assert status == 0, output
        match = SUMMARY.search(stdout)
        assert match is not None, output
        assert match["agent"] == self.agent
        return {name: int(value) for name, value in match.groupdict().items() if name != "agent"}


@pytest.fixture(scope="module")
def autobahn_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, AutobahnRun]]:
    if not (AUTOBAHN / "run.sh").is_file() or not (AUTOBAHN / "servers").is_dir():
        unavailable(f"Autobahn|Testsuite not found at {AUTOBAHN}")
    reports = tmp_path_factory.mktemp("autobahn")
    runs: dict[str, AutobahnRun] = {}
    try:
        runs["default"] = AutobahnRun("asgiws-ci", reports / "default")
        runs["with-9"] = AutobahnRun("asgiws-ci-9", reports / "with-9", "--with-9")
        yield runs
    finally:
        for run in runs.values():
            run.stop()


def test_autobahn_all_but_deflate(autobahn_runs: dict[str, AutobahnRun]) -> None:
    summary = autobahn_runs["default"].summary()
    assert summary["failed"] == 0, summary
    assert summary["total"] == 247, summary
    assert summary["unimplemented"] == 0, summary
    assert summary["ok"] + summary["non_strict"] + summary["informational"] == 247, summary


def test_autobahn_with_large_messages(autobahn_runs: dict[str, AutobahnRun]) -> None:
    """The same run plus the 9.* cases: messages and frames up to 16 MiB."""
    summary = autobahn_runs["with-9"].summary()
    assert summary["failed"] == 0, summary
    assert summary["total"] == 247 + 54, summary
