"""asgiws's native ``serve()`` echo server (the websockets 10.4 API), on uvloop.

Run: ``python -m benchmarks.servers.asgiws_native --port 8003 [--deflate] [--broadcast]``

With ``--broadcast`` (scenario h) every connection joins a set; a text message ``!broadcast``
makes the server call ``asgiws.broadcast()`` once for all the others and answer the sender with
the nanoseconds that call took.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asgiws
from benchmarks.servers._common import (
    BROADCAST_PAYLOAD,
    BROADCAST_TRIGGER,
    MAX_MESSAGE_SIZE,
    parse_args,
    run,
)

CLIENTS: set[Any] = set()


async def echo(websocket: Any) -> None:
    async for message in websocket:
        await websocket.send(message)


async def broadcaster(websocket: Any) -> None:
    CLIENTS.add(websocket)
    try:
        async for message in websocket:
            if message == BROADCAST_TRIGGER:
                CLIENTS.discard(websocket)
                start = time.perf_counter_ns()
                asgiws.broadcast(CLIENTS, BROADCAST_PAYLOAD)
                await websocket.send(str(time.perf_counter_ns() - start))
    finally:
        CLIENTS.discard(websocket)


async def main() -> None:
    args = parse_args(__doc__ or "")
    handler = broadcaster if args.broadcast else echo
    async with asgiws.serve(
        handler,
        args.host,
        args.port,
        compression="deflate" if args.deflate else None,
        max_size=MAX_MESSAGE_SIZE,
    ):
        await asyncio.Future()


if __name__ == "__main__":
    run(main())
