#!/usr/bin/env python

import asyncio
import os
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))


async def handler(server):
    name = await server.recv()
    print(f"<<< {name}")

    greeting = f"Hello {name}!"

    await server.send(greeting)
    print(f">>> {greeting}")


async def main():
    async with websockets.serve(handler, HOST, PORT):
        await asyncio.Future()  # run forever

if __name__ == "__main__":
    asyncio.run(main())
