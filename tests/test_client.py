"""The client: ``connect()`` awaited, as ``async with``, and as ``async for`` (reconnecting),
URI checks, status codes, redirects, timeouts, request headers, subprotocols and TLS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import asgiws
from asgiws import Headers
from asgiws.client import Connect

HOST = "127.0.0.1"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---------------------------------------------------------------------------- helpers


def run(main: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def serve(handler: Any, port: int, **options: Any) -> Any:
    options.setdefault("compression", None)
    return asgiws.serve(handler, HOST, port, **options)


def connect(uri: str, **options: Any) -> Any:
    options.setdefault("compression", None)
    return asgiws.connect(uri, **options)


def bound_port(server: Any) -> int:
    return int(server.sockets[0].getsockname()[1])


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


async def greet_path(ws: Any) -> None:
    await ws.send(f"path {ws.path}")
    await echo(ws)


async def raw_server(
    respond: Callable[[dict[str, str]], bytes | None],
) -> tuple[asyncio.AbstractServer, int, list[bytes]]:
    """A TCP server that reads one request head and writes ``respond(headers)`` (if not None),
    then keeps the connection open. Returns the server, its port and the heads it read."""
    heads: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        heads.append(head)
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        answer = respond(headers)
        if answer is not None:
            writer.write(answer)
        try:
            await reader.read()  # hold the connection until the peer goes
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    return server, bound_port(server), heads


def accept_of(headers: dict[str, str]) -> str:
    digest = hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()
    return base64.b64encode(digest).decode()


def switching(headers: dict[str, str], extra: str = "") -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_of(headers)}\r\n{extra}\r\n"
    ).encode()


# ---------------------------------------------------------------------------- forms


def test_connect_awaitable_and_async_with(port: int, event_loop_policy: str) -> None:
    async def main() -> None:
        async with serve(greet_path, port):
            client = await connect(f"ws://{HOST}:{port}/awaited")
            assert isinstance(client, asgiws.WebSocketClientProtocol)
            assert await client.recv() == "path /awaited"
            await client.close()
            assert client.closed
            async with connect(f"ws://{HOST}:{port}/with?x=1") as client:
                assert await client.recv() == "path /with?x=1"
                await client.send("echo")
                assert await client.recv() == "echo"
            assert client.closed and client.close_code == 1000

    run(main)


def test_async_for_reconnects_after_server_restart(port: int) -> None:
    class FastConnect(Connect):
        BACKOFF_MIN = 0.01
        BACKOFF_INITIAL = 0.01
        BACKOFF_MAX = 0.05

    async def main() -> None:
        generation = 1

        async def handler(ws: Any) -> None:
            await ws.send(f"server {generation}")
            await ws.wait_closed()

        server = await serve(handler, port)
        greetings: list[str] = []
        attempts = 0
        async for ws in FastConnect(f"ws://{HOST}:{port}/", compression=None):
            attempts += 1
            try:
                greetings.append(await ws.recv())
                if len(greetings) == 2:
                    await ws.close()
                    break
                # Restart the server: the client sees 1001, then connection refusals.
                server.close()
                await server.wait_closed()

                async def restart() -> None:
                    nonlocal server, generation
                    await asyncio.sleep(0.3)
                    generation = 2
                    server = await serve(handler, port)

                restarting = asyncio.ensure_future(restart())
                await ws.recv()
            except asgiws.ConnectionClosed as exc:
                assert exc.code == 1001
                continue
        await restarting
        assert greetings == ["server 1", "server 2"]
        assert attempts == 2
        server.close()
        await server.wait_closed()

    run(main)


def test_async_for_raises_on_invalid_handshake(port: int) -> None:
    """Errors retrying cannot fix (a server that is not a WebSocket server) are raised."""

    async def main() -> None:
        def bad_accept(headers: dict[str, str]) -> bytes:
            return switching({"sec-websocket-key": "wrong"})

        server, raw_port, _ = await raw_server(bad_accept)
        async with server:
            with pytest.raises(asgiws.InvalidHandshake):
                async for _ in connect(f"ws://{HOST}:{raw_port}/", open_timeout=2):
                    pytest.fail("no connection should open")

    run(main)


def test_frames_right_after_the_101_are_not_lost() -> None:
    async def main() -> None:
        def respond(headers: dict[str, str]) -> bytes:
            # The 101 and two frames in one write, as a fast server may send them.
            return switching(headers) + b"\x81\x05hello" + b"\x82\x02\x00\x01"

        server, raw_port, _ = await raw_server(respond)
        async with server:
            client = await connect(f"ws://{HOST}:{raw_port}/")
            assert await asyncio.wait_for(client.recv(), 5) == "hello"
            assert await asyncio.wait_for(client.recv(), 5) == b"\x00\x01"
            client._abort()

    run(main)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1/",
        "https://127.0.0.1/",
        "ws://",
        "ws:///path",
        "ws://127.0.0.1/#fragment",
        "ws://127.0.0.1:99999/",
        "ws://127.0.0.1:port/",
        "not a uri",
    ],
)
def test_invalid_uri(uri: str) -> None:
    async def main() -> None:
        with pytest.raises(asgiws.InvalidURI) as info:
            await connect(uri)
        assert info.value.uri == uri

    run(main)


def test_parse_uri() -> None:
    from asgiws.client import parse_uri

    wsuri = parse_uri("wss://user:pw@example.com/chat?room=1")
    assert (wsuri.secure, wsuri.host, wsuri.port) == (True, "example.com", 443)
    assert wsuri.resource_name == "/chat?room=1"
    assert (wsuri.username, wsuri.password) == ("user", "pw")
    wsuri = parse_uri("ws://[::1]:8765")
    assert (wsuri.host, wsuri.port, wsuri.resource_name) == ("::1", 8765, "/")
    assert parse_uri("ws://h/caf\u00e9").path == "/caf%C3%A9"


def test_invalid_status_code(port: int) -> None:
    def hook(path: str, request_headers: Headers) -> Any:
        if path == "/forbidden":
            return 403, [("X-Why", "forbidden")], b"no\n"
        if path == "/missing":
            return 404, [], b"not found\n"
        return None

    async def main() -> None:
        async with serve(echo, port, process_request=hook):
            with pytest.raises(asgiws.InvalidStatusCode) as info:
                await connect(f"ws://{HOST}:{port}/forbidden")
            assert info.value.status_code == 403
            assert info.value.headers["X-Why"] == "forbidden"
            assert "403" in str(info.value)
            with pytest.raises(asgiws.InvalidStatusCode) as info:
                async with connect(f"ws://{HOST}:{port}/missing"):
                    pass
            assert info.value.status_code == 404
            assert isinstance(info.value, asgiws.InvalidHandshake)

    run(main)


def test_invalid_response(port: int) -> None:
    async def main() -> None:
        # Not HTTP at all.
        server, raw_port, _ = await raw_server(lambda headers: b"SSH-2.0-OpenSSH\r\n\r\n")
        async with server:
            with pytest.raises(asgiws.InvalidMessage):
                await connect(f"ws://{HOST}:{raw_port}/", open_timeout=5)
        # 101 with a wrong Sec-WebSocket-Accept.
        bad_accept = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
        )
        server, raw_port, _ = await raw_server(lambda headers: bad_accept)
        async with server:
            with pytest.raises(asgiws.InvalidHandshake):
                await connect(f"ws://{HOST}:{raw_port}/", open_timeout=5)

    run(main)


def test_connection_closed_during_handshake() -> None:
    async def main() -> None:
        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.close()

        server = await asyncio.start_server(hang_up, HOST, 0)
        async with server:
            with pytest.raises(asgiws.InvalidMessage):
                await connect(f"ws://{HOST}:{bound_port(server)}/", open_timeout=5)

    run(main)


def test_connection_refused(port: int) -> None:
    async def main() -> None:
        with pytest.raises(OSError):
            await connect(f"ws://{HOST}:{port}/")

    run(main)


# ---------------------------------------------------------------------------- redirects


def test_redirect_to_another_server(port: int) -> None:
    async def main() -> None:
        async with serve(greet_path, 0) as target:
            target_port = bound_port(target)

            def redirect(path: str, request_headers: Headers) -> Any:
                if path == "/old":
                    return 301, [("Location", f"ws://{HOST}:{target_port}/new?x=1")], b""
                if path == "/relative":
                    return 302, [("Location", "/old")], b""
                if path == "/loop":
                    return 307, [("Location", "/loop")], b""
                if path == "/nowhere":
                    return 302, [], b""
                return None

            async with serve(greet_path, port, process_request=redirect):
                async with connect(f"ws://{HOST}:{port}/old") as client:
                    assert await client.recv() == "path /new?x=1"
                    assert client.remote_address[1] == target_port
                # A relative Location, then an absolute one.
                async with connect(f"ws://{HOST}:{port}/relative") as client:
                    assert await client.recv() == "path /new?x=1"
                with pytest.raises(asgiws.SecurityError):
                    await connect(f"ws://{HOST}:{port}/loop")
                with pytest.raises(asgiws.InvalidHeader):
                    await connect(f"ws://{HOST}:{port}/nowhere")

    run(main)


# ---------------------------------------------------------------------------- timeouts


def test_open_timeout_against_silent_server() -> None:
    async def main() -> None:
        server, raw_port, heads = await raw_server(lambda headers: None)  # never answers
        async with server:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(asyncio.TimeoutError):
                await connect(f"ws://{HOST}:{raw_port}/", open_timeout=0.3)
            assert loop.time() - started < 10
            assert len(heads) == 1 and heads[0].startswith(b"GET / HTTP/1.1\r\n")

    run(main)


def test_open_timeout_none_waits(port: int) -> None:
    async def main() -> None:
        async with (
            serve(echo, port),
            connect(f"ws://{HOST}:{port}/", open_timeout=None) as client,
        ):
            await client.send("ok")
            assert await client.recv() == "ok"

    run(main)


def test_close_timeout_when_server_ignores_close() -> None:
    async def main() -> None:
        server, raw_port, _ = await raw_server(switching)  # accepts, then ignores every frame
        async with server:
            client = await connect(f"ws://{HOST}:{raw_port}/", close_timeout=0.2)
            assert client.open
            await asyncio.wait_for(client.close(), 5)
            assert client.closed
            assert client.close_code == 1006

    run(main)


# ---------------------------------------------------------------------------- request headers


def test_user_agent_header() -> None:
    async def main() -> None:
        server, raw_port, heads = await raw_server(switching)
        async with server:
            uri = f"ws://{HOST}:{raw_port}/"
            for agent in ("default", "Custom/1.0", None):
                options = {} if agent == "default" else {"user_agent_header": agent}
                client = await connect(uri, close_timeout=0.1, **options)
                client._abort()
            default, custom, none = (head.decode() for head in heads)
        assert "User-Agent: Python/" in default and "asgiws/" in default
        assert "User-Agent: Custom/1.0\r\n" in custom
        assert "User-Agent" not in none

    run(main)


@pytest.mark.parametrize("form", ["dict", "Headers", "list"])
def test_extra_headers(form: str) -> None:
    extra = {
        "dict": {"X-Api-Key": "k1", "User-Agent": "from-extra"},
        "Headers": Headers([("X-Api-Key", "k1"), ("User-Agent", "from-extra")]),
        "list": [("X-Api-Key", "k1"), ("User-Agent", "from-extra")],
    }[form]

    async def main() -> None:
        server, raw_port, heads = await raw_server(switching)
        async with server:
            client = await connect(f"ws://{HOST}:{raw_port}/", extra_headers=extra)
            assert client.request_headers["X-Api-Key"] == "k1"
            client._abort()
        head = heads[0].decode()
        assert "X-Api-Key: k1\r\n" in head
        # A User-Agent in extra_headers wins over user_agent_header, once.
        assert head.count("User-Agent") == 1 and "User-Agent: from-extra" in head

    run(main)


def test_origin_and_basic_auth_headers() -> None:
    async def main() -> None:
        server, raw_port, heads = await raw_server(switching)
        async with server:
            client = await connect(
                f"ws://alice:s3cret@{HOST}:{raw_port}/", origin="https://app.example"
            )
            client._abort()
        head = heads[0].decode()
        assert "Origin: https://app.example\r\n" in head
        assert f"Authorization: Basic {base64.b64encode(b'alice:s3cret').decode()}" in head
        assert f"Host: {HOST}:{raw_port}\r\n" in head

    run(main)


# ---------------------------------------------------------------------------- subprotocols


def test_subprotocol_negotiation(port: int) -> None:
    async def main() -> None:
        async with serve(echo, port, subprotocols=["v2", "v1"]):
            uri = f"ws://{HOST}:{port}/"
            async with connect(uri, subprotocols=["v1", "v2"]) as client:
                assert client.subprotocol == "v2"
            async with connect(uri, subprotocols=["v3"]) as client:
                assert client.subprotocol is None  # the server picked none: allowed

    run(main)


@pytest.mark.parametrize(
    ("offered", "answered"),
    [(["chat"], "superchat"), ([], "chat"), (["a", "b"], "a, b")],
    ids=["not-offered", "none-offered", "several"],
)
def test_subprotocol_negotiation_failure(offered: list[str], answered: str) -> None:
    async def main() -> None:
        def respond(headers: dict[str, str]) -> bytes:
            return switching(headers, f"Sec-WebSocket-Protocol: {answered}\r\n")

        server, raw_port, _ = await raw_server(respond)
        async with server:
            with pytest.raises(asgiws.InvalidHandshake):
                await connect(f"ws://{HOST}:{raw_port}/", subprotocols=offered, open_timeout=5)

    run(main)


# ---------------------------------------------------------------------------- TLS


def test_wss(port: int, server_ssl_context: Any, client_ssl_context: Any) -> None:
    async def main() -> None:
        async with serve(greet_path, port, ssl=server_ssl_context):
            async with connect(f"wss://localhost:{port}/secure", ssl=client_ssl_context) as c:
                assert await c.recv() == "path /secure"
                assert c.transport.get_extra_info("ssl_object") is not None
                await c.send("encrypted")
                assert await c.recv() == "encrypted"
            # Without the test CA the certificate is not trusted.
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(f"wss://localhost:{port}/")
            # ssl= with a ws:// URI is a mistake.
            with pytest.raises(ValueError):
                await connect(f"ws://localhost:{port}/", ssl=client_ssl_context)

    run(main)
