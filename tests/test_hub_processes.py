"""Two server processes share one Redis: ``examples/hub_chat.py`` twice, on two ports.

A client of each process reads what the other one's client sends; with Redis stopped, the
example tells its client that the message was not sent, and keeps serving."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_redis import (
    WAIT,
    RedisServer,
    free_port,
    own_redis_server_fixture,  # noqa: F401
)
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
CHAT = REPO / "examples" / "hub_chat.py"


def run(main: Callable[[], Awaitable[Any]], timeout: float = 90) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


async def until(predicate: Callable[[], Any], timeout: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def start_chat(own_redis_server: RedisServer) -> Iterator[Callable[[], int]]:
    """Start ``examples/hub_chat.py`` on a free port; every one is stopped at the end."""
    processes: list[subprocess.Popen[str]] = []

    def start() -> int:
        port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "WS_HOST": HOST, "WS_PORT": str(port)}
        env["REDIS_URL"] = own_redis_server.url
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        process = subprocess.Popen(
            [sys.executable, str(CHAT)], env=env, stdout=subprocess.PIPE, text=True
        )
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()  # bounded by the test's timeout (pytest-timeout)
        assert line.startswith("chat on "), line
        return port

    try:
        yield start
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                assert process.wait(WAIT) == 0
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(WAIT)
                raise


async def recv(client: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(client.recv(), WAIT)


def test_clients_of_two_processes_read_each_other(
    start_chat: Callable[[], int], own_redis_server: RedisServer
) -> None:
    first, second = start_chat(), start_chat()

    async def main() -> None:
        async with (
            ws_connect(f"ws://{HOST}:{first}/lobby") as alice,
            ws_connect(f"ws://{HOST}:{second}/lobby") as bob,
        ):
            # Each process subscribed to asgiws:lobby once it had a local subscriber.
            await until(lambda: own_redis_server.numsub("lobby") == 2)
            await alice.send("hello from the first process")
            assert await recv(bob) == "hello from the first process"
            assert await recv(alice) == "hello from the first process"
            await bob.send(b"\x00binary from the second")
            assert await recv(alice) == b"\x00binary from the second"
            assert await recv(bob) == b"\x00binary from the second"

            # Redis down: the example answers instead of failing the connection.
            await asyncio.to_thread(own_redis_server.stop)
            await alice.send("into the void")
            assert "not sent" in str(await recv(alice))

            await asyncio.to_thread(own_redis_server.start)
            await until(lambda: own_redis_server.numsub("lobby") == 2, timeout=60)
            await bob.send("back")
            assert await recv(alice) == "back"
            assert await recv(bob) == "back"
        await until(lambda: own_redis_server.numsub("lobby") == 0)

    run(main)
