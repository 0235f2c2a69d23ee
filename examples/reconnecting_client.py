#!/usr/bin/env python
"""常见问题 · 断开后如何重连 (guide §6, client), made runnable.

Changed from the guide: its loop body is `...`; here it prints "connected" on
each connection and every message it receives. It runs until it is killed.
"""

import asyncio
import os
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))


async def main():
    async for websocket in websockets.connect(f"ws://{HOST}:{PORT}"):
        try:
            print("connected")
            async for message in websocket:
                print(f"<<< {message}")
        except websockets.ConnectionClosed:
            continue

if __name__ == "__main__":
    asyncio.run(main())
