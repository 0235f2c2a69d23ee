#!/usr/bin/env python
"""A chat across processes and hosts: every process shares one Redis through asgiws.hub.

    python examples/hub_chat.py 8001        # terminal 1
    python examples/hub_chat.py 8002        # terminal 2 (or another host)

A client of ws://localhost:8001/lobby and one of ws://localhost:8002/lobby read each other's
messages: the path is the room. REDIS_URL chooses the Redis server (redis://127.0.0.1:6379/0).
Not in the websockets guide: it is the guide's advice for several processes (use Redis
pub/sub to broadcast), built in.
"""

import asyncio
import os
import signal
import sys

import asgiws
from asgiws.hub import Hub, HubUnavailable

hub = Hub(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


async def chat(websocket):
    room = websocket.path.strip("/") or "lobby"
    # Unsubscribed automatically when the connection closes.
    hub.subscribe(room, websocket)
    async for message in websocket:
        try:
            await hub.publish(room, message)  # every process delivers it, this one included
        except HubUnavailable:
            await websocket.send("(not sent: the message service is unavailable, try again)")


async def main():
    host = os.environ.get("WS_HOST", "localhost")
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WS_PORT", "8765"))
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with hub, asgiws.serve(chat, host, port):
        print(f"chat on ws://{host}:{port}/<room>, through {hub.backend!r}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
