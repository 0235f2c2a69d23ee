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


async def show_time(server):
    while True:
        message = datetime.datetime.utcnow().isoformat() + "Z"
        await server.send(message)
        await asyncio.sleep(random.random() * 2 + 1)


async def main():
    async with websockets.serve(show_time, HOST, PORT):
        await asyncio.Future()  # run forever

if __name__ == "__main__":
    asyncio.run(main())
