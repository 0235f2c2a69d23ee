#!/usr/bin/env python
"""常见问题 · 如何向 handler 传递额外的参数 (guide §6), made runnable.

Changed from the guide: its handler body is `...`; here it answers each message
with the extra argument. The guide builds `start_server` at module level, the
pre-asyncio.run() idiom; here it is built inside main(), under asyncio.run().
"""

import asyncio
import functools
import os
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "127.0.0.1")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))

async def handler(websocket, extra_argument):
    async for message in websocket:
        await websocket.send(f"{message} {extra_argument}")


async def main():
    bound_handler = functools.partial(handler, extra_argument='spam')
    start_server = websockets.serve(bound_handler, HOST, PORT)
    async with start_server:
        await asyncio.Future()  # run forever

if __name__ == "__main__":
    asyncio.run(main())
