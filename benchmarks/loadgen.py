"""The load generator: one run of one workload against one server, printed as one JSON line.

It runs on uvloop with raw ``asyncio.Protocol`` clients (``benchmarks/wsclient.py``) and is
started by ``benchmarks/run.py`` pinned to CPU 1 while the server is pinned to CPU 0. It reads
the server's CPU time (``/proc/PID/stat`` utime+stime) and RSS (``/proc/PID/status`` VmRSS)
itself, right at the edges of its measuring window, so that warm-up and connection set-up are
not counted. Workloads:

- ``pingpong``: N connections, each with one message in flight (scenarios a, b, c, j);
- ``handshake``: connect + upgrade + close handshake, K at a time (d);
- ``memory``: RSS growth per idle connection after one echo each (e, i);
- ``broadcast``: server-side time per recipient of one 64 B broadcast (h);
- ``http``: keep-alive GET, the fallback when ``wrk`` is not installed (f, g).

Run one by hand: ``python -m benchmarks.loadgen pingpong --port 8001 --pids 1234``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from benchmarks.servers._common import BROADCAST_TRIGGER, raise_fd_limit
from benchmarks.wsclient import (
    Client,
    Deflater,
    close_clients,
    masked_frame,
    open_client,
    open_clients,
    upgrade_request,
)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def process_rss_kib(pids: list[int]) -> int:
    """VmRSS of the processes, in KiB."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    total += int(line.split()[1])
                    break
    return total


def system_cpu_seconds() -> tuple[float, float]:
    """Busy and stolen CPU seconds of the whole machine, from the first line of /proc/stat."""
    with open("/proc/stat", "rb") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Window:
    """A measuring window: wall time, server CPU and loadgen CPU at both edges."""

    pids: list[int]
    wall: float = 0.0
    server_cpu: float = 0.0
    loadgen_cpu: float = 0.0
    busy: float = 0.0
    steal: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        self.server_cpu = -process_cpu_seconds(self.pids)
        self.loadgen_cpu = -own_cpu_seconds()
        busy, steal = system_cpu_seconds()
        self.busy, self.steal = -busy, -steal
        self.wall = -time.perf_counter()

    def stop(self) -> None:
        self.wall += time.perf_counter()
        busy, steal = system_cpu_seconds()
        self.busy += busy
        self.steal += steal
        self.loadgen_cpu += own_cpu_seconds()
        self.server_cpu += process_cpu_seconds(self.pids)

    def result(self, value: float, unit: str, ops: int) -> dict[str, Any]:
        return {
            "ok": True,
            "value": value,
            "unit": unit,
            "ops": ops,
            "seconds": self.wall,
            "server_cpu": self.server_cpu,
            "loadgen_cpu": self.loadgen_cpu,
            # CPU that neither the server nor the loadgen used: other processes on the machine
            # (noise), as a share of one CPU, and CPU the hypervisor stole.
            "other_cpu_share": max(0.0, self.busy - self.server_cpu - self.loadgen_cpu) / self.wall,
            "steal_share": self.steal / self.wall,
            "extra": self.extra,
        }


class NotNegotiated(Exception):
    """The server did not accept the permessage-deflate offer."""


VOCABULARY = (
    "the of and to in is you that it he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would make "
    "like him into time has look two more write go see number no way could people my than"
)
WORDS = VOCABULARY.split()


def json_messages(size: int, count: int = 32) -> list[bytes]:
    """``count`` distinct JSON-like texts of exactly ``size`` bytes (chat-like, compressible)."""
    messages = []
    for index in range(count):
        record = {
            "type": "message",
            "id": 100_000 + index,
            "room": f"room-{index % 7}",
            "user": {"id": 4000 + index * 13, "name": f"user{index * 7919 % 1000}"},
            "text": "",
            "tags": ["alpha", "beta", "gamma"][: 1 + index % 3],
        }
        text = json.dumps(record)
        rng = random.Random(index)
        words = [rng.choice(WORDS) for _ in range(size // 3)]
        record["text"] = " ".join(words)[: max(0, size - len(text))]
        messages.append(json.dumps(record).encode())
    return messages


async def verify_echo(client: Client, frame: bytes, payload: bytes, timeout: float) -> None:
    """Send one message and check that the same bytes come back (only when uncompressed)."""
    client.capture = True
    before = client.messages
    client.send(frame)
    deadline = time.perf_counter() + timeout
    while client.messages == before:
        if time.perf_counter() > deadline:
            raise TimeoutError("no echo within the timeout")
        await asyncio.sleep(0.001)
    client.capture = False
    if client.last_payload != payload:
        raise ValueError(f"echo differs: sent {len(payload)} B, got {len(client.last_payload)} B")


async def wait_for_messages(clients: list[Client], each: int, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while any(client.messages < each for client in clients):
        if time.perf_counter() > deadline:
            missing = sum(1 for client in clients if client.messages < each)
            raise TimeoutError(f"{missing} connections got no echo within {timeout} s")
        await asyncio.sleep(0.005)


async def pingpong(args: argparse.Namespace) -> dict[str, Any]:
    request = upgrade_request(args.port, deflate=args.deflate)
    clients = await open_clients(args.port, args.connections, request)
    opcode = 0x2 if args.binary else 0x1
    window = Window(args.pids)
    try:
        if args.deflate and not all(client.deflate for client in clients):
            raise NotNegotiated("permessage-deflate was not negotiated")
        if args.deflate:
            texts = json_messages(args.size)
            for client in clients:
                client.deflater = Deflater(client.no_context_takeover)
            cursor = [0]

            def again(client: Client) -> None:
                cursor[0] += 1
                deflater = cast(Deflater, client.deflater)
                client.send(deflater.frame(opcode, texts[cursor[0] & 31]))

        else:
            payload = (b"x" * args.size) if args.binary else (b"a" * args.size)
            frame = masked_frame(opcode, payload)
            await verify_echo(clients[0], frame, payload, args.timeout)

            def again(client: Client) -> None:
                client.send(frame)

        for client in clients:
            client.on_message = again
            again(client)
        await asyncio.sleep(args.warmup)
        before = sum(client.messages for client in clients)
        window.start()
        await asyncio.sleep(args.duration)
        after = sum(client.messages for client in clients)
        window.stop()
        if after == before:
            raise TimeoutError("no echo at all during the measuring window")
        for client in clients:
            client.on_message = None
        ops = after - before
        window.extra["connections"] = args.connections
        window.extra["round_trips_per_second"] = ops / window.wall
        if args.unit == "MB/s":
            return window.result(ops * args.size / window.wall / 1e6, "MB/s", ops)
        return window.result(ops / window.wall, "round trips/s", ops)
    finally:
        await asyncio.sleep(0.05)
        await close_clients(clients)


async def handshake(args: argparse.Namespace) -> dict[str, Any]:
    request = upgrade_request(args.port)
    completed = 0
    errors: list[str] = []
    running = True
    counter = iter(range(1 << 62))
    current: set[Client] = set()

    async def cycle() -> None:
        nonlocal completed
        while running:
            try:
                client = await open_client(
                    args.port, next(counter), request, timeout=5, spread=True
                )
            except (OSError, asyncio.TimeoutError, TimeoutError, ConnectionError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                if len(errors) > 1000:
                    return
                await asyncio.sleep(0.01)
                continue
            current.add(client)
            client.close()
            try:
                await asyncio.wait_for(asyncio.shield(client.closed), 5)
            except asyncio.TimeoutError:
                errors.append("server did not close TCP within 5 s after the close handshake")
                client.abort()
                continue
            finally:
                current.discard(client)
            completed += 1

    workers = [asyncio.ensure_future(cycle()) for _ in range(args.concurrency)]
    window = Window(args.pids)
    try:
        await asyncio.sleep(args.warmup)
        before, errors_before = completed, len(errors)
        window.start()
        await asyncio.sleep(args.duration)
        after = completed
        window.stop()
    finally:
        running = False
        await asyncio.wait(workers, timeout=10)
        for worker in workers:
            worker.cancel()
        for client in current:
            client.abort()
    ops = after - before
    if not ops:
        raise ConnectionError(errors[-1] if errors else "no handshake completed")
    window.extra["errors"] = len(errors) - errors_before
    if errors:
        window.extra["last_error"] = errors[-1]
    window.extra["concurrency"] = args.concurrency
    return window.result(ops / window.wall, "connections/s", ops)


async def memory(args: argparse.Namespace) -> dict[str, Any]:
    request = upgrade_request(args.port, deflate=args.deflate)
    if args.deflate:
        # The first message of any connection compresses the same way: build its frame once.
        frame = Deflater(no_context_takeover=True).frame(0x1, json_messages(args.size)[0])
    else:
        frame = masked_frame(0x1, b"a" * args.size)
    # Warm the server up (imports, caches, code paths) before its baseline RSS is read.
    warm = await open_clients(args.port, 50, request)
    for client in warm:
        client.send(frame)
    await wait_for_messages(warm, 1, args.timeout)
    await close_clients(warm)
    await asyncio.sleep(0.5)
    window = Window(args.pids)
    rss_before = process_rss_kib(args.pids)
    window.start()
    clients = await open_clients(args.port, args.connections, request, timeout=args.timeout)
    try:
        if args.deflate and not all(client.deflate for client in clients):
            raise NotNegotiated("permessage-deflate was not negotiated")
        for client in clients:
            client.send(frame)
        await wait_for_messages(clients, 1, args.timeout)
        window.stop()
        await asyncio.sleep(args.settle)
        rss_after = process_rss_kib(args.pids)
    finally:
        await close_clients(clients, timeout=10)
    window.extra.update(
        rss_before_kib=rss_before, rss_after_kib=rss_after, connections=args.connections
    )
    per_connection = (rss_after - rss_before) / args.connections
    return window.result(per_connection, "KiB/connection", args.connections)


async def broadcast(args: argparse.Namespace) -> dict[str, Any]:
    request = upgrade_request(args.port)
    recipients = await open_clients(args.port, args.connections, request, timeout=args.timeout)
    received = 0
    done: asyncio.Future[None] | None = None
    target = 0
    loop = asyncio.get_running_loop()

    def arrived(_: Client) -> None:
        nonlocal received
        received += 1
        if received == target and done is not None and not done.done():
            done.set_result(None)

    for client in recipients:
        client.on_message = arrived
    trigger_frame = masked_frame(0x1, BROADCAST_TRIGGER.encode())
    server_ns: list[int] = []
    client_ns: list[int] = []
    window = Window(args.pids)
    everyone = list(recipients)
    try:
        trigger = await open_client(args.port, args.connections, request, capture=True)
        everyone.append(trigger)
        await asyncio.sleep(0.5)  # let every handler register its connection
        for iteration in range(args.warmup_iterations + args.iterations):
            if iteration == args.warmup_iterations:
                window.start()
            target = received + len(recipients)
            done = loop.create_future()
            replies = trigger.messages
            start = time.perf_counter_ns()
            trigger.send(trigger_frame)
            try:
                await asyncio.wait_for(done, args.timeout)
            except asyncio.TimeoutError:
                missing = target - received
                raise TimeoutError(f"{missing} of {len(recipients)} recipients got nothing")
            last = time.perf_counter_ns() - start
            deadline = time.perf_counter() + args.timeout
            while trigger.messages == replies:
                if time.perf_counter() > deadline:
                    raise TimeoutError("the server never answered the trigger")
                await asyncio.sleep(0.001)
            if iteration >= args.warmup_iterations:
                server_ns.append(int(trigger.last_payload))
                client_ns.append(last)
        window.stop()
    finally:
        await close_clients(everyone, timeout=10)
    count = len(recipients)
    per_recipient = statistics.median(server_ns) / count
    window.extra.update(
        recipients=count,
        iterations=args.iterations,
        server_broadcast_ms=statistics.median(server_ns) / 1e6,
        client_last_recipient_ms=statistics.median(client_ns) / 1e6,
        client_ns_per_recipient=statistics.median(client_ns) / count,
    )
    return window.result(per_recipient, "ns/recipient", count * args.iterations)


class HttpClient(asyncio.Protocol):
    """Keep-alive GET, one request in flight; counts whole responses (Content-Length only)."""

    def __init__(self, request: bytes, vary: bool = False) -> None:
        self.request = request
        # With ``vary``, each request carries a new query string (``?n=<count>``), as wrk's
        # scenario k script does: no two requests on a connection are the same bytes.
        self.vary = vary
        self.sent = 0
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.responses = 0
        self.running = True
        self.statuses: dict[bytes, int] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.next_request())

    def next_request(self) -> bytes:
        if not self.vary:
            return self.request
        self.sent += 1
        return self.request.replace(b" HTTP/1.1", b"?n=%d HTTP/1.1" % self.sent, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].lower()
            start = head.find(b"content-length:")
            length = int(head[start + 15 : head.find(b"\r\n", start)]) if start >= 0 else 0
            if len(buffer) < end + 4 + length:
                break
            status = head[9:12]
            self.statuses[status] = self.statuses.get(status, 0) + 1
            buffer = buffer[end + 4 + length :]
            self.responses += 1
            if self.running and self.transport is not None:
                self.transport.write(self.next_request())
        self.buffer = buffer


async def http(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\nUser-Agent: loadgen\r\n\r\n"
    ).encode()
    clients: list[HttpClient] = []
    for _ in range(args.connections):
        _, client = await loop.create_connection(
            lambda: HttpClient(request, args.vary_query), "127.0.0.1", args.port
        )
        clients.append(client)
    window = Window(args.pids)
    await asyncio.sleep(args.warmup)
    before = sum(client.responses for client in clients)
    window.start()
    await asyncio.sleep(args.duration)
    after = sum(client.responses for client in clients)
    window.stop()
    statuses: dict[str, int] = {}
    for client in clients:
        client.running = False
        if client.transport is not None:
            client.transport.close()
        for status, count in client.statuses.items():
            statuses[status.decode()] = statuses.get(status.decode(), 0) + count
    window.extra["statuses"] = statuses
    if set(statuses) - {"200"}:
        window.extra["non_200"] = sum(n for s, n in statuses.items() if s != "200")
    return window.result((after - before) / window.wall, "req/s", after - before)


WORKLOADS: dict[str, Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]] = {
    "pingpong": pingpong,
    "handshake": handshake,
    "memory": memory,
    "broadcast": broadcast,
    "http": http,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--pids",
        type=lambda text: [int(pid) for pid in text.split(",") if pid],
        default=[],
        help="server process ids to read CPU time and RSS from (comma-separated)",
    )
    parser.add_argument("--duration", type=float, default=3.0, help="measuring window, s")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up before it, s")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--size", type=int, default=64, help="message size, bytes")
    parser.add_argument("--binary", action="store_true")
    parser.add_argument("--unit", default="round trips/s", choices=["round trips/s", "MB/s"])
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("--concurrency", type=int, default=16, help="handshakes at a time")
    parser.add_argument("--iterations", type=int, default=20, help="broadcasts measured")
    parser.add_argument("--warmup-iterations", type=int, default=3)
    parser.add_argument("--settle", type=float, default=1.0, help="wait before reading RSS, s")
    parser.add_argument("--path", default="/")
    parser.add_argument("--vary-query", action="store_true", help="http: a new query each request")
    parser.add_argument("--timeout", type=float, default=20.0)
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if not args.pids:
        args.pids = []
    try:
        return await WORKLOADS[args.workload](args)
    except NotNegotiated as exc:
        return {"ok": False, "error": str(exc), "kind": "unsupported"}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "kind": "failed"}


def run(argv: list[str] | None = None) -> int:
    """One workload from the command line; or, with ``--serve``, one per JSON line on stdin
    (a JSON list of arguments), answered by one JSON line each: the runner keeps one loadgen
    process for the whole run instead of paying an interpreter start per measurement."""
    import uvloop

    argv = sys.argv[1:] if argv is None else argv
    raise_fd_limit()
    if argv[:1] != ["--serve"]:
        result = uvloop.run(main(parse_args(argv)))
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    for line in sys.stdin:
        try:
            result = uvloop.run(main(parse_args(json.loads(line))))
        except SystemExit as exc:  # argparse
            result = {"ok": False, "error": f"bad loadgen arguments ({exc})", "kind": "failed"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(run())
