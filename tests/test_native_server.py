"""The native server object and the connection API, over loopback and Unix sockets.

``serve()`` / ``unix_serve()`` as context managers and awaitables, server shutdown (1001 to every
connection), keepalive, ``close_timeout``, backpressure (``max_queue``), ``recv()`` cancellation
safety, ``send()`` type checks, the connection attributes, ``create_protocol`` and handler
forms. The key tests run under both event loops and both HTTP parsers.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import logging
import os
import socket
import struct
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import asgiws
from asgiws import Headers, State

HOST = "127.0.0.1"


# ---------------------------------------------------------------------------- helpers


def run(main: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    """Run ``main()`` in a fresh event loop (of the current policy), bounded by ``timeout``."""

    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def serve(handler: Any, port: int, http_parser: str = "auto", **options: Any) -> Any:
    options.setdefault("compression", None)
    return asgiws.serve(handler, HOST, port, http=http_parser, **options)


def connect(port: int, path: str = "/", **options: Any) -> Any:
    options.setdefault("compression", None)
    return asgiws.connect(f"ws://{HOST}:{port}{path}", **options)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` is true, at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.005)


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one unmasked frame from a server: (opcode, payload)."""
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(n)


async def raw_client(port: int, path: str = "/") -> tuple[asyncio.StreamReader, Any]:
    """A WebSocket client on a bare TCP stream: it does the handshake and nothing else."""
    reader, writer = await asyncio.open_connection(HOST, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return reader, writer


# ---------------------------------------------------------------------------- server object


def test_async_with_serve(port: int, http_parser: str, event_loop_policy: str) -> None:
    async def main() -> None:
        async with serve(echo, port, http_parser) as server:
            assert isinstance(server, asgiws.WebSocketServer)
            assert server.is_serving()
            assert [s.getsockname() for s in server.sockets] == [(HOST, port)]
            async with connect(port) as client:
                await client.send("hello")
                assert await client.recv() == "hello"
        assert not server.is_serving()
        with pytest.raises(OSError):
            await asyncio.open_connection(HOST, port)

    run(main)


def test_await_serve_then_close(port: int, http_parser: str, event_loop_policy: str) -> None:
    async def main() -> None:
        server = await serve(echo, port, http_parser)
        assert server.sockets and server.sockets[0].getsockname()[1] == port
        client = await connect(port)
        await client.send(b"bytes")
        assert await client.recv() == b"bytes"
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        with pytest.raises(asgiws.ConnectionClosedOK) as info:
            await asyncio.wait_for(client.recv(), 5)
        assert info.value.code == 1001
        await server.wait_closed()  # again: returns at once
        server.close()  # idempotent
        with pytest.raises(OSError):
            await asyncio.open_connection(HOST, port)

    run(main)


def test_serve_created_before_the_loop_runs(port: int, event_loop_policy: str) -> None:
    """The pre-asyncio.run pattern of websockets' docs and the guide's FAQ:
    ``start_server = serve(...)`` with no loop running, then ``run_until_complete``."""

    async def handler(websocket: Any, extra_argument: str) -> None:
        await websocket.send(extra_argument)

    bound_handler = functools.partial(handler, extra_argument="spam")
    start_server = asgiws.serve(bound_handler, HOST, port, compression=None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        server = loop.run_until_complete(start_server)

        async def client() -> str:
            async with connect(port) as ws:
                return str(await ws.recv())

        assert loop.run_until_complete(asyncio.wait_for(client(), 10)) == "spam"
        server.close()  # called while the loop is not running
        loop.run_until_complete(asyncio.wait_for(server.wait_closed(), 10))
        assert not server.is_serving()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_unix_serve_and_unix_connect(tmp_path: Path, event_loop_policy: str) -> None:
    path = str(tmp_path / "ws.sock")

    async def handler(ws: Any) -> None:
        await ws.send(f"unix {ws.path}")
        await echo(ws)

    async def main() -> None:
        async with asgiws.unix_serve(handler, path, compression=None) as server:
            assert server.sockets[0].getsockname() == path
            async with asgiws.unix_connect(path, "ws://localhost/room", compression=None) as ws:
                assert await ws.recv() == "unix /room"
                await ws.send("over a unix socket")
                assert await ws.recv() == "over a unix socket"
            async with asgiws.unix_connect(path, compression=None) as ws:
                assert await ws.recv() == "unix /"

    run(main)


def test_server_close_sends_1001_and_handlers_finish(
    port: int, http_parser: str, event_loop_policy: str
) -> None:
    async def main() -> None:
        finished: list[str] = []
        closed_in_handler: list[int] = []

        async def handler(ws: Any) -> None:
            try:
                if ws.path == "/sender":
                    # Keeps sending until the connection closes under it.
                    while True:
                        await ws.send("tick")
                        await asyncio.sleep(0.01)
                else:
                    await ws.recv()
            except asgiws.ConnectionClosed as exc:
                closed_in_handler.append(exc.code)
                raise
            finally:
                finished.append(ws.path)

        server = await serve(handler, port, http_parser)
        clients = [await connect(port, "/receiver") for _ in range(5)]
        clients.append(await connect(port, "/sender"))
        await until(lambda: len(server.websockets) == 6)
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        assert sorted(finished) == ["/receiver"] * 5 + ["/sender"]
        assert not server.websockets
        for client in clients:
            with pytest.raises(asgiws.ConnectionClosedOK):
                while True:
                    await asyncio.wait_for(client.recv(), 5)
            assert client.close_code == 1001
        # The receivers' recv() raised ConnectionClosedOK with the server's own 1001 echoed.
        assert closed_in_handler.count(1001) == 6

    run(main)


def test_server_close_cancels_handlers_that_ignore_it(port: int, http_parser: str) -> None:
    async def main() -> None:
        cancelled = asyncio.Event()

        async def stubborn(ws: Any) -> None:
            try:
                await ws.recv()
            except asgiws.ConnectionClosed:
                pass
            try:
                await asyncio.sleep(3600)  # ignores the shutdown
            except asyncio.CancelledError:
                cancelled.set()
                raise

        server = await serve(stubborn, port, http_parser, close_timeout=0.3)
        client = await connect(port)
        await until(lambda: len(server.websockets) == 1)
        server.close()
        # Bounded by close_timeout: the handler is cancelled, wait_closed() returns.
        await asyncio.wait_for(server.wait_closed(), 10)
        assert cancelled.is_set()
        assert client.close_code == 1001

    run(main)


def test_serve_on_existing_socket(http_parser: str) -> None:
    async def handler(ws: Any) -> None:
        await ws.send("on my socket")

    async def main() -> None:
        sock = socket.socket()
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        async with asgiws.serve(handler, sock=sock, compression=None, http=http_parser) as server:
            assert server.sockets[0].getsockname() == (HOST, port)
            async with connect(port) as client:
                assert await client.recv() == "on my socket"

    run(main)


def test_server_close_closes_idle_http_connections(port: int, http_parser: str) -> None:
    async def main() -> None:
        server = await serve(echo, port, http_parser)
        # A TCP connection that never sends its request head.
        reader, writer = await asyncio.open_connection(HOST, port)
        await until(lambda: len(server._http_connections) == 1)
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()

    run(main)


# ---------------------------------------------------------------------------- keepalive


def test_keepalive_timeout_closes_1011(port: int, http_parser: str, event_loop_policy: str) -> None:
    async def main() -> None:
        outcome = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            try:
                await ws.recv()
            except asgiws.ConnectionClosed as exc:
                outcome.set_result(exc)

        async with serve(
            handler, port, http_parser, ping_interval=0.05, ping_timeout=0.1, close_timeout=0.5
        ):
            reader, writer = await raw_client(port)  # never answers the pings
            exc = await asyncio.wait_for(outcome, 10)
            assert isinstance(exc, asgiws.ConnectionClosedError)
            assert exc.sent is not None
            assert (exc.sent.code, exc.sent.reason) == (1011, "keepalive ping timeout")
            assert exc.code == 1006  # nothing came back
            # What the peer got: at least one ping, then the close frame.
            frames = []
            while True:
                opcode, payload = await asyncio.wait_for(read_frame(reader), 5)
                frames.append(opcode)
                if opcode == 0x8:
                    break
            assert frames[0] == 0x9
            assert struct.unpack("!H", payload[:2])[0] == 1011
            assert payload[2:] == b"keepalive ping timeout"
            writer.close()

    run(main)


def test_keepalive_answered_keeps_connection_open(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with serve(echo, port, http_parser, ping_interval=0.05, ping_timeout=0.1) as server:
            reader, writer = await raw_client(port)
            pings = 0
            while pings < 5:  # five rounds: well past ping_timeout
                opcode, payload = await asyncio.wait_for(read_frame(reader), 5)
                assert opcode == 0x9
                pings += 1
                writer.write(masked_frame(0xA, payload))
            (ws,) = server.websockets
            assert ws.open
            assert ws.latency > 0
            writer.write(masked_frame(0x1, b"still here"))
            while True:
                opcode, payload = await asyncio.wait_for(read_frame(reader), 5)
                if opcode == 0x1:
                    break
            assert payload == b"still here"
            writer.close()

    run(main)


def test_client_keepalive_timeout(port: int, event_loop_policy: str) -> None:
    """The asgiws client closes with 1011 when the server stops answering its pings."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        client_failed = loop.create_future()
        outcome = loop.create_future()

        async def handler(ws: Any) -> None:
            ws.transport.pause_reading()  # deaf: the client's pings go unanswered
            await client_failed
            ws.transport.resume_reading()
            try:
                await ws.recv()
            except asgiws.ConnectionClosed as exc:
                outcome.set_result(exc)

        async with serve(handler, port, ping_interval=None, close_timeout=0.5):
            client = await connect(port, ping_interval=0.05, ping_timeout=0.1, close_timeout=0.5)
            with pytest.raises(asgiws.ConnectionClosedError) as info:
                await asyncio.wait_for(client.recv(), 10)
            client_failed.set_result(None)
            assert info.value.sent is not None
            assert (info.value.sent.code, info.value.sent.reason) == (
                1011,
                "keepalive ping timeout",
            )
            exc = await asyncio.wait_for(outcome, 5)
            assert exc.rcvd is not None
            assert (exc.rcvd.code, exc.rcvd.reason) == (1011, "keepalive ping timeout")

    run(main)


def test_ping_interval_none_disables_pings(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with serve(echo, port, http_parser, ping_interval=None, ping_timeout=0.01) as server:
            reader, writer = await raw_client(port)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(1), 0.4)  # no ping comes
            (ws,) = server.websockets
            assert ws.open
            writer.close()

    run(main)


# ---------------------------------------------------------------------------- closing


def test_close_timeout_bounds_close(port: int, http_parser: str, event_loop_policy: str) -> None:
    async def main() -> None:
        done = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            await ws.close(4000, "leaving")  # the raw peer never answers
            done.set_result((ws.state, ws.closed, ws.close_code, ws.close_reason))

        async with serve(handler, port, http_parser, close_timeout=0.2):
            reader, writer = await raw_client(port)
            # Close completes although the peer never echoes the close frame.
            state, closed, code, reason = await asyncio.wait_for(done, 5)
            assert state is State.CLOSED and closed
            assert (code, reason) == (1006, "")
            opcode, payload = await asyncio.wait_for(read_frame(reader), 5)
            assert opcode == 0x8
            assert payload == struct.pack("!H", 4000) + b"leaving"
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()

    run(main)


def test_close_is_idempotent_and_wait_closed(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with serve(echo, port, http_parser):
            client = await connect(port)
            await client.close()
            await client.close()
            await asyncio.wait_for(client.wait_closed(), 5)
            assert client.closed and client.state is State.CLOSED
            assert (client.close_code, client.close_reason) == (1000, "")
            with pytest.raises(asgiws.ConnectionClosedOK):
                await client.send("late")
            with pytest.raises(asgiws.ConnectionClosedOK):
                await client.recv()
            with pytest.raises(asgiws.ConnectionClosedOK):
                await client.ping()

    run(main)


# ---------------------------------------------------------------------------- flow control


def test_backpressure_pauses_reading_and_loses_nothing(
    port: int, http_parser: str, event_loop_policy: str
) -> None:
    size = 4096  # 1000 messages of 4 KiB: far more than one read brings in

    def message(i: int) -> str:
        return f"{i:04d}".ljust(size, ".")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        start_reading = loop.create_future()
        result = loop.create_future()
        observed: dict[str, Any] = {}

        async def handler(ws: Any) -> None:
            await start_reading
            observed["queued"] = len(ws._messages)
            received = [await ws.recv() for _ in range(1000)]
            result.set_result(received)
            await ws.wait_closed()

        async with (
            serve(handler, port, http_parser, max_queue=4) as server,
            connect(port) as client,
        ):

            async def send_all() -> None:
                for i in range(1000):
                    await client.send(message(i))

            sender = asyncio.ensure_future(send_all())
            await until(lambda: len(server.websockets) == 1)
            (ws,) = server.websockets
            await until(lambda: not ws.transport.is_reading())
            await asyncio.sleep(0.1)
            assert not ws.transport.is_reading()  # still paused: the handler reads nothing
            # (Whether the client's send() is waiting depends on how much the kernel's socket
            # buffers absorb, several MiB on loopback; what the server holds is asserted below.)
            start_reading.set_result(None)
            received = await asyncio.wait_for(result, 15)
            assert len(received) == 1000
            assert received == [message(i) for i in range(1000)]
            await asyncio.wait_for(sender, 5)
            assert ws.transport.is_reading()
        # The queue stayed bounded: max_queue plus what one socket read had already brought.
        assert observed["queued"] <= 4 + (2**18 // size) + 1

    run(main)


def test_send_waits_while_write_buffer_is_full(
    port: int, http_parser: str, event_loop_policy: str
) -> None:
    async def main() -> None:
        async with serve(echo, port, http_parser, write_limit=2**14) as server:
            reader, writer = await raw_client(port)
            writer.write(masked_frame(0x1, b"x"))
            await until(lambda: len(server.websockets) == 1)
            (ws,) = server.websockets
            sent = 0

            async def sender() -> None:
                nonlocal sent
                while True:
                    await ws.send(b"y" * 65536)
                    sent += 1

            task = asyncio.ensure_future(sender())
            # The raw client reads nothing: once the kernel's buffers fill, send() waits.
            last = -1
            while sent != last:
                last = sent
                await asyncio.sleep(0.2)
            assert not task.done()
            # The transport holds at most write_limit plus the one message that crossed it.
            assert ws.transport.get_write_buffer_size() <= 2**14 + 65536 + 14
            # When the client reads, sending resumes.
            await asyncio.wait_for(reader.readexactly(8 * 2**20), 10)
            await until(lambda: sent > last)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            writer.close()

    run(main)


def test_recv_cancellation_loses_no_message(
    port: int, http_parser: str, event_loop_policy: str
) -> None:
    async def main() -> None:
        result = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            received: list[Any] = []
            timeouts = 0
            while len(received) < 300:
                try:
                    received.append(await asyncio.wait_for(ws.recv(), 0.0005))
                except asyncio.TimeoutError:
                    timeouts += 1
            result.set_result((received, timeouts))

        async with serve(handler, port, http_parser), connect(port) as client:
            for i in range(300):
                await client.send(str(i))
                if i % 10 == 0:
                    await asyncio.sleep(0.002)
            received, timeouts = await asyncio.wait_for(result, 15)
        assert received == [str(i) for i in range(300)]
        assert timeouts > 0  # cancellations did happen

    run(main)


def test_recv_cancelled_by_task_cancel(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with serve(echo, port, http_parser), connect(port) as client:
            pending = asyncio.ensure_future(client.recv())
            await asyncio.sleep(0.01)
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending
            await client.send("after cancel")
            assert await asyncio.wait_for(client.recv(), 5) == "after cancel"

    run(main)


def test_concurrent_recv_raises_runtime_error(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with serve(echo, port, http_parser), connect(port) as client:
            first = asyncio.ensure_future(client.recv())
            await asyncio.sleep(0.01)
            with pytest.raises(RuntimeError):
                await client.recv()
            await client.send("for the first")
            assert await asyncio.wait_for(first, 5) == "for the first"

    run(main)


def test_ping_pong_api(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with serve(echo, port, http_parser), connect(port) as client:
            waiters = [await client.ping() for _ in range(20)]
            latencies = await asyncio.wait_for(asyncio.gather(*waiters), 5)
            assert all(isinstance(latency, float) and latency >= 0 for latency in latencies)
            waiter = await client.ping("same")
            with pytest.raises(RuntimeError):
                await client.ping(b"same")
            await asyncio.wait_for(waiter, 5)
            await client.ping(b"x" * 125)  # the largest control frame
            # RFC 6455 §5.5: longer control frames are refused here, not sent.
            with pytest.raises(asgiws.ProtocolError):
                await client.ping(b"x" * 126)
            with pytest.raises(asgiws.ProtocolError):
                await client.pong("y" * 126)
            await client.pong("unsolicited")
            assert client.open
            await client.send("still open")
            assert await asyncio.wait_for(client.recv(), 5) == "still open"

    run(main)


def test_close_with_invalid_arguments_keeps_connection_open(port: int) -> None:
    async def main() -> None:
        async with serve(echo, port), connect(port) as client:
            with pytest.raises(asgiws.ProtocolError):
                await client.close(1005)  # never sent on the wire (RFC 6455 §7.4.1)
            with pytest.raises(asgiws.ProtocolError):
                await client.close(1000, "r" * 124)  # over 123 bytes of reason
            assert client.open
            await client.send("open")
            assert await asyncio.wait_for(client.recv(), 5) == "open"

    run(main)


# ---------------------------------------------------------------------------- send types


def test_send_type_errors(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with serve(echo, port, http_parser), connect(port) as client:
            with pytest.raises(TypeError):
                await client.send({"not": "allowed"})
            with pytest.raises(TypeError):
                await client.send(42)
            with pytest.raises(TypeError):
                await client.send([42])
            with pytest.raises(TypeError):
                await client.send(["text", b"bytes"])
            # Nothing was sent: the connection still works.
            await client.send(bytearray(b"ba"))
            assert await client.recv() == b"ba"
            await client.send(memoryview(b"mv"))
            assert await client.recv() == b"mv"
            # A type change after fragments went out cannot be undone: the connection
            # fails with 1011, as in websockets.
            with pytest.raises(TypeError):
                await client.send(["a", "b", b"c"])
            with pytest.raises(asgiws.ConnectionClosedError) as info:
                await asyncio.wait_for(client.recv(), 5)
            assert info.value.sent is not None and info.value.sent.code == 1011

    run(main)


def test_send_async_iterable_mixed_types(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with serve(echo, port, http_parser), connect(port) as client:

            async def mixed() -> Any:
                yield b"a"
                yield "b"

            with pytest.raises(TypeError):
                await client.send(mixed())

    run(main)


# ---------------------------------------------------------------------------- attributes


def test_connection_attributes(port: int, http_parser: str, event_loop_policy: str) -> None:
    async def main() -> None:
        seen: dict[str, Any] = {}
        closed = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            seen.update(
                id=ws.id,
                local=ws.local_address,
                remote=ws.remote_address,
                open=ws.open,
                closed=ws.closed,
                state=ws.state,
                path=ws.path,
                request_headers=ws.request_headers,
                response_headers=ws.response_headers,
                subprotocol=ws.subprotocol,
                close_code=ws.close_code,
                close_reason=ws.close_reason,
                logger=ws.logger,
            )
            waiter = await ws.ping()
            await asyncio.wait_for(waiter, 5)
            seen["latency"] = ws.latency
            try:
                await ws.recv()
            except asgiws.ConnectionClosedOK:
                closed.set_result((ws.close_code, ws.close_reason, ws.open, ws.closed, ws.state))

        async with serve(handler, port, http_parser, subprotocols=["proto"]):
            client = await connect(
                port, "/a/b?c=d", subprotocols=["proto"], extra_headers={"X-Hello": "1"}
            )
            await until(lambda: "latency" in seen)
            assert isinstance(seen["id"], uuid.UUID)
            assert seen["local"] == (HOST, port)
            assert seen["remote"] == client.local_address
            assert client.remote_address == (HOST, port)
            assert seen["open"] is True and seen["closed"] is False
            assert seen["state"] is State.OPEN
            assert seen["path"] == "/a/b?c=d" and client.path == "/a/b?c=d"
            assert isinstance(seen["request_headers"], Headers)
            assert seen["request_headers"]["X-Hello"] == "1"
            assert seen["request_headers"]["Host"] == f"{HOST}:{port}"
            assert isinstance(seen["response_headers"], Headers)
            assert "Sec-WebSocket-Accept" in seen["response_headers"]
            assert (
                client.response_headers["Sec-WebSocket-Accept"]
                == (seen["response_headers"]["Sec-WebSocket-Accept"])
            )
            assert seen["subprotocol"] == "proto" and client.subprotocol == "proto"
            assert seen["close_code"] is None and seen["close_reason"] is None
            assert isinstance(seen["logger"], (logging.Logger, logging.LoggerAdapter))
            assert isinstance(seen["latency"], float) and seen["latency"] > 0
            assert isinstance(client.id, uuid.UUID) and client.id != seen["id"]
            assert client.open and not client.closed and client.state is State.OPEN
            assert client.close_code is None
            await client.close(1000, "bye")
            assert await asyncio.wait_for(closed, 5) == (1000, "bye", False, True, State.CLOSED)
            assert (client.close_code, client.close_reason) == (1000, "bye")
            assert not client.open and client.closed

    run(main)


def test_custom_logger(port: int, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.custom")

    async def handler(ws: Any) -> None:
        await ws.send(ws.logger.name)

    async def main() -> None:
        async with serve(handler, port, logger=logger), connect(port) as client:
            assert await client.recv() == "tests.custom"

    with caplog.at_level(logging.INFO, logger="tests.custom"):
        run(main)
    assert any(r.name == "tests.custom" for r in caplog.records)


def test_debug_logs_frames(port: int, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with serve(echo, port), connect(port) as client:
            await client.send("logged")
            assert await client.recv() == "logged"

    with caplog.at_level(logging.DEBUG, logger="asgiws"):
        run(main)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("asgiws")]
    assert any(m.startswith("<") and "TEXT" in m for m in messages), messages
    assert any(m.startswith(">") and "TEXT" in m for m in messages), messages


# ---------------------------------------------------------------------------- hooks and handlers


class GuardedProtocol(asgiws.WebSocketServerProtocol):
    """A subclass overriding process_request, as websockets 10.4 users do."""

    async def process_request(self, path: str, request_headers: Headers) -> Any:
        if path == "/forbidden":
            return 403, [("X-Reason", "subclass")], b"go away\n"
        if request_headers.get("X-Token") != "ok":
            return 401, {}, b"token\n"
        self.token = request_headers["X-Token"]
        return None


def test_create_protocol_subclass(port: int, http_parser: str) -> None:
    async def handler(ws: Any) -> None:
        await ws.send(f"{type(ws).__name__} {ws.token}")

    async def main() -> None:
        async with serve(handler, port, http_parser, create_protocol=GuardedProtocol):
            with pytest.raises(asgiws.InvalidStatusCode) as info:
                await connect(port, "/forbidden", extra_headers={"X-Token": "ok"})
            assert info.value.status_code == 403
            assert info.value.headers["X-Reason"] == "subclass"
            with pytest.raises(asgiws.InvalidStatusCode) as info:
                await connect(port, "/")
            assert info.value.status_code == 401
            async with connect(port, "/", extra_headers={"X-Token": "ok"}) as client:
                assert await client.recv() == "GuardedProtocol ok"

    run(main)


def test_create_protocol_subclass_select_subprotocol(port: int, http_parser: str) -> None:
    class Picky(asgiws.WebSocketServerProtocol):
        def select_subprotocol(
            self, client_subprotocols: list[str], server_subprotocols: list[str]
        ) -> str | None:
            return "zeta" if "zeta" in client_subprotocols else None

    async def handler(ws: Any) -> None:
        await ws.send(str(ws.subprotocol))

    async def main() -> None:
        async with serve(handler, port, http_parser, create_protocol=Picky, subprotocols=["a"]):
            async with connect(port, subprotocols=["a", "zeta"]) as client:
                assert client.subprotocol == "zeta"
                assert await client.recv() == "zeta"
            async with connect(port, subprotocols=["a"]) as client:
                assert client.subprotocol is None

    run(main)


def test_partial_handler_with_extra_argument(port: int, http_parser: str) -> None:
    async def handler(websocket: Any, greeting: str) -> None:
        await websocket.send(greeting)

    async def handler_with_path(websocket: Any, path: str, suffix: str) -> None:
        await websocket.send(path + suffix)

    async def main() -> None:
        async with (
            serve(functools.partial(handler, greeting="hi"), port, http_parser),
            connect(port) as client,
        ):
            assert await client.recv() == "hi"
        async with (
            serve(functools.partial(handler_with_path, suffix="!"), port, http_parser),
            connect(port, "/p") as client,
        ):
            assert await client.recv() == "/p!"

    run(main)


def test_handler_as_bound_method_and_callable_object(port: int) -> None:
    class Room:
        def __init__(self) -> None:
            self.name = "lobby"

        async def handler(self, websocket: Any) -> None:
            await websocket.send(self.name)

        async def __call__(self, websocket: Any, path: str) -> None:
            await websocket.send(f"{self.name}{path}")

    async def main() -> None:
        room = Room()
        async with serve(room.handler, port), connect(port) as client:
            assert await client.recv() == "lobby"
        async with serve(room, port), connect(port, "/x") as client:
            assert await client.recv() == "lobby/x"

    run(main)


def test_unhashable_callable_handler_and_hooks(port: int) -> None:
    """Callable objects that cannot be hashed (dataclasses with ``__call__``) work too."""

    @dataclasses.dataclass
    class Greeter:
        greeting: str

        async def __call__(self, websocket: Any) -> None:
            await websocket.send(self.greeting)

    @dataclasses.dataclass
    class HealthCheck:
        path: str

        def __call__(self, path: str, request_headers: Headers) -> Any:
            return (200, [], b"up\n") if path == self.path else None

    @dataclasses.dataclass
    class Chooser:
        preferred: str

        def __call__(self, connection: Any, subprotocols: list[str]) -> str | None:
            return self.preferred if self.preferred in subprotocols else None

    async def main() -> None:
        async with serve(
            Greeter("hello"),
            port,
            process_request=HealthCheck("/health"),
            select_subprotocol=Chooser("b"),
            subprotocols=["a", "b"],
        ):
            with pytest.raises(asgiws.InvalidStatusCode) as info:
                await connect(port, "/health")
            assert info.value.status_code == 200
            async with connect(port, subprotocols=["a", "b"]) as client:
                assert client.subprotocol == "b"
                assert await client.recv() == "hello"

    run(main)


def test_process_request_exception_answers_500(
    port: int, http_parser: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(path: str, request_headers: Headers) -> Any:
        raise RuntimeError("hook bug")

    async def main() -> None:
        async with serve(echo, port, http_parser, process_request=broken):
            with pytest.raises(asgiws.InvalidStatusCode) as info:
                await connect(port)
            assert info.value.status_code == 500

    with caplog.at_level(logging.ERROR, logger="asgiws.server"):
        run(main)
    assert "hook bug" in caplog.text


def test_abort_handshake_from_process_request(port: int, http_parser: str) -> None:
    def hook(path: str, request_headers: Headers) -> Any:
        raise asgiws.AbortHandshake(418, {"X-Tea": "pot"}, b"teapot\n")

    async def main() -> None:
        async with serve(echo, port, http_parser, process_request=hook):
            with pytest.raises(asgiws.InvalidStatusCode) as info:
                await connect(port)
            assert info.value.status_code == 418
            assert info.value.headers["X-Tea"] == "pot"

    run(main)


def test_closed_future_is_done_once_the_connection_closes(port: int) -> None:
    async def main() -> None:
        async with serve(echo, port) as server, connect(port) as client:
            await until(lambda: len(server.websockets) == 1)
            (ws,) = server.websockets
            calls: list[Any] = []
            future = ws.closed_future()
            future.add_done_callback(calls.append)
            assert not future.done() and ws.closed_future() is future
            await client.close()
            await asyncio.wait_for(asyncio.shield(future), 5)
            await asyncio.sleep(0)  # done callbacks run on the next loop iteration
            assert calls == [future]
            # Asked for after the close, it is done at once.
            assert ws.closed_future().done()

    run(main)
