#!/usr/bin/env python

import asyncio
import os
import pathlib
import ssl
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))

ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
localhost_pem = pathlib.Path(__file__).with_name("localhost.pem")
ssl_context.load_verify_locations(localhost_pem)


async def hello():
    uri = f"wss://{HOST}:{PORT}"
    async with websockets.connect(uri, ssl=ssl_context) as client:
        name = input("What's your name? ")

        await client.send(name)
        print(f">>> {name}")

        greeting = await client.recv()
        print(f"<<< {greeting}")

if __name__ == "__main__":
    asyncio.run(hello())
