"""What the hub tests share: a bounded run that fails on leftover tasks, a bounded wait, and a
native server whose connections join a channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from helpers_redis import free_port
from websockets.asyncio.client import ClientConnection

import asgiws
from asgiws.hub import Hub

HOST = "127.0.0.1"


def run(main: Callable[[], Awaitable[Any]], timeout: float = 90) -> Any:
    """Run ``main()`` in a new loop, bounded by ``timeout``; fail if it leaves tasks behind."""

    async def bounded() -> Any:
        before = set(asyncio.all_tasks())
        result = await asyncio.wait_for(main(), timeout)
        await asyncio.sleep(0)
        left = {t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()}
        assert not left, f"tasks left behind: {left}"
        return result

    return asyncio.run(bounded())


async def until(predicate: Callable[[], Any], timeout: float = 15.0) -> None:
    """Wait until ``predicate()`` is true, at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def room_server(hub: Hub, channel: str = "room") -> AsyncIterator[int]:
    """A native server whose handler subscribes every connection to ``channel``."""

    async def handler(websocket: Any) -> None:
        hub.subscribe(channel, websocket)
        await websocket.wait_closed()

    port = free_port()
    async with asgiws.serve(handler, HOST, port, compression=None):
        yield port


async def recv(client: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(client.recv(), 10)
