"""asgiws.hub fan-out: messages per second delivered to N local clients, memory vs Redis.

    .venv/bin/python benchmarks/hub_fanout.py [--clients 100] [--messages 2000] [--size 64]
                                              [--publishers 8]
                                              [--redis-url redis://127.0.0.1:6379/0]

Without --redis-url, a redis-server (Debian package) is started on a free port of 127.0.0.1
with no persistence, and stopped at the end. One process: a native serve() whose handler
subscribes every connection to one channel; asgiws client connections read. The publisher
sends every message, then the clock stops when every client has read every message
(deliveries = clients x messages). A figure from a shared machine: compare the two backends
of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

import asgiws
from asgiws.hub import Hub

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def one_run(url: str, clients: int, messages: int, size: int, publishers: int) -> float:
    hub = Hub(url)

    async def handler(websocket: Any) -> None:
        hub.subscribe("bench", websocket)
        await websocket.wait_closed()

    port = free_port()
    payload = "x" * size
    async with hub, asgiws.serve(handler, HOST, port, compression=None):
        connections = [
            await asgiws.connect(f"ws://{HOST}:{port}/", compression=None, max_queue=None)
            for _ in range(clients)
        ]
        deadline = time.monotonic() + 30
        while hub.subscriber_count("bench") < clients and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(hub.flush(), 30)

        async def read_all(connection: Any) -> None:
            for _ in range(messages):
                await connection.recv()

        readers = [asyncio.ensure_future(read_all(c)) for c in connections]
        start = time.perf_counter()

        async def publisher(count: int) -> None:
            for _ in range(count):
                await hub.publish("bench", payload)

        # Publishers in parallel (the pool's size): one alone waits a round trip per message.
        share, rest = divmod(messages, publishers)
        await asyncio.gather(*(publisher(share + (i < rest)) for i in range(publishers)))
        await asyncio.wait_for(asyncio.gather(*readers), 300)
        elapsed = time.perf_counter() - start
        for connection in connections:
            await connection.close()
    return clients * messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    server = None
    url = args.redis_url
    if url is None:
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        port = free_port()
        directory = tempfile.mkdtemp(prefix="hub-bench-")
        server = subprocess.Popen(
            [executable, "--bind", HOST, "--port", str(port), "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://{HOST}:{port}/0"
        time.sleep(0.5)
    try:
        for name, backend_url in (("memory", "memory://"), ("redis", url)):
            rate = asyncio.run(
                one_run(backend_url, args.clients, args.messages, args.size, args.publishers)
            )
            print(
                f"{name:>6}: {args.clients} clients x {args.messages} messages of {args.size} B:"
                f" {rate:,.0f} deliveries/s"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
