"""Helpers for tests/test_examples.py: run the guide's programs (examples/) as processes.

Every wait here has a deadline, every process is killed when its test ends, and only
127.0.0.1 is used. ``ASGIWS_EXAMPLES_IMPL`` chooses what ``import asgiws`` means in the
example processes:

- ``asgiws`` (the default): this repository's asgiws;
- ``websockets``: the real websockets library, through the shim package in
  ``tests/shims/websockets_as_asgiws`` (its legacy API is websockets 10.4's API).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as websockets_connect
from websockets.sync.server import Server, ServerConnection
from websockets.sync.server import serve as websockets_serve

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SHIM = REPO / "tests" / "shims" / "websockets_as_asgiws"
LOCALHOST_PEM = EXAMPLES / "localhost.pem"
IMPL_VARIABLE = "ASGIWS_EXAMPLES_IMPL"
IMPLEMENTATIONS = ("asgiws", "websockets")
HOST = "127.0.0.1"

# How long a test waits for one thing to happen (a line, a message, an exit): generous,
# because a loaded CI machine can be slow; a test that passes never waits this long.
WAIT = 20.0


def implementation() -> str:
    """The library the example programs import as ``asgiws``."""
    impl = os.environ.get(IMPL_VARIABLE, "") or "asgiws"
    if impl not in IMPLEMENTATIONS:
        raise pytest.UsageError(f"{IMPL_VARIABLE}={impl!r}: expected one of {IMPLEMENTATIONS}")
    return impl


def example_env(
    impl: str,
    port: int | None,
    *,
    host: str | None = HOST,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment of an example process: where to listen/connect and which library."""
    env = {k: v for k, v in os.environ.items() if k not in ("WS_HOST", "WS_PORT")}
    env["PYTHONUNBUFFERED"] = "1"  # print() lines reach the test as they are printed
    env["PYTHONIOENCODING"] = "utf-8"
    if port is not None:
        env["WS_PORT"] = str(port)
    if host is not None:
        env["WS_HOST"] = host
    first = SHIM if impl == "websockets" else REPO
    path = [str(first), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(extra or {})
    return env


def _ephemeral_range() -> tuple[int, int]:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        low, high = (int(part) for part in text.split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free port on 127.0.0.1, below the ephemeral range when possible.

    The tests connect to a port before the program listens on it (and retry). If the
    port were in the ephemeral range, the kernel could pick it as the client's own
    port, and the client would connect to itself (TCP simultaneous open).
    """
    low, _ = _ephemeral_range()
    candidates = range(10000, low) if low > 10100 else range(0)
    for port in random.sample(candidates, min(50, len(candidates))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, alive: Callable[[], None] | None = None, timeout: float = WAIT):
    """Wait until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        try:
            with socket.create_connection((HOST, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"nothing listens on {HOST}:{port} after {timeout} s")
            time.sleep(0.05)


class _Lines:
    """The lines of one pipe, read by a thread as they come."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: list[str] = []
        self.eof = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        try:
            for line in pipe:
                with self._cond:
                    self.lines.append(line.rstrip("\r\n"))
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self.eof = True
                self._cond.notify_all()

    def snapshot(self) -> list[str]:
        with self._cond:
            return list(self.lines)

    def wait_for(self, match: Callable[[str], bool], start: int, deadline: float) -> int | None:
        """Index of the first line from ``start`` that matches, None at EOF or deadline."""
        with self._cond:
            index = start
            while True:
                while index < len(self.lines):
                    if match(self.lines[index]):
                        return index
                    index += 1
                if self.eof:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class Program:
    """One example program running as a child process (python examples/<script>)."""

    def __init__(
        self,
        script: str,
        env: dict[str, str],
        *,
        stdin: str | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.script = script
        self.proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / script), *args],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            cwd=str(EXAMPLES),
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._stdout = _Lines(self.proc.stdout)
        self._stderr = _Lines(self.proc.stderr)
        if stdin is not None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(stdin)
                self.proc.stdin.close()
            except OSError:  # it died already; the test reports its output
                pass

    # What it printed.

    @property
    def stdout(self) -> list[str]:
        return self._stdout.snapshot()

    @property
    def stderr(self) -> list[str]:
        return self._stderr.snapshot()

    def describe(self) -> str:
        rc = self.proc.poll()
        state = "running" if rc is None else f"exited with {rc}"
        return (
            f"{self.script} ({state})\n--- stdout ---\n"
            + "\n".join(self.stdout)
            + "\n--- stderr ---\n"
            + "\n".join(self.stderr)
        )

    def wait_for_line(
        self,
        match: str | Callable[[str], bool],
        *,
        stream: str = "stdout",
        start: int = 0,
        timeout: float = WAIT,
    ) -> int:
        """Wait for a line that contains ``match`` (or satisfies it); return its index."""
        lines = self._stdout if stream == "stdout" else self._stderr
        test = (lambda line: match in line) if isinstance(match, str) else match
        found = lines.wait_for(test, start, time.monotonic() + timeout)
        if found is None:
            pytest.fail(f"no line {match!r} on {stream} within {timeout} s:\n{self.describe()}")
        return found

    # Its life.

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            self._stdout.join(2.0)
            self._stderr.join(2.0)
            pytest.fail(f"the program stopped early:\n{self.describe()}")

    def wait_for_port(self, port: int, timeout: float = WAIT) -> None:
        wait_for_port(port, alive=self.check_running, timeout=timeout)

    def send_signal(self, signum: int = signal.SIGTERM) -> None:
        self.check_running()
        self.proc.send_signal(signum)

    def wait(self, timeout: float = WAIT) -> int:
        """Wait for the process to exit; return its exit code."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout} s:\n{self.describe()}")
        self._stdout.join(2.0)
        self._stderr.join(2.0)
        return rc

    def stop(self) -> None:
        """Kill it if it runs (idempotent); always called by the fixture."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)
        self._stdout.join(2.0)
        self._stderr.join(2.0)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def client_ssl_context() -> ssl.SSLContext:
    """Trusts examples/localhost.pem, like client_secure.py does."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(LOCALHOST_PEM)
    return context


def server_ssl_context() -> ssl.SSLContext:
    """Serves examples/localhost.pem, like server_secure.py does."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(LOCALHOST_PEM)
    return context


def connect(
    program: Program,
    port: int,
    *,
    path: str = "/",
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = WAIT,
) -> ClientConnection:
    """Open a connection to an example server with the real websockets client.

    Retries while the port refuses connections (the program is starting), and fails
    with the program's output if it stops.
    """
    scheme = "wss" if ssl_context is not None else "ws"
    uri = f"{scheme}://{HOST}:{port}{path}"
    deadline = time.monotonic() + timeout
    while True:
        program.check_running()
        try:
            return websockets_connect(uri, ssl=ssl_context, open_timeout=WAIT, close_timeout=5)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                pytest.fail(f"{uri} refused connections for {timeout} s:\n{program.describe()}")
            time.sleep(0.05)


@contextlib.contextmanager
def websockets_server(
    handler: Callable[[ServerConnection], Any],
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[Server]:
    """A real websockets server on 127.0.0.1:port, in a thread, for the client examples."""
    server = websockets_serve(handler, HOST, port, ssl=ssl_context, close_timeout=5)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(WAIT)
