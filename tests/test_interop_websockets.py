"""Interoperability with the latest ``websockets`` library, over loopback, in both directions.

asgiws server + websockets client (with both HTTP parsers), and websockets server + asgiws
client: message sizes from 0 B to 16 MiB, fragmentation, ping/pong, close codes and reasons,
subprotocols, extra headers, origins, ``max_size``, TLS, ``process_request``, handler errors,
a client that vanishes, pipelined frames, and plain-HTTP answers of a native server.

The asgiws endpoints run with ``compression=None``: permessage-deflate interop has its own tests.
"""

from __future__ import annotations

import asyncio
import base64
import http
import logging
import os
import random
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import websockets
import websockets.exceptions
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

import asgiws

HOST = "127.0.0.1"
MiB = 2**20


# ---------------------------------------------------------------------------- helpers


def run(main: Callable[[], Awaitable[Any]], timeout: float = 60) -> Any:
    """Run ``main()`` in a fresh event loop, bounded by ``timeout`` seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def asgiws_serve(handler: Any, port: int, http_parser: str = "auto", **options: Any) -> Any:
    options.setdefault("compression", None)
    return asgiws.serve(handler, HOST, port, http=http_parser, **options)


def peer_connect(uri: str, **options: Any) -> Any:
    """A websockets client (no proxy from the environment, no compression by default)."""
    options.setdefault("compression", None)
    options.setdefault("proxy", None)
    return ws_connect(uri, **options)


def peer_serve(handler: Any, port: int, **options: Any) -> Any:
    options.setdefault("compression", None)
    return ws_serve(handler, HOST, port, **options)


def asgiws_connect(uri: str, **options: Any) -> Any:
    options.setdefault("compression", None)
    return asgiws.connect(uri, **options)


def other_tasks() -> set[asyncio.Task[Any]]:
    """The tasks alive besides the test's own (``run()``'s wrapper and the current task)."""
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current
        and getattr(task.get_coro(), "__qualname__", "") != "run.<locals>.bounded"
    }


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` is true, at most ``timeout`` seconds (no extra task)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


async def peer_echo(ws: Any) -> None:
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.exceptions.ConnectionClosed:
        pass


def text_of_size(n: int) -> str:
    """A str that encodes to exactly ``n`` UTF-8 bytes, with a non-ASCII character in it."""
    if n < 2:
        return "a" * n
    return "é" + "abcdefgh" * ((n - 2) // 8) + "z" * ((n - 2) % 8)


SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, MiB, 16 * MiB]


def payloads() -> list[str | bytes]:
    rng = random.Random(1234)
    out: list[str | bytes] = []
    for n in SIZES:
        text = text_of_size(n)
        assert len(text.encode()) == n
        out.append(text)
        out.append(rng.randbytes(n))
    return out


def handshake_request(path: str = "/", extra: str = "") -> tuple[bytes, str]:
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {HOST}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        f"{extra}\r\n"
    )
    return request.encode(), key


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def read_http_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """Read a response head (and the body when Content-Length says so)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return status, headers, body


# ---------------------------------------------------------- asgiws server, websockets client


def test_server_echo_sizes(port: int, http_parser: str) -> None:
    messages = payloads()

    async def main() -> None:
        async with (
            asgiws_serve(echo, port, http_parser, max_size=32 * MiB),
            peer_connect(f"ws://{HOST}:{port}/", max_size=32 * MiB) as client,
        ):
            for message in messages:
                await client.send(message)
                answer = await client.recv()
                assert type(answer) is type(message)
                assert answer == message

    run(main)


def test_default_options_both_directions(port: int, http_parser: str) -> None:
    """Everything at its default, compression included, as the guide's programs run."""
    messages = ["hello", "é" * 70000, b"\x00" * 70000, os.urandom(100000)]

    async def main() -> None:
        async with (
            asgiws.serve(echo, HOST, port, http=http_parser),
            ws_connect(f"ws://{HOST}:{port}/", proxy=None) as client,
        ):
            for message in messages:
                await client.send(message)
                assert await client.recv() == message
        async with (
            ws_serve(peer_echo, HOST, port),
            asgiws.connect(f"ws://{HOST}:{port}/") as client,
        ):
            for message in messages:
                await client.send(message)
                assert await client.recv() == message

    run(main)


def test_server_receives_and_sends_fragments(port: int, http_parser: str) -> None:
    received: asyncio.Queue[Any] = asyncio.Queue()

    async def handler(ws: Any) -> None:
        await received.put(await ws.recv())  # text the client sent in fragments
        await received.put(await ws.recv())  # binary the client sent in fragments
        await ws.send(["frag", "mént", "ed"])

        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"\x00\x01", b"", b"\x02" * 70000):
                yield part

        await ws.send(chunks())
        await ws.send([])  # an empty iterable sends nothing
        await ws.send("after")
        await ws.wait_closed()

    async def main() -> None:
        async with (
            asgiws_serve(handler, port, http_parser),
            peer_connect(f"ws://{HOST}:{port}/") as client,
        ):
            await client.send(["hél", "lo", " ", "wörld"])

            async def binary_parts() -> AsyncIterator[bytes]:
                yield b"\xff" * 3
                yield b"\x00" * 100000

            await client.send(binary_parts())
            assert await asyncio.wait_for(received.get(), 5) == "héllo wörld"
            assert await asyncio.wait_for(received.get(), 5) == b"\xff" * 3 + b"\x00" * 100000
            # recv_streaming shows the fragments as they were framed.
            assert [part async for part in client.recv_streaming()] == ["frag", "mént", "ed"]
            parts = [part async for part in client.recv_streaming()]
            assert parts == [b"\x00\x01", b"", b"\x02" * 70000]
            assert await client.recv() == "after"

    run(main)


def test_server_ping_pong(port: int, http_parser: str) -> None:
    results: asyncio.Queue[Any] = asyncio.Queue()

    async def handler(ws: Any) -> None:
        waiter = await ws.ping()
        latency = await asyncio.wait_for(waiter, 5)
        await results.put((latency, ws.latency))
        waiter = await ws.ping("custom")
        await asyncio.wait_for(waiter, 5)
        await ws.pong(b"unsolicited")
        await ws.send("pinged")
        await ws.wait_closed()

    async def main() -> None:
        async with (
            asgiws_serve(handler, port, http_parser, ping_interval=None),
            peer_connect(f"ws://{HOST}:{port}/", ping_interval=None) as client,
        ):
            assert await client.recv() == "pinged"
            latency, attribute = await asyncio.wait_for(results.get(), 5)
            assert isinstance(latency, float) and latency >= 0
            assert attribute == latency
            # The websockets client pings the asgiws server, which answers automatically.
            pong_waiter = await client.ping(b"hello")
            assert isinstance(await asyncio.wait_for(pong_waiter, 5), float)

    run(main)


@pytest.mark.parametrize(
    ("code", "reason", "ok"),
    [(1000, "done", True), (1001, "going away", True), (4000, "bye", False)],
)
def test_server_closes_with_code(
    port: int, http_parser: str, code: int, reason: str, ok: bool
) -> None:
    async def main() -> None:
        server_side = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            await ws.close(code, reason)
            server_side.set_result((ws.close_code, ws.close_reason))

        async with asgiws_serve(handler, port, http_parser):
            async with peer_connect(f"ws://{HOST}:{port}/") as client:
                expected = (
                    websockets.exceptions.ConnectionClosedOK
                    if ok
                    else websockets.exceptions.ConnectionClosedError
                )
                with pytest.raises(expected) as info:
                    await asyncio.wait_for(client.recv(), 5)
                assert info.value.rcvd is not None
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (code, reason)
                assert (client.close_code, client.close_reason) == (code, reason)
            # The server saw its close echoed.
            assert await asyncio.wait_for(server_side, 5) == (code, reason)

    run(main)


@pytest.mark.parametrize(
    ("code", "reason", "ok"),
    [(1000, "", True), (1001, "leaving", True), (4001, "custom ✓", False)],
)
def test_client_closes_with_code(
    port: int, http_parser: str, code: int, reason: str, ok: bool
) -> None:
    async def main() -> None:
        outcome = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            try:
                await ws.recv()
            except asgiws.ConnectionClosed as exc:
                outcome.set_result((exc, ws.close_code, ws.close_reason, ws.state, ws.closed))

        async with asgiws_serve(handler, port, http_parser):
            async with peer_connect(f"ws://{HOST}:{port}/") as client:
                await client.close(code, reason)
            exc, close_code, close_reason, state, closed = await asyncio.wait_for(outcome, 5)
            assert isinstance(
                exc, asgiws.ConnectionClosedOK if ok else asgiws.ConnectionClosedError
            )
            assert isinstance(exc, asgiws.ConnectionClosed)
            assert (exc.code, exc.reason) == (code, reason)
            assert (exc.rcvd.code, exc.rcvd.reason) == (code, reason)
            assert (exc.sent.code, exc.sent.reason) == (code, reason)  # the echo
            assert exc.rcvd_then_sent is True
            assert (close_code, close_reason) == (code, reason)
            assert state is asgiws.State.CLOSED
            assert closed is True

    run(main)


def test_client_closes_without_code(port: int, http_parser: str) -> None:
    """A close frame with no payload is code 1005 on the receiving side: a normal closure."""

    async def main() -> None:
        outcome = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            async for _ in ws:
                pass
            outcome.set_result((ws.close_code, ws.close_reason))

        async with asgiws_serve(handler, port, http_parser):
            reader, writer = await asyncio.open_connection(HOST, port)
            request, _ = handshake_request()
            writer.write(request)
            status, _, _ = await read_http_response(reader)
            assert status == 101
            writer.write(masked_frame(0x8, b""))
            # The server echoes an empty close frame, then closes TCP.
            assert await asyncio.wait_for(reader.read(), 5) == b"\x88\x00"
            writer.close()
            assert await asyncio.wait_for(outcome, 5) == (1005, "")

    run(main)


def test_server_subprotocol_preference(port: int, http_parser: str) -> None:
    async def handler(ws: Any) -> None:
        await ws.send(str(ws.subprotocol))

    async def main() -> None:
        async with asgiws_serve(handler, port, http_parser, subprotocols=["chat", "superchat"]):
            uri = f"ws://{HOST}:{port}/"
            async with peer_connect(uri, subprotocols=["superchat", "chat"]) as client:
                assert client.subprotocol == "chat"  # the server's order wins
                assert await client.recv() == "chat"
            async with peer_connect(uri, subprotocols=["superchat"]) as client:
                assert client.subprotocol == "superchat"
            async with peer_connect(uri, subprotocols=["other"]) as client:
                assert client.subprotocol is None
                assert await client.recv() == "None"
            async with peer_connect(uri) as client:
                assert client.subprotocol is None

    run(main)


def test_select_subprotocol_both_forms(port: int, http_parser: str) -> None:
    seen: list[Any] = []

    def old_form(client_subprotocols: list[str], server_subprotocols: list[str]) -> str | None:
        seen.append(("old", list(client_subprotocols), list(server_subprotocols)))
        return client_subprotocols[-1]  # the client's least preferred, to show the hook decides

    def new_form(connection: Any, subprotocols: list[str]) -> str | None:
        seen.append(("new", type(connection).__name__, list(subprotocols)))
        return "b" if "b" in subprotocols else None

    async def handler(ws: Any) -> None:
        await ws.send(str(ws.subprotocol))

    async def main() -> None:
        uri = f"ws://{HOST}:{port}/"
        async with (
            asgiws_serve(
                handler,
                port,
                http_parser,
                subprotocols=["a", "b", "c"],
                select_subprotocol=old_form,
            ),
            peer_connect(uri, subprotocols=["a", "b", "c"]) as client,
        ):
            assert client.subprotocol == "c"
            assert await client.recv() == "c"
        async with asgiws_serve(
            handler, port, http_parser, subprotocols=["a", "b"], select_subprotocol=new_form
        ):
            async with peer_connect(uri, subprotocols=["a", "b"]) as client:
                assert client.subprotocol == "b"
            async with peer_connect(uri, subprotocols=["a"]) as client:
                assert client.subprotocol is None

    run(main)
    assert seen[0] == ("old", ["a", "b", "c"], ["a", "b", "c"])
    assert seen[1] == ("new", "WebSocketServerProtocol", ["a", "b"])
    assert seen[2] == ("new", "WebSocketServerProtocol", ["a"])


@pytest.mark.parametrize("form", ["dict", "Headers", "list", "callable"])
def test_server_extra_headers(port: int, http_parser: str, form: str) -> None:
    calls: list[tuple[str, str]] = []

    def extra_callable(path: str, request_headers: asgiws.Headers) -> dict[str, str]:
        calls.append((path, request_headers["X-Request"]))
        return {"X-Answer": f"for {path}"}

    extra = {
        "dict": {"X-Answer": "dict"},
        "Headers": asgiws.Headers([("X-Answer", "headers"), ("X-Twice", "1"), ("X-Twice", "2")]),
        "list": [("X-Answer", "list")],
        "callable": extra_callable,
    }[form]

    async def handler(ws: Any) -> None:
        await ws.send(ws.response_headers.get("X-Answer", "missing"))

    async def main() -> None:
        async with asgiws_serve(handler, port, http_parser, extra_headers=extra):
            uri = f"ws://{HOST}:{port}/some/path"
            async with peer_connect(uri, additional_headers={"X-Request": "r1"}) as client:
                headers = client.response.headers
                expected = {
                    "dict": "dict",
                    "Headers": "headers",
                    "list": "list",
                    "callable": "for /some/path",
                }[form]
                assert headers["X-Answer"] == expected
                assert await client.recv() == expected
                if form == "Headers":
                    assert headers.get_all("X-Twice") == ["1", "2"]
                assert headers["Upgrade"].lower() == "websocket"

    run(main)
    if form == "callable":
        assert calls == [("/some/path", "r1")]


def test_server_header(port: int, http_parser: str) -> None:
    async def main() -> None:
        uri = f"ws://{HOST}:{port}/"
        async with asgiws_serve(echo, port, http_parser), peer_connect(uri) as client:
            assert "asgiws" in client.response.headers["Server"]
        async with (
            asgiws_serve(echo, port, http_parser, server_header="Custom/1.0"),
            peer_connect(uri) as client,
        ):
            assert client.response.headers["Server"] == "Custom/1.0"
        async with (
            asgiws_serve(echo, port, http_parser, server_header=None),
            peer_connect(uri) as client,
        ):
            assert "Server" not in client.response.headers

    run(main)


def test_origin_rejected_with_403(port: int, http_parser: str) -> None:
    async def main() -> None:
        uri = f"ws://{HOST}:{port}/"
        async with asgiws_serve(echo, port, http_parser, origins=["https://good.example"]):
            async with peer_connect(uri, origin="https://good.example") as client:
                await client.send("ok")
                assert await client.recv() == "ok"
            with pytest.raises(websockets.exceptions.InvalidStatus) as info:
                async with peer_connect(uri, origin="https://evil.example"):
                    pass
            assert info.value.response.status_code == 403
            # Without an Origin header, and None not in origins: rejected too.
            with pytest.raises(websockets.exceptions.InvalidStatus) as info:
                async with peer_connect(uri):
                    pass
            assert info.value.response.status_code == 403

    run(main)


def test_origins_none_accepts_missing_origin(port: int, http_parser: str) -> None:
    async def main() -> None:
        uri = f"ws://{HOST}:{port}/"
        async with asgiws_serve(echo, port, http_parser, origins=[None, "https://good.example"]):
            async with peer_connect(uri) as client:
                await client.send("no origin")
                assert await client.recv() == "no origin"
            async with peer_connect(uri, origin="https://good.example") as client:
                await client.send("good")
                assert await client.recv() == "good"
            with pytest.raises(websockets.exceptions.InvalidStatus) as info:
                async with peer_connect(uri, origin="https://evil.example"):
                    pass
            assert info.value.response.status_code == 403

    run(main)


def test_server_max_size_closes_1009(port: int, http_parser: str) -> None:
    async def main() -> None:
        outcome = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            first = await ws.recv()
            try:
                await ws.recv()
            except asgiws.ConnectionClosedError as exc:
                outcome.set_result((first, exc.sent.code, ws.close_code))

        async with asgiws_serve(handler, port, http_parser, max_size=1000):
            async with peer_connect(f"ws://{HOST}:{port}/") as client:
                await client.send(b"x" * 1000)  # exactly max_size: accepted
                await client.send(b"x" * 1001)
                with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                    await asyncio.wait_for(client.recv(), 5)
                assert info.value.rcvd is not None and info.value.rcvd.code == 1009
            first, sent_code, close_code = await asyncio.wait_for(outcome, 5)
            assert first == b"x" * 1000
            assert sent_code == 1009
            # The server fails the connection (RFC 6455 §7.1.7) without waiting for the echo.
            assert close_code in (1006, 1009)

    run(main)


def test_client_max_size_closes_1009_from_server(port: int, http_parser: str) -> None:
    """The websockets client refuses a too-big message from the asgiws server."""

    async def main() -> None:
        outcome = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            await ws.send("y" * 2000)
            try:
                await ws.recv()
            except asgiws.ConnectionClosedError as exc:
                outcome.set_result(exc.rcvd.code)

        async with asgiws_serve(handler, port, http_parser):
            async with peer_connect(f"ws://{HOST}:{port}/", max_size=1999) as client:
                with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                    await asyncio.wait_for(client.recv(), 5)
                assert info.value.sent is not None and info.value.sent.code == 1009
            assert await asyncio.wait_for(outcome, 5) == 1009

    run(main)


def test_server_tls(
    port: int, http_parser: str, server_ssl_context: Any, client_ssl_context: Any
) -> None:
    async def handler(ws: Any) -> None:
        await ws.send(f"secure {ws.path}")
        await echo(ws)

    async def main() -> None:
        async with asgiws_serve(
            handler, port, http_parser, ssl=server_ssl_context, max_size=4 * MiB
        ):
            uri = f"wss://localhost:{port}/tls"
            async with peer_connect(uri, ssl=client_ssl_context, max_size=4 * MiB) as client:
                assert await client.recv() == "secure /tls"
                big = os.urandom(3 * MiB)
                await client.send(big)
                assert await client.recv() == big

    run(main)


async def _healthz_old(path: str, request_headers: asgiws.Headers) -> Any:
    if path == "/healthz":  # the guide's health check: an HTTPStatus, a list, bytes
        return http.HTTPStatus.OK, [("Content-Type", "text/plain"), ("X-Check", "old")], b"OK\n"
    return None


def _healthz_old_sync(path: str, request_headers: asgiws.Headers) -> Any:
    if path == "/healthz":
        return 200, {"X-Check": "old-sync"}, "OK\n"
    return None


async def _healthz_new(connection: Any, request: Any) -> Any:
    if request.path == "/healthz":
        response = connection.respond(200, "OK\n")
        response.headers["X-Check"] = "new"
        return response
    return None


def _healthz_new_sync(connection: Any, request: Any) -> Any:
    if request.path == "/healthz":
        return connection.respond(200, "OK\n")
    return None


@pytest.mark.parametrize("hook", [_healthz_old, _healthz_old_sync, _healthz_new, _healthz_new_sync])
def test_process_request_health_check(port: int, http_parser: str, hook: Any) -> None:
    async def main() -> None:
        async with asgiws_serve(echo, port, http_parser, process_request=hook):
            async with httpx.AsyncClient(trust_env=False) as http:
                response = await http.get(f"http://{HOST}:{port}/healthz", timeout=5)
            assert response.status_code == 200
            assert response.text == "OK\n"
            assert response.headers["content-length"] == "3"
            if hook is _healthz_old:
                assert response.headers["x-check"] == "old"
                assert response.headers["content-type"] == "text/plain"
            elif hook is _healthz_old_sync:
                assert response.headers["x-check"] == "old-sync"
            elif hook is _healthz_new:
                assert response.headers["x-check"] == "new"
            # A WebSocket client asking for the health path gets the plain answer.
            with pytest.raises(websockets.exceptions.InvalidStatus) as info:
                async with peer_connect(f"ws://{HOST}:{port}/healthz"):
                    pass
            assert info.value.response.status_code == 200
            # Other paths go on to the WebSocket handshake.
            async with peer_connect(f"ws://{HOST}:{port}/chat") as client:
                await client.send("still works")
                assert await client.recv() == "still works"

    run(main)


def test_process_request_rejects_with_status(port: int, http_parser: str) -> None:
    def authenticate(path: str, request_headers: asgiws.Headers) -> Any:
        if request_headers.get("Authorization") != "Bearer secret":
            return 401, [("WWW-Authenticate", "Bearer")], b"nope\n"
        return None

    async def main() -> None:
        async with asgiws_serve(echo, port, http_parser, process_request=authenticate):
            uri = f"ws://{HOST}:{port}/"
            with pytest.raises(websockets.exceptions.InvalidStatus) as info:
                async with peer_connect(uri):
                    pass
            assert info.value.response.status_code == 401
            assert info.value.response.headers["WWW-Authenticate"] == "Bearer"
            assert info.value.response.body == b"nope\n"
            headers = {"Authorization": "Bearer secret"}
            async with peer_connect(uri, additional_headers=headers) as client:
                await client.send("in")
                assert await client.recv() == "in"

    run(main)


def test_handler_with_path_argument(port: int, http_parser: str) -> None:
    async def handler(websocket: Any, path: str) -> None:
        await websocket.send(f"path={path}")

    async def main() -> None:
        async with (
            asgiws_serve(handler, port, http_parser),
            peer_connect(f"ws://{HOST}:{port}/room/42?user=ann") as client,
        ):
            assert await client.recv() == "path=/room/42?user=ann"

    run(main)


def test_handler_exception_closes_1011_and_logs(
    port: int, http_parser: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(ws: Any) -> None:
        await ws.recv()
        raise ValueError("handler blew up")

    async def main() -> None:
        async with (
            asgiws_serve(handler, port, http_parser),
            peer_connect(f"ws://{HOST}:{port}/") as client,
        ):
            await client.send("boom")
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                await asyncio.wait_for(client.recv(), 5)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1011

    with caplog.at_level(logging.ERROR, logger="asgiws.server"):
        run(main)
    failures = [r for r in caplog.records if r.name == "asgiws.server" and r.exc_info]
    assert failures, caplog.text
    exc_type, exc, _ = failures[0].exc_info  # type: ignore[misc]
    assert exc_type is ValueError and str(exc) == "handler blew up"
    assert "Traceback" in caplog.text and "handler blew up" in caplog.text


def test_vanishing_client_raises_1006_and_leaks_nothing(port: int, http_parser: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        outcome = loop.create_future()
        started = loop.create_future()
        finally_ran = loop.create_future()

        async def handler(ws: Any) -> None:
            try:
                started.set_result(None)
                await ws.recv()
            except asgiws.ConnectionClosed as exc:
                outcome.set_result((exc, ws.close_code, ws.close_reason))
            finally:
                finally_ran.set_result(None)

        async with asgiws_serve(handler, port, http_parser) as server:
            client = await peer_connect(f"ws://{HOST}:{port}/")
            await asyncio.wait_for(started, 5)
            assert len(server.websockets) == 1
            client.transport.abort()  # gone: no close frame, no FIN handshake
            exc, close_code, close_reason = await asyncio.wait_for(outcome, 5)
            assert type(exc) is asgiws.ConnectionClosedError
            assert exc.code == 1006
            assert exc.rcvd is None
            assert (close_code, close_reason) == (1006, "")
            await asyncio.wait_for(finally_ran, 5)
            await until(lambda: not server.websockets)
            try:
                await until(lambda: not other_tasks())
            except TimeoutError:
                raise AssertionError(other_tasks()) from None
            assert not server._tasks
            assert not server._http_connections
        assert not other_tasks()

    run(main)


def test_pipelined_frames_after_handshake_are_not_lost(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with asgiws_serve(echo, port, http_parser):
            reader, writer = await asyncio.open_connection(HOST, port)
            request, _ = handshake_request()
            frames = masked_frame(0x1, "pipelined ✓".encode()) + masked_frame(0x2, b"\x00\x01")
            writer.write(request + frames)  # one write: the frames ride with the request
            status, headers, _ = await read_http_response(reader)
            assert status == 101
            assert headers["upgrade"].lower() == "websocket"
            data = "pipelined ✓".encode()
            first = await asyncio.wait_for(reader.readexactly(2 + len(data)), 5)
            assert first == bytes([0x81, len(data)]) + data
            second = await asyncio.wait_for(reader.readexactly(4), 5)
            assert second == b"\x82\x02\x00\x01"
            writer.write(masked_frame(0x8, struct.pack("!H", 1000)))
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"\x88\x02\x03\xe8"
            writer.close()

    run(main)


def test_plain_http_get_gets_426(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with asgiws_serve(echo, port, http_parser):
            async with httpx.AsyncClient(trust_env=False) as http:
                response = await http.get(f"http://{HOST}:{port}/", timeout=5)
            assert response.status_code == 426
            assert response.headers["upgrade"].lower() == "websocket"
            assert "WebSocket" in response.text

    run(main)


def test_bad_websocket_version_gets_426(port: int, http_parser: str) -> None:
    async def main() -> None:
        async with asgiws_serve(echo, port, http_parser):
            reader, writer = await asyncio.open_connection(HOST, port)
            request, _ = handshake_request()
            writer.write(request.replace(b"Version: 13", b"Version: 8"))
            status, headers, _ = await read_http_response(reader)
            assert status == 426
            assert headers["sec-websocket-version"] == "13"
            assert await asyncio.wait_for(reader.read(), 5) == b""  # then closed
            writer.close()

    run(main)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"THIS IS NOT HTTP\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: not-base64-16\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ],
    ids=["garbage", "bad-header", "bad-key"],
)
def test_malformed_request_gets_400(port: int, http_parser: str, request_bytes: bytes) -> None:
    async def main() -> None:
        async with asgiws_serve(echo, port, http_parser) as server:
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(request_bytes)
            status, _, _ = await read_http_response(reader)
            assert status == 400
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            # The server keeps serving.
            async with peer_connect(f"ws://{HOST}:{port}/") as client:
                await client.send("alive")
                assert await client.recv() == "alive"
            await until(lambda: not server._http_connections)

    run(main)


# ---------------------------------------------------------- websockets server, asgiws client


def test_client_echo_sizes(port: int) -> None:
    messages = payloads()

    async def main() -> None:
        async with (
            peer_serve(peer_echo, port, max_size=32 * MiB),
            asgiws_connect(f"ws://{HOST}:{port}/", max_size=32 * MiB) as client,
        ):
            for message in messages:
                await client.send(message)
                answer = await client.recv()
                assert type(answer) is type(message)
                assert answer == message

    run(main)


def test_client_sends_and_receives_fragments(port: int) -> None:
    async def handler(ws: Any) -> None:
        parts = [part async for part in ws.recv_streaming()]
        await ws.send(repr(parts))
        parts = [part async for part in ws.recv_streaming()]
        await ws.send(repr(parts))
        await ws.send(["server ", "frag", "ments"])
        await ws.send([b"\x01", b"\x02" * 70000])
        await ws.wait_closed()

    async def main() -> None:
        async with (
            peer_serve(handler, port),
            asgiws_connect(f"ws://{HOST}:{port}/") as client,
        ):
            await client.send(["a", "bé", "c"])
            assert await client.recv() == repr(["a", "bé", "c"])

            async def parts() -> AsyncIterator[bytes]:
                yield b"\x00"
                yield bytearray(b"\x01\x02")
                yield memoryview(b"\x03")

            await client.send(parts())
            assert await client.recv() == repr([b"\x00", b"\x01\x02", b"\x03"])
            assert await client.recv() == "server fragments"
            assert await client.recv() == b"\x01" + b"\x02" * 70000

    run(main)


def test_client_ping_pong(port: int) -> None:
    async def handler(ws: Any) -> None:
        await ws.recv()
        pong_waiter = await ws.ping(b"from server")
        latency = await asyncio.wait_for(pong_waiter, 5)
        await ws.send(f"server latency ok: {latency >= 0}")
        await ws.wait_closed()

    async def main() -> None:
        async with (
            peer_serve(handler, port, ping_interval=None),
            asgiws_connect(f"ws://{HOST}:{port}/", ping_interval=None) as client,
        ):
            waiter = await client.ping()
            latency = await asyncio.wait_for(waiter, 5)
            assert isinstance(latency, float) and latency >= 0
            assert client.latency == latency
            waiter = await client.ping(b"data")
            await asyncio.wait_for(waiter, 5)
            await client.send("go")
            # The asgiws client answers the server's ping by itself.
            assert await client.recv() == "server latency ok: True"

    run(main)


@pytest.mark.parametrize(
    ("code", "reason", "ok"), [(1000, "bye", True), (1001, "", True), (4000, "custom", False)]
)
def test_client_receives_close_code(port: int, code: int, reason: str, ok: bool) -> None:
    async def handler(ws: Any) -> None:
        await ws.close(code, reason)

    async def main() -> None:
        async with (
            peer_serve(handler, port),
            asgiws_connect(f"ws://{HOST}:{port}/") as client,
        ):
            expected = asgiws.ConnectionClosedOK if ok else asgiws.ConnectionClosedError
            with pytest.raises(expected) as info:
                await asyncio.wait_for(client.recv(), 5)
            assert (info.value.code, info.value.reason) == (code, reason)
            assert info.value.sent is not None and info.value.sent.code == code
            assert (client.close_code, client.close_reason) == (code, reason)
            assert client.closed and not client.open

    run(main)


@pytest.mark.parametrize(
    ("code", "reason", "ok"), [(1000, "", True), (1001, "leaving", True), (4002, "x", False)]
)
def test_asgiws_client_close_code_seen_by_server(
    port: int, code: int, reason: str, ok: bool
) -> None:
    async def main() -> None:
        outcome = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            try:
                await ws.recv()
            except websockets.exceptions.ConnectionClosed as exc:
                outcome.set_result(exc)

        async with peer_serve(handler, port):
            client = await asgiws_connect(f"ws://{HOST}:{port}/")
            await asyncio.wait_for(client.close(code, reason), 15)
            assert client.closed
            assert (client.close_code, client.close_reason) == (code, reason)
            exc = await asyncio.wait_for(outcome, 5)
            expected = (
                websockets.exceptions.ConnectionClosedOK
                if ok
                else websockets.exceptions.ConnectionClosedError
            )
            assert isinstance(exc, expected)
            assert (exc.rcvd.code, exc.rcvd.reason) == (code, reason)

    run(main)


def test_client_subprotocols(port: int) -> None:
    async def handler(ws: Any) -> None:
        await ws.send(str(ws.subprotocol))

    async def main() -> None:
        async with peer_serve(handler, port, subprotocols=["a", "b"]):
            uri = f"ws://{HOST}:{port}/"
            async with asgiws_connect(uri, subprotocols=["b", "a"]) as client:
                assert client.subprotocol == "a"
                assert await client.recv() == "a"
            async with asgiws_connect(uri, subprotocols=["b"]) as client:
                assert client.subprotocol == "b"

    run(main)


@pytest.mark.parametrize("form", ["dict", "Headers", "list"])
def test_client_extra_headers_and_user_agent(port: int, form: str) -> None:
    extra = {
        "dict": {"X-Token": "dict"},
        "Headers": asgiws.Headers({"X-Token": "headers"}),
        "list": [("X-Token", "list")],
    }[form]

    async def handler(ws: Any) -> None:
        headers = ws.request.headers
        await ws.send(f"{headers['X-Token']}|{headers['User-Agent']}|{ws.request.path}")

    async def main() -> None:
        async with peer_serve(handler, port):
            uri = f"ws://{HOST}:{port}/p?q=1"
            async with asgiws_connect(uri, extra_headers=extra) as client:
                token, agent, path = (await client.recv()).split("|")
                assert token == form.lower() if form != "Headers" else token == "headers"
                assert "asgiws" in agent
                assert path == "/p?q=1"
                assert client.request_headers["X-Token"] == token
            async with asgiws_connect(uri, extra_headers=extra, user_agent_header="Bot/2") as c:
                assert (await c.recv()).split("|")[1] == "Bot/2"

    run(main)


def test_client_origin_rejected(port: int) -> None:
    async def main() -> None:
        async with peer_serve(peer_echo, port, origins=["https://good.example"]):
            uri = f"ws://{HOST}:{port}/"
            with pytest.raises(asgiws.InvalidStatusCode) as info:
                await asgiws_connect(uri, origin="https://evil.example")
            assert info.value.status_code == 403
            async with asgiws_connect(uri, origin="https://good.example") as client:
                await client.send("hi")
                assert await client.recv() == "hi"

    run(main)


def test_client_max_size_closes_1009(port: int) -> None:
    async def main() -> None:
        outcome = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            await ws.send(b"z" * 1001)
            try:
                await ws.recv()
            except websockets.exceptions.ConnectionClosed as exc:
                outcome.set_result(exc)

        async with peer_serve(handler, port):
            async with asgiws_connect(f"ws://{HOST}:{port}/", max_size=1000) as client:
                with pytest.raises(asgiws.ConnectionClosedError) as info:
                    await asyncio.wait_for(client.recv(), 5)
                assert info.value.sent is not None and info.value.sent.code == 1009
            exc = await asyncio.wait_for(outcome, 5)
            assert exc.rcvd.code == 1009

    run(main)


def test_peer_server_max_size_closes_1009(port: int) -> None:
    async def main() -> None:
        async with (
            peer_serve(peer_echo, port, max_size=1000),
            asgiws_connect(f"ws://{HOST}:{port}/") as client,
        ):
            await client.send(b"q" * 1000)
            assert await client.recv() == b"q" * 1000
            await client.send(b"q" * 1001)
            with pytest.raises(asgiws.ConnectionClosedError) as info:
                await asyncio.wait_for(client.recv(), 5)
            assert info.value.code == 1009
            assert client.close_code == 1009

    run(main)


def test_client_tls(port: int, server_ssl_context: Any, client_ssl_context: Any) -> None:
    async def main() -> None:
        async with peer_serve(peer_echo, port, ssl=server_ssl_context, max_size=4 * MiB):
            uri = f"wss://localhost:{port}/"
            async with asgiws_connect(uri, ssl=client_ssl_context, max_size=4 * MiB) as client:
                big = os.urandom(2 * MiB)
                await client.send(big)
                assert await client.recv() == big
                await client.send("tls text")
                assert await client.recv() == "tls text"

    run(main)


def test_vanishing_server_raises_1006(port: int) -> None:
    async def main() -> None:
        async def handler(ws: Any) -> None:
            await ws.send("hello")
            ws.transport.abort()

        async with peer_serve(handler, port):
            client = await asgiws_connect(f"ws://{HOST}:{port}/")
            assert await client.recv() == "hello"
            with pytest.raises(asgiws.ConnectionClosedError) as info:
                await asyncio.wait_for(client.recv(), 5)
            assert info.value.code == 1006
            assert client.close_code == 1006
            await asyncio.wait_for(client.wait_closed(), 5)
            await client.close()  # idempotent on a closed connection

    run(main)
