#!/usr/bin/env python
"""两端通用 · 如何设置 recv() 的超时时间 (guide §6), put into a runnable echo server.

Each message is echoed. When no message arrives within the timeout, the server
prints "recv() timed out", sends "timeout" and keeps waiting: cancelling recv()
loses no message. The timeout is 10 seconds as in the guide; RECV_TIMEOUT
(not in the guide) shortens it for the tests.
"""

import asyncio
import os
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))
TIMEOUT = float(os.environ.get("RECV_TIMEOUT", "10"))


async def handler(websocket):
    while True:
        try:
            message = await asyncio.wait_for(websocket.recv(), timeout=TIMEOUT)
        except asyncio.TimeoutError:
            print("recv() timed out")
            await websocket.send("timeout")
            continue
        except websockets.ConnectionClosed:
            break
        print(f"<<< {message}")
        await websocket.send(message)


async def main():
    async with websockets.serve(handler, HOST, PORT):
        await asyncio.Future()  # run forever

if __name__ == "__main__":
    asyncio.run(main())
