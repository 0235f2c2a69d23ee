"""``asgiws hub_apps:app --workers 2``: clients of two worker processes read each other through
Redis pub/sub, and SIGTERM stops everything cleanly (1012 to the clients, exit status 0, no
traceback, nothing left subscribed in Redis)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websockets.exceptions
from helpers_asgi import HOST, free_port
from helpers_env import require
from helpers_redis import (
    WAIT,
    RedisServer,
    redis_server_fixture,  # noqa: F401
)
from hub_apps import CHANNEL
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

require("starlette")

TESTS = Path(__file__).parent
MAX_ATTEMPTS = 40  # connections tried before giving up on reaching both workers


class Workers:
    """``asgiws ... --workers 2`` with its stderr read by a thread, so that the test can wait
    until both workers completed their lifespan startup: the supervisor's socket accepts
    connections earlier, and a worker still starting takes none of them."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "asgiws", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )
        self.lines: list[str] = []
        self.started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if sum("Application startup complete." in seen for seen in self.lines) == 2:
                self.started.set()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_started(self) -> None:
        if not self.started.wait(WAIT):
            raise AssertionError(f"the two workers did not start in {WAIT} s:\n{self.stderr}")

    def stop(self) -> int:
        """SIGTERM (if still running); the exit status, once stderr is read to its end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(WAIT)
            raise AssertionError(f"asgiws did not stop in {WAIT} s:\n{self.stderr}") from None
        self._reader.join(WAIT)
        return status


def run(main: Callable[[], Any], timeout: float = 60) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


async def until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def recv(client: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(client.recv(), WAIT)


async def close_code(client: ClientConnection) -> tuple[int, str]:
    """Read until the server closes; the code and reason it sent."""
    with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
        for _ in range(100):  # a message still on its way, at most
            await recv(client)
    assert info.value.rcvd is not None, "no close frame from the server"
    return info.value.rcvd.code, info.value.rcvd.reason


async def one_client_per_worker(url: str) -> dict[int, ClientConnection]:
    """Connect until two clients are on two different workers; close the others.

    The workers accept on one shared socket: the kernel picks which one, so this is bounded
    and fails (rather than proving nothing) if one worker never gets a connection."""
    clients: dict[int, ClientConnection] = {}
    seen: list[int] = []
    for _ in range(MAX_ATTEMPTS):
        client = await ws_connect(url, proxy=None, open_timeout=WAIT, close_timeout=5)
        pid = int(await recv(client))
        seen.append(pid)
        if pid in clients:
            await client.close()
        else:
            clients[pid] = client
        if len(clients) == 2:
            return clients
    for client in clients.values():
        await client.close()
    pytest.fail(f"{MAX_ATTEMPTS} connections all reached worker {seen[0]}: no second worker")


@pytest.mark.parametrize("loop", [None, "asyncio"], ids=["default-loop", "asyncio"])
def test_workers_broadcast_to_each_other_through_redis(
    redis_server: RedisServer, loop: str | None
) -> None:
    port = free_port()
    args = ["hub_apps:app", "--app-dir", str(TESTS), "--port", str(port), "--workers", "2"]
    if loop is not None:
        args += ["--loop", loop]
    # ResourceWarnings shown: an unclosed Redis connection or socket at exit shows in stderr.
    env = {"HUB_REDIS_URL": redis_server.url, "PYTHONWARNINGS": "default::ResourceWarning"}
    workers = Workers(*args, env=env)

    async def main() -> list[tuple[int, str]]:
        clients = await one_client_per_worker(f"ws://{HOST}:{port}/chat")
        assert workers.process.pid not in clients  # workers answer, not the supervisor
        a, b = clients.values()
        # NUMSUB counts processes: both workers' hubs are subscribed.
        await until(lambda: redis_server.numsub(CHANNEL) == 2, "both workers subscribed")

        for sender, texts in ((a, ["A → B: 1", "A → B: 2"]), (b, ["B → A: é 1", "B → A: 2"])):
            for text in texts:
                await sender.send(text)
            for client in (a, b):  # each worker's client, the sender's own included
                assert [await recv(client) for _ in texts] == texts
        # Nothing was delivered twice: the next message is the next one received.
        await a.send("last")
        assert await recv(a) == "last" and await recv(b) == "last"

        workers.process.send_signal(signal.SIGTERM)
        return [await close_code(client) for client in (a, b)]

    try:
        workers.wait_started()
        codes = run(main)
    finally:
        status = workers.stop()
    err = workers.stderr
    assert status == 0, err
    assert codes == [(1012, "service restart")] * 2, err
    # Only the usual INFO lines: no traceback, warning (ResourceWarning included) or error.
    assert [line for line in err.splitlines() if not line.startswith("INFO ")] == [], err
    assert err.count("Application shutdown complete.") == 2, err
    run(lambda: until(lambda: redis_server.numsub(CHANNEL) == 0, "no subscriber left"))
