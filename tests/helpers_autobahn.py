"""Running ``../shared/autobahn/run.sh`` from tests: one run in the background per server.

Used by tests/test_autobahn.py (every case but 12/13, in ``make test``) and
tests/test_autobahn_full.py (all 463 cases, ``make autobahn-full``).
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
from pathlib import Path

import pytest
from helpers_env import unavailable

REPO = Path(__file__).resolve().parents[1]
AUTOBAHN = REPO.parent / "shared" / "autobahn"
SUMMARY = re.compile(
    r"^autobahn (?P<agent>\S+): total=(?P<total>\d+) ok=(?P<ok>\d+) "
    r"non_strict=(?P<non_strict>\d+) informational=(?P<informational>\d+) "
    r"unimplemented=(?P<unimplemented>\d+) failed=(?P<failed>\d+)$",
    re.MULTILINE,
)


def require_suite() -> None:
    if not (AUTOBAHN / "run.sh").is_file() or not (AUTOBAHN / "servers").is_dir():
        unavailable(f"Autobahn|Testsuite not found at {AUTOBAHN}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def native_echo(port: int, *options: str) -> list[str]:
    """The guide-style echo server on asgiws's native serve()."""
    return [sys.executable, str(AUTOBAHN / "servers" / "asgiws_echo.py"), str(port), *options]


def asgi_echo(port: int) -> list[str]:
    """The ``asgiws`` command serving the raw ASGI echo app."""
    return [
        *(sys.executable, "-m", "asgiws", "asgi_echo:app"),
        *("--app-dir", str(AUTOBAHN / "servers"), "--port", str(port)),
        *("--ws-max-size", str(16 << 20), "--log-level", "warning"),
    ]


class AutobahnRun:
    """One ``run.sh`` in the background against a server it starts on ``port``."""

    def __init__(
        self,
        agent: str,
        out: Path,
        server: list[str],
        port: int,
        *options: str,
        timeout: float,
    ) -> None:
        self.agent = agent
        self.out = out
        self.timeout = timeout
        command = [
            str(AUTOBAHN / "run.sh"),
            f"ws://127.0.0.1:{port}",
            agent,
            *("--out", str(out), "--timeout", str(int(timeout * 0.9))),
            *options,
            *("--serve", shlex.join(server)),
        ]
        # The servers import this checkout's asgiws, whatever is installed.
        pythonpath = [str(REPO), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, pythonpath)))
        self.deadline = time.monotonic() + timeout
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
        """Wait for run.sh (at most ``timeout`` seconds from its start): status, out, err."""
        if self.output is None:
            remaining = max(1.0, self.deadline - time.monotonic())
            try:
                self.output = self.process.communicate(timeout=remaining)
            except subprocess.TimeoutExpired:
                self.stop()
                pytest.fail(f"run.sh ({self.agent}) did not finish in {self.timeout} s")
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


def check_summary(summary: dict[str, int], total: int, *, unimplemented: int = 0) -> None:
    """Every case ran and none failed."""
    assert summary["total"] == total, summary
    assert summary["failed"] == 0, summary
    assert summary["unimplemented"] == unimplemented, summary
    passed = summary["ok"] + summary["non_strict"] + summary["informational"]
    assert passed == total - unimplemented, summary
