#!/usr/bin/env python

import asyncio
import datetime
import os
import random
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "5678"))

# 保存已连接的 client 对象
CONNECTIONS = set()


async def register(server):
    CONNECTIONS.add(server)
    try:
        await server.wait_closed()
    finally:
        CONNECTIONS.remove(server)


async def show_time():
    while True:
        message = datetime.datetime.utcnow().isoformat() + "Z"
        # 向 CONNECTIONS 集合中的所有 server 对象广播消息
        websockets.broadcast(CONNECTIONS, message)
        await asyncio.sleep(random.random() * 2 + 1)


async def main():
    async with websockets.serve(register, HOST, PORT):
        await show_time()

if __name__ == "__main__":
    asyncio.run(main())
