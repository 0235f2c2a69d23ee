#!/usr/bin/env python
"""开发模板 · 生产者 + 消费者 (guide §4.6), served by a small main() that is not in the guide.

Fixed from the guide: its handler(websocket) passed an undefined `path` to
consumer_handler() and producer_handler(); here both take the websocket only.
"""

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

async def consumer_handler(websocket):
    async for message in websocket:
        await consumer(message)


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


async def handler(websocket):
    consumer_task = asyncio.ensure_future(consumer_handler(websocket))
    producer_task = asyncio.ensure_future(producer_handler(websocket))
    # 直到其中一方退出
    done, pending = await asyncio.wait(  # noqa: RUF059
        [consumer_task, producer_task],
        return_when=asyncio.FIRST_COMPLETED,
    )
    for task in pending:
        task.cancel()


async def main():
    async with websockets.serve(handler, HOST, PORT):
        await asyncio.Future()  # run forever

if __name__ == "__main__":
    asyncio.run(main())
