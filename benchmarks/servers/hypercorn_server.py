"""hypercorn serving the raw ASGI echo app in this process, on uvloop.

Run: ``python -m benchmarks.servers.hypercorn_server --port 8004``

hypercorn's command line may fork a worker; serving in-process keeps one PID to measure.
hypercorn (through wsproto) always accepts permessage-deflate when a client offers it.
"""

from __future__ import annotations

from hypercorn.asyncio import serve
from hypercorn.config import Config

from benchmarks.servers._common import MAX_MESSAGE_SIZE, parse_args, run
from benchmarks.servers.asgi_echo_app import app


async def main() -> None:
    args = parse_args(__doc__ or "")
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"
    config.backlog = 2048
    config.websocket_max_message_size = MAX_MESSAGE_SIZE
    await serve(app, config, mode="asgi")  # type: ignore[arg-type]


if __name__ == "__main__":
    run(main())
