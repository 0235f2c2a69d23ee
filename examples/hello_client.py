#!/usr/bin/env python

import asyncio
import os
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))


async def handler():
    uri = f"ws://{HOST}:{PORT}"
    async with websockets.connect(uri) as client:
        name = input("What's your name? ")

        await client.send(name)
        print(f">>> {name}")

        greeting = await client.recv()
        print(f"<<< {greeting}")

if __name__ == "__main__":
    asyncio.run(handler())
