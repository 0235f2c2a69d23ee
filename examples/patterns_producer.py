#!/usr/bin/env python
"""开发模板 · 生产者 (guide §4.6), served by a small main() that is not in the guide."""

import asyncio
import os
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))

count = 0

async def producer():
    global count
    # 模拟消息产生延迟
    await asyncio.sleep(3)
    count += 1
    return 'message' + str(count)

async def producer_handler(websocket):
    while True:
        message = await producer()
        await websocket.send(message)


async def main():
    async with websockets.serve(producer_handler, HOST, PORT):
        await asyncio.Future()  # run forever

if __name__ == "__main__":
    asyncio.run(main())
