#!/usr/bin/env python
"""开发模板 · 消费者 (guide §4.6), served by a small main() that is not in the guide."""

import asyncio
import os
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))


async def consumer(message):
    # 模拟处理延迟
    await asyncio.sleep(1)
    print('consumer: ', message)

async def consumer_handler(websocket, path):
    async for message in websocket:
        await consumer(message)


async def main():
    # consumer_handler takes (websocket, path): the two-argument handler that
    # websockets 10.4 still accepts (deprecated); serve() passes the request path.
    async with websockets.serve(consumer_handler, HOST, PORT):
        await asyncio.Future()  # run forever

if __name__ == "__main__":
    asyncio.run(main())
