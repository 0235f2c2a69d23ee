"""aiohttp echo server (``web.WebSocketResponse``) with a plain ``200 ok`` GET, on uvloop.

Run: ``python -m benchmarks.servers.aiohttp_echo --port 8005 [--deflate]``
"""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from benchmarks.servers._common import MAX_MESSAGE_SIZE, parse_args, run


def make_app(deflate: bool) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(text="ok")
        websocket = web.WebSocketResponse(compress=deflate, max_msg_size=MAX_MESSAGE_SIZE)
        await websocket.prepare(request)
        async for message in websocket:
            if message.type == WSMsgType.TEXT:
                await websocket.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await websocket.send_bytes(message.data)
        return websocket

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    return app


async def main() -> None:
    args = parse_args(__doc__ or "")
    runner = web.AppRunner(make_app(args.deflate), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=2048)
    await site.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    run(main())
