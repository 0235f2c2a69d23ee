"""websockets (the new asyncio API) echo server.

Run: ``python -m benchmarks.servers.websockets_echo --port 8002 [--deflate] [--broadcast]``
"""

from __future__ import annotations

import time

from websockets.asyncio.server import ServerConnection, broadcast, serve

from benchmarks.servers._common import (
    BROADCAST_PAYLOAD,
    BROADCAST_TRIGGER,
    MAX_MESSAGE_SIZE,
    parse_args,
    run,
)

CLIENTS: set[ServerConnection] = set()


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def broadcaster(websocket: ServerConnection) -> None:
    CLIENTS.add(websocket)
    try:
        async for message in websocket:
            if message == BROADCAST_TRIGGER:
                CLIENTS.discard(websocket)
                start = time.perf_counter_ns()
                broadcast(CLIENTS, BROADCAST_PAYLOAD)
                await websocket.send(str(time.perf_counter_ns() - start))
    finally:
        CLIENTS.discard(websocket)


async def main() -> None:
    args = parse_args(__doc__ or "")
    handler = broadcaster if args.broadcast else echo
    async with serve(
        handler,
        args.host,
        args.port,
        compression="deflate" if args.deflate else None,
        max_size=MAX_MESSAGE_SIZE,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    run(main())
