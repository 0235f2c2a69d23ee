#!/usr/bin/env python

import asyncio
import os
import signal
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))

async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)

async def server():

    # Set the stop condition when receiving SIGTERM.
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)

    async with websockets.serve(echo, HOST, PORT):
        await stop

asyncio.run(server())
