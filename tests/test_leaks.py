"""Nothing leaks: 200 connections ending every way they can (clean close, abort, protocol error,
failed handshake) leave no file descriptor, task, connection object or registry entry behind."""

from __future__ import annotations

import asyncio
import base64
import collections
import gc
import logging
import os
import random
import ssl
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import asgiws

HOST = "127.0.0.1"

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


def run(main: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def other_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current
        and getattr(task.get_coro(), "__qualname__", "") != "run.<locals>.bounded"
    }


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


def upgrade_request() -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


GARBAGE_FRAMES = [
    b"\x81\x05hello",  # unmasked: 1002
    b"\x83\x80\x00\x00\x00\x00",  # reserved opcode: 1002
    b"\xc1\x80\x00\x00\x00\x00",  # RSV1 without an extension: 1002
    b"\x81\x82\x00\x00\x00\x00\xff\xfe",  # invalid UTF-8: 1007
    b"\x89\xfe\x00\x80" + b"\x00" * 4 + b"\x00" * 128,  # control frame too long: 1002
    b"\x88\x81\x00\x00\x00\x00\x01",  # one-byte close payload: 1002
]


class MessageCounter(logging.Filter):
    """Counts the server's log messages and drops them: a captured record's traceback would keep
    the failed connection alive and hide the very leaks this file looks for."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: collections.Counter[str] = collections.Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        self.messages[str(record.msg)] += 1
        return False


@pytest.fixture
def server_log() -> Iterator[MessageCounter]:
    logger = logging.getLogger("asgiws.server")
    counter = MessageCounter()
    logger.addFilter(counter)
    try:
        yield counter
    finally:
        logger.removeFilter(counter)


class TrackedProtocol(asgiws.WebSocketServerProtocol):
    """Keeps a weak reference to every server connection created."""

    instances: weakref.WeakSet[Any] = weakref.WeakSet()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        TrackedProtocol.instances.add(self)


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


async def one_connection(kind: str, port: int) -> None:
    uri = f"ws://{HOST}:{port}/"
    if kind == "clean":
        async with asgiws.connect(uri, compression=None) as client:
            await client.send("ping")
            assert await client.recv() == "ping"
    elif kind == "abort":
        client = await asgiws.connect(uri, compression=None)
        await client.send(b"x" * 1000)
        client.transport.abort()
    elif kind == "server-closes":
        client = await asgiws.connect(uri, compression=None)
        await client.send("please close")
        with pytest.raises(asgiws.ConnectionClosedOK):
            await client.recv()
        await client.wait_closed()
    elif kind in ("garbage-frame", "garbage-http", "plain-http", "half-request"):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            if kind == "garbage-frame":
                writer.write(upgrade_request())
                await reader.readuntil(b"\r\n\r\n")
                writer.write(random.choice(GARBAGE_FRAMES))
            elif kind == "garbage-http":
                writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n")
            elif kind == "plain-http":
                writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            else:
                writer.write(b"GET / HTTP/1.1\r\nHost: ")  # then hang up mid-head
                await asyncio.sleep(0.001)
                writer.transport.abort()
                return
            # The server answers (a close frame or an HTTP error) and closes the connection.
            await asyncio.wait_for(reader.read(), 5)
        finally:
            writer.close()
    else:  # pragma: no cover
        raise AssertionError(kind)


KINDS = [
    "clean",
    "abort",
    "server-closes",
    "garbage-frame",
    "garbage-http",
    "plain-http",
    "half-request",
]


async def handler(ws: Any) -> None:
    async for message in ws:
        if message == "please close":
            await ws.close(1001)
            return
        await ws.send(message)


def test_200_connections_leave_nothing_behind(
    port: int, http_parser: str, event_loop_policy: str, server_log: MessageCounter
) -> None:
    async def main() -> None:
        gc.collect()
        fds_before_server = open_fds()
        server = await asgiws.serve(
            handler,
            HOST,
            port,
            http=http_parser,
            compression=None,
            create_protocol=TrackedProtocol,
            close_timeout=1,
        )
        fds_with_server = open_fds()
        rss = []
        for round_number in range(3):
            kinds = [KINDS[i % len(KINDS)] for i in range(200)]
            random.Random(round_number).shuffle(kinds)
            # 20 at a time, to have connections overlap without exhausting anything.
            for start in range(0, 200, 20):
                await asyncio.gather(*[one_connection(k, port) for k in kinds[start : start + 20]])
            await until(lambda: not server.websockets and not server._tasks)
            await until(lambda: not server._http_connections)
            await until(lambda: not other_tasks())
            await until(lambda: open_fds() <= fds_with_server + 2)
            gc.collect()
            rss.append(rss_bytes())
            if round_number == 0:
                # Every connection object of the round has been freed.
                assert len(TrackedProtocol.instances) == 0, list(TrackedProtocol.instances)
        assert not server.websockets
        assert not other_tasks()
        # Memory stays flat after the first round (allocator warm-up) : no growth per round.
        assert rss[-1] - rss[1] < 16 * 2**20, rss
        gc.collect()
        assert len(TrackedProtocol.instances) == 0
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        await until(lambda: open_fds() <= fds_before_server + 1)
        assert not other_tasks()

    run(main, timeout=90)
    # Aborted and broken connections made the handler fail; each was logged.
    assert server_log.messages["connection handler failed"] > 0


def test_server_close_with_open_connections_leaves_nothing(
    port: int, server_log: MessageCounter
) -> None:
    async def main() -> None:
        gc.collect()
        fds_before = open_fds()
        server = await asgiws.serve(
            handler, HOST, port, compression=None, create_protocol=TrackedProtocol
        )
        clients = await asyncio.gather(
            *[asgiws.connect(f"ws://{HOST}:{port}/", compression=None) for _ in range(50)]
        )
        idle = [await asyncio.open_connection(HOST, port) for _ in range(5)]
        await until(lambda: len(server.websockets) == 50)
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        for client in clients:
            await asyncio.wait_for(client.wait_closed(), 5)
            assert client.close_code == 1001
        for reader, writer in idle:
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
        del clients, idle
        await until(lambda: not other_tasks())
        await until(lambda: open_fds() <= fds_before + 1)
        gc.collect()
        assert len(TrackedProtocol.instances) == 0

    run(main)


def test_tls_connections_leave_nothing_behind(
    port: int, server_ssl_context: Any, client_ssl_context: Any, server_log: MessageCounter
) -> None:
    async def one(kind: str) -> None:
        uri = f"wss://localhost:{port}/"
        if kind == "clean":
            async with asgiws.connect(uri, ssl=client_ssl_context, compression=None) as client:
                await client.send("tls")
                assert await client.recv() == "tls"
        elif kind == "abort":
            client = await asgiws.connect(uri, ssl=client_ssl_context, compression=None)
            client.transport.abort()
        elif kind == "untrusted":
            with pytest.raises(ssl.SSLError):
                await asgiws.connect(uri, compression=None)  # the default CAs: not ours
        else:  # plain text to a TLS port
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            try:
                await asyncio.wait_for(reader.read(), 5)
            except ConnectionError:
                pass
            writer.close()

    async def main() -> None:
        gc.collect()
        fds_before = open_fds()
        server = await asgiws.serve(
            handler,
            HOST,
            port,
            ssl=server_ssl_context,
            compression=None,
            create_protocol=TrackedProtocol,
            close_timeout=1,
        )
        kinds = ["clean", "abort", "untrusted", "plaintext"] * 15
        random.Random(7).shuffle(kinds)
        for start in range(0, len(kinds), 10):
            await asyncio.gather(*[one(kind) for kind in kinds[start : start + 10]])
        await until(lambda: not server.websockets and not server._tasks)
        await until(lambda: not server._http_connections)
        await until(lambda: not other_tasks())
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        await until(lambda: open_fds() <= fds_before + 1)
        gc.collect()
        assert len(TrackedProtocol.instances) == 0

    run(main)
