"""Scenario f without sockets: keep-alive GETs fed through one HttpConnection to the ASGI app.

For instruction counts (noise-free) and profiles of the per-request path::

    python benchmarks/inprocess_http.py --requests 50000             # µs/request
    python benchmarks/inprocess_http.py --profile                    # cProfile, top functions
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python benchmarks/inprocess_http.py --requests 6000          # "I refs", deterministic

Compare two versions by their totals for the same --requests (start-up is the same), or take
the difference of two runs (N and N + 10000) for instructions per request. ``--vary`` gives every
request its own target, so that nothing is repeated.

The transport is a stand-in that keeps what is written; each request is fed as wrk sends it,
then the loop runs once (the application task answers in that iteration).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asgiws.asgi.service import ASGIService
from asgiws.server.http import HttpConnection
from asgiws.server.state import ServerState
from benchmarks.servers.asgi_echo_app import app

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.last = b""

    def write(self, data: Any) -> None:
        self.written += 1
        self.last = bytes(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


async def drive(requests: int, http: str, vary: bool = False) -> float:
    config = SimpleNamespace(access_log=False)
    service = ASGIService(config, ServerState(ready=True), app)
    connection = HttpConnection(service, http=http)
    transport = Transport()
    connection.connection_made(transport)
    feed = connection.data_received
    pause = asyncio.sleep
    start = time.perf_counter()
    if vary:  # a different target each time: nothing is repeated
        for number in range(requests):
            feed(b"GET /%d HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n" % number)
            await pause(0)
    else:
        for _ in range(requests):
            feed(REQUEST)
            await pause(0)
    elapsed = time.perf_counter() - start
    if transport.written != requests or not transport.last.startswith(b"HTTP/1.1 200 OK\r\n"):
        raise SystemExit(f"unexpected output: {transport.written} writes, {transport.last!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50000)
    parser.add_argument("--http", default="httptools")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--vary", action="store_true", help="no two requests alike")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        run = uvloop.run
    else:
        run = asyncio.run
    run(drive(1000, args.http))  # warm caches
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run(drive(args.requests, args.http, args.vary))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    elapsed = run(drive(args.requests, args.http, args.vary))
    print(f"{args.requests} requests: {elapsed / args.requests * 1e6:.2f} µs/request")


if __name__ == "__main__":
    main()
