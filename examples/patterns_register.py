#!/usr/bin/env python
"""开发模板 · 注册、注销客户端 (guide §4.6), served by a small main() that is not in the guide.

Fixed from the guide: asyncio.wait() no longer accepts coroutines (Python >= 3.11),
so each send() is wrapped in a task.
"""

import asyncio
import os
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))

connected = set()

async def handler(websocket):
    # Register.
    connected.add(websocket)
    try:
        # Implement logic here.
        await asyncio.wait([asyncio.create_task(ws.send("Hello!")) for ws in connected])
        await asyncio.sleep(10)
    finally:
        # Unregister.
        connected.remove(websocket)


async def main():
    async with websockets.serve(handler, HOST, PORT):
        await asyncio.Future()  # run forever

if __name__ == "__main__":
    asyncio.run(main())
