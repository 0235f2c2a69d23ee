"""``broadcast()``: many recipients, closed ones skipped, slow ones skipped with a warning,
the frame encoded once, and type checks."""

from __future__ import annotations

import asyncio
import base64
import importlib
import logging
import os
import sys
import types
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import asgiws

# The module, not the function that asgiws.server re-exports under the same name.
broadcast_module = importlib.import_module("asgiws.server.broadcast")

HOST = "127.0.0.1"


def run(main: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.005)


class Room:
    """A server whose handler registers each connection and waits for it to close."""

    def __init__(self) -> None:
        self.connections: set[Any] = set()

    async def handler(self, ws: Any) -> None:
        self.connections.add(ws)
        try:
            await ws.wait_closed()
        finally:
            pass  # kept in the set on purpose: broadcast must skip closed connections


def serve(room: Room, port: int, **options: Any) -> Any:
    options.setdefault("compression", None)
    return asgiws.serve(room.handler, HOST, port, **options)


def connect(port: int, **options: Any) -> Any:
    options.setdefault("compression", None)
    return asgiws.connect(f"ws://{HOST}:{port}/", **options)


async def raw_reader_less_client(port: int) -> tuple[asyncio.StreamReader, Any]:
    """A handshake, then never a single read: the server's writes pile up."""
    reader, writer = await asyncio.open_connection(HOST, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return reader, writer


def test_broadcast_to_many_encodes_once(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_build_frame = broadcast_module.build_frame

    def counting_build_frame(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real_build_frame(*args, **kwargs)

    monkeypatch.setattr(broadcast_module, "build_frame", counting_build_frame)

    async def main() -> None:
        room = Room()
        async with serve(room, port):
            clients = await asyncio.gather(*[connect(port) for _ in range(200)])
            await until(lambda: len(room.connections) == 200)
            asgiws.broadcast(room.connections, "hello everyone ✓")
            assert len(calls) == 1
            answers = await asyncio.gather(
                *[asyncio.wait_for(client.recv(), 10) for client in clients]
            )
            assert answers == ["hello everyone ✓"] * 200
            asgiws.broadcast(room.connections, b"\x00\x01binary")
            assert len(calls) == 2
            answers = await asyncio.gather(
                *[asyncio.wait_for(client.recv(), 10) for client in clients]
            )
            assert answers == [b"\x00\x01binary"] * 200
            await asyncio.gather(*[client.close() for client in clients])

    run(main)


def test_broadcast_bytes_like_and_type_errors(port: int) -> None:
    async def main() -> None:
        room = Room()
        async with serve(room, port), connect(port) as client:
            await until(lambda: len(room.connections) == 1)
            asgiws.broadcast(room.connections, bytearray(b"ba"))
            asgiws.broadcast(room.connections, memoryview(b"mv"))
            asgiws.broadcast(room.connections, "")
            assert await asyncio.wait_for(client.recv(), 5) == b"ba"
            assert await asyncio.wait_for(client.recv(), 5) == b"mv"
            assert await asyncio.wait_for(client.recv(), 5) == ""
            for wrong in (42, {"a": 1}, ["a", "b"], None):
                with pytest.raises(TypeError):
                    asgiws.broadcast(room.connections, wrong)  # type: ignore[arg-type]
            asgiws.broadcast([], "nobody")  # no recipients: nothing happens

    run(main)


def test_broadcast_skips_closed_connections(port: int) -> None:
    async def main() -> None:
        room = Room()
        async with serve(room, port):
            clients = await asyncio.gather(*[connect(port) for _ in range(10)])
            await until(lambda: len(room.connections) == 10)
            for client in clients[:4]:
                await client.close()
            await until(lambda: sum(1 for ws in room.connections if ws.closed) == 4)
            asgiws.broadcast(room.connections, "to the living")
            for client in clients[4:]:
                assert await asyncio.wait_for(client.recv(), 5) == "to the living"
            # A connection that is closing (close frame sent, no answer yet) is skipped too.
            closing = next(ws for ws in room.connections if ws.open)
            closing._write(closing.engine.send_close(1000, ""))
            assert not closing.open
            asgiws.broadcast(room.connections, "second")
            received = []
            for client in clients[4:]:
                try:
                    received.append(await asyncio.wait_for(client.recv(), 5))
                except asgiws.ConnectionClosed:
                    received.append("closed")
            assert sorted(received) == ["closed"] + ["second"] * 5
            await asyncio.gather(*[client.close() for client in clients])

    run(main)


def test_broadcast_skips_slow_connection_with_warning(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        room = Room()
        async with serve(room, port, write_limit=2**14):
            _reader, writer = await raw_reader_less_client(port)
            await until(lambda: len(room.connections) == 1)
            (slow,) = room.connections
            fast = await connect(port, max_size=None, max_queue=None)
            await until(lambda: len(room.connections) == 2)
            chunk = b"z" * 2**18
            sent = 0
            # Fill the slow client's socket buffers, then the transport's write buffer.
            while slow.transport.get_write_buffer_size() <= slow.write_limit:
                asgiws.broadcast([slow], chunk)
                sent += 1
                assert sent < 1000, "the write buffer never filled"
                await asyncio.sleep(0)
            buffered = slow.transport.get_write_buffer_size()
            with caplog.at_level(logging.WARNING, logger="asgiws.server"):
                asgiws.broadcast(room.connections, b"news")
            # The slow connection was skipped: its buffer did not grow.
            assert slow.transport.get_write_buffer_size() == buffered
            assert any(
                "skipped broadcast" in record.getMessage() and record.levelno == logging.WARNING
                for record in caplog.records
            ), caplog.text
            # The fast one got the message.
            assert await asyncio.wait_for(fast.recv(), 5) == b"news"
            # With raise_exceptions, the skip is reported (ExceptionGroup: Python 3.11+).
            if sys.version_info >= (3, 11):
                with pytest.raises(ExceptionGroup) as info:  # noqa: F821
                    asgiws.broadcast(room.connections, b"again", raise_exceptions=True)
                assert len(info.value.exceptions) == 1
                assert isinstance(info.value.exceptions[0], BufferError)
                assert await asyncio.wait_for(fast.recv(), 5) == b"again"
            writer.transport.abort()
            await fast.close()

    run(main)


def test_broadcast_skips_connection_sending_fragments(port: int) -> None:
    async def main() -> None:
        room = Room()
        release = asyncio.Event()
        async with serve(room, port), connect(port) as client:
            await until(lambda: len(room.connections) == 1)
            (ws,) = room.connections

            async def fragments() -> Any:
                # send() holds one fragment back to know which is last: once "part 2"
                # is produced, "part 1" is on the wire and the message has started.
                yield "part 1, "
                yield "part 2, "
                await release.wait()
                yield "part 3"

            sending = asyncio.ensure_future(ws.send(fragments()))
            await until(lambda: ws.engine._send_opcode != 0)
            asgiws.broadcast(room.connections, "interleaved?")  # skipped: mid-message
            release.set()
            await asyncio.wait_for(sending, 5)
            asgiws.broadcast(room.connections, "after")
            assert await asyncio.wait_for(client.recv(), 5) == "part 1, part 2, part 3"
            assert await asyncio.wait_for(client.recv(), 5) == "after"

    run(main)


def test_broadcast_from_client_connections(port: int) -> None:
    """Client connections mask every frame: each gets its own encoding."""

    async def main() -> None:
        received: asyncio.Queue[Any] = asyncio.Queue()

        async def handler(ws: Any) -> None:
            async for message in ws:
                await received.put(message)

        async with asgiws.serve(handler, HOST, port, compression=None):
            clients = await asyncio.gather(*[connect(port) for _ in range(5)])
            asgiws.broadcast(clients, "from clients")
            messages = [await asyncio.wait_for(received.get(), 5) for _ in range(5)]
            assert messages == ["from clients"] * 5
            await asyncio.gather(*[client.close() for client in clients])

    run(main)


def test_broadcast_raise_exceptions_needs_python_311(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broadcast_module, "sys", types.SimpleNamespace(version_info=(3, 10, 0)))
    with pytest.raises(ValueError):
        asgiws.broadcast([], "x", raise_exceptions=True)
    asgiws.broadcast([], "x")  # without it, fine
