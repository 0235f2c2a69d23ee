"""Running an in-process ASGI :class:`asgiws.Server` in a test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from asgiws import Config, Server
from asgiws.asgi.websocket import run_websocket

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def run(main: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    """Run ``main()`` in a fresh event loop, bounded by ``timeout`` seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` is true, at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class WebSocketOnlyService:
    """A stand-in for the ASGI HTTP service: WebSocket upgrades go to ``run_websocket``,
    plain HTTP gets 404. Used only while ``asgiws.asgi.service`` does not exist."""

    def __init__(self, config: Any, server_state: Any, app: Any) -> None:
        self.config, self.server_state, self.app = config, server_state, app

    def request_received(self, connection: Any, head: Any) -> None:
        if head.websocket_upgrade:
            connection.task = asyncio.get_running_loop().create_task(
                run_websocket(connection, head, self.config, self.server_state, self.app)
            )
        else:
            connection.respond(404, [(b"content-type", b"text/plain")], b"not found\n")

    def connection_closed(self, connection: Any) -> None:
        pass


def _has_asgi_service() -> bool:
    try:
        import asgiws.asgi.service  # noqa: F401
    except ImportError:
        return False
    return True


HAS_ASGI_SERVICE = _has_asgi_service()


class TestServer(Server):
    """The real Server; with the stand-in service until the ASGI HTTP service exists."""

    __test__ = False

    def create_service(self) -> Any:
        if HAS_ASGI_SERVICE:
            return super().create_service()
        return WebSocketOnlyService(self.config, self.server_state, self.config.loaded_app)


@contextlib.asynccontextmanager
async def serving(app: Any, **settings: Any) -> AsyncIterator[TestServer]:
    """Serve ``app`` on 127.0.0.1 (a free port) in this loop; stop on exit, bounded."""
    settings.setdefault("port", free_port())
    settings.setdefault("host", HOST)
    settings.setdefault("ws_per_message_deflate", False)
    server = TestServer(Config(app, **settings))
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done(), timeout=10)
    if task.done():
        task.result()
        raise AssertionError("the server stopped during startup")
    try:
        yield server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def ws_url(server: Server, path: str = "/") -> str:
    return f"ws://{HOST}:{server.config.port}{path}"


# ---------------------------------------------------------------------------- the command


def asgiws_command(*args: str, env: dict[str, str] | None = None, **popen: Any) -> Any:
    """Start ``python -m asgiws *args`` (the ``asgiws`` command) with its output piped."""
    import os
    import subprocess
    import sys

    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "asgiws", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        **popen,
    )


def wait_listening(process: Any, port: int, timeout: float = 20.0) -> None:
    """Wait until ``port`` accepts connections, or fail with the process's output."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate(timeout=5)
            raise AssertionError(f"asgiws exited with {process.returncode}:\n{out}\n{err}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    out, err = process.communicate(timeout=5)
    raise AssertionError(f"asgiws did not listen on {port} in {timeout}s:\n{out}\n{err}")


def stop(process: Any, sig: int | None = None, timeout: float = 20.0) -> tuple[int, str, str]:
    """Send ``sig`` (SIGTERM), wait (bounded) and return (status, stdout, stderr)."""
    import signal
    import subprocess

    if process.poll() is None:
        process.send_signal(signal.SIGTERM if sig is None else sig)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=5)
        raise AssertionError(f"asgiws did not stop in {timeout}s:\n{out}\n{err}") from None
    return process.returncode, out, err
