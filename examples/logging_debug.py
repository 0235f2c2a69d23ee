#!/usr/bin/env python
"""其他 · 打开调试信息 (guide §6), the logging snippet in a runnable echo server.

The server is the guide's SIGTERM echo server, so that its shutdown is logged too.
The library logs to the "websockets" logger hierarchy ("websockets.server",
"websockets.client"), as websockets 10.4 does.
"""

import asyncio
import logging
import os
import signal
import sys

import asgiws as websockets

# Not in the guide: the host and port can be changed (argv[1] or WS_PORT, WS_HOST).
HOST = os.environ.get("WS_HOST", "localhost")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WS_PORT", "8765"))

logger = logging.getLogger('websockets')
logger.setLevel(logging.INFO)
logger.addHandler(logging.StreamHandler())


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main():
    # Set the stop condition when receiving SIGTERM.
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)

    async with websockets.serve(echo, HOST, PORT):
        await stop

if __name__ == "__main__":
    asyncio.run(main())
