"""A real ``redis-server`` for the hub tests: a free 127.0.0.1 port, a temporary directory,
no persistence; stopped (and restartable) by the test.

Under ``CI=true`` a missing ``redis-server`` or ``redis`` package fails the tests; elsewhere
they are skipped with the reason (``make test`` installs both: scripts/ensure-services.sh).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_env import unavailable

HOST = "127.0.0.1"
WAIT = 20.0  # the longest a test waits for one thing; a passing test never does


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _missing(what: str) -> None:
    unavailable(f"{what} is not installed (make test installs it)")


def redis_server_path() -> str:
    path = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
    )
    if path is None:
        _missing("redis-server (the Debian package redis-server)")
    assert path is not None
    return path


def redis_package() -> Any:
    try:
        import redis
    except ImportError:
        _missing("the redis Python package (pip install 'asgiws[redis]')")
    return redis


class RedisServer:
    """One ``redis-server`` process; :meth:`stop` and :meth:`start` again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.executable = redis_server_path()
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        assert self.process is None
        command = [self.executable, "--bind", HOST, "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        command += ["--daemonize", "no", "--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")
                raise AssertionError(f"redis-server exited: {self.process.returncode}\n{log}")
            try:
                if self.command("PING") in (True, b"PONG", "PONG"):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("redis-server did not answer PING in time")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # in case a test paused it
            process.terminate()
            try:
                process.wait(WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(WAIT)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it accepts nothing and answers nothing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def command(self, *args: Any) -> Any:
        """One command over a fresh connection (blocking; short timeouts)."""
        redis = redis_package()
        client = redis.Redis(
            host=HOST, port=self.port, socket_timeout=2, socket_connect_timeout=2, protocol=2
        )
        try:
            return client.execute_command(*args)
        except redis.ConnectionError as exc:
            raise OSError(str(exc)) from exc
        finally:
            client.close()

    def numsub(self, channel: str, prefix: str = "asgiws:") -> int:
        """How many connections are subscribed to ``channel`` (``PUBSUB NUMSUB``)."""
        reply = self.command("PUBSUB", "NUMSUB", prefix + channel)
        return int(reply[1])


@pytest.fixture(name="redis_server", scope="module")
def redis_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server shared by the tests of one module."""
    redis_package()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="own_redis_server")
def own_redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server for one test, which may stop, restart or pause it."""
    redis_package()
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
