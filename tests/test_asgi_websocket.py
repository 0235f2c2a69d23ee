"""The ASGI WebSocket adapter, over loopback, driven by the ``websockets`` library as the client.

An in-process :class:`asgiws.Server` runs a raw ASGI application whose behaviour depends on the
path; what the application saw (events, exceptions, the scope) is recorded and asserted on, as
is what the client saw (status, headers, messages, close codes).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets.exceptions
from helpers_asgi import HOST, run, serving, until, ws_url
from websockets.asyncio.client import connect as ws_connect

from asgiws.asgi.websocket import ClientDisconnected

Seen = dict[str, Any]


def make_app(seen: Seen) -> Any:
    """One raw ASGI app; the path chooses the behaviour, ``seen`` records what happened."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            scope["state"]["shared"] = "from lifespan"
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            assert message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert scope["type"] == "websocket"
        path = scope["path"][len(scope["root_path"]) :]
        seen.setdefault("paths", []).append(path)
        first = await receive()
        seen["first"] = first
        if path == "/reject":
            await send({"type": "websocket.close"})
            return
        if path == "/deny":
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"text/plain"), (b"x-why", b"token")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b"no token"})
            return
        if path == "/deny-stream":
            await send({"type": "websocket.http.response.start", "status": 409, "headers": []})
            await send(
                {"type": "websocket.http.response.body", "body": b"part1,", "more_body": True}
            )
            await send({"type": "websocket.http.response.body", "body": b"part2"})
            return
        if path == "/crash-before":
            raise RuntimeError("boom before accept")
        if path == "/no-handshake":
            return
        accept: dict[str, Any] = {"type": "websocket.accept", "headers": [(b"x-extra", b"yes")]}
        if scope["subprotocols"]:
            accept["subprotocol"] = scope["subprotocols"][-1]
        await send(accept)
        if path == "/crash-after":
            raise RuntimeError("boom after accept")
        if path == "/return":
            return
        if path == "/close":
            await send({"type": "websocket.close", "code": 4001, "reason": "bye now"})
            seen["after_close"] = await receive()
            try:
                await send({"type": "websocket.send", "text": "too late"})
            except OSError as exc:
                seen["send_error"] = exc
            return
        if path == "/scope":
            public = {k: v for k, v in scope.items() if k not in ("headers", "state", "extensions")}
            public["headers"] = [[k.decode(), v.decode()] for k, v in scope["headers"]]
            public["state"] = scope["state"]
            # asgiws.websocket holds the connection itself (asgiws.hub); not JSON.
            connection = scope["extensions"]["asgiws.websocket"]["connection"]
            public["extensions"] = {
                k: v for k, v in scope["extensions"].items() if k != "asgiws.websocket"
            }
            public["connection"] = type(connection).__name__
            public["raw_path"] = scope["raw_path"].decode()
            public["query_string"] = scope["query_string"].decode()
            await send({"type": "websocket.send", "text": json.dumps(public)})
        # echo until the client leaves
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                seen["disconnect"] = message
                break
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
        await send({"type": "websocket.close"})  # closing what is closed: a no-op
        seen["close_after_disconnect"] = "no error"
        try:
            await send({"type": "websocket.send", "text": "after disconnect"})
        except OSError as exc:
            seen["send_error"] = exc

    return app


def client(url: str, **options: Any) -> Any:
    options.setdefault("compression", None)
    options.setdefault("proxy", None)
    options.setdefault("open_timeout", 5)
    options.setdefault("close_timeout", 5)
    return ws_connect(url, **options)


async def rejected(url: str, **options: Any) -> Any:
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        async with client(url, **options):
            pass
    return info.value.response


def test_accept_with_subprotocol_and_headers_then_echo(http_parser: str) -> None:
    seen: Seen = {}

    async def main() -> None:
        async with serving(make_app(seen), http=http_parser) as server:
            url = ws_url(server, "/echo")
            async with client(url, subprotocols=["chat", "superchat"]) as ws:
                assert ws.subprotocol == "superchat"
                assert ws.response.status_code == 101
                assert ws.response.headers["x-extra"] == "yes"
                assert ws.response.headers["server"] == "asgiws"
                assert "date" in ws.response.headers
                await ws.send("héllo")
                assert await ws.recv() == "héllo"
                await ws.send(b"\x00\xffbytes")
                assert await ws.recv() == b"\x00\xffbytes"
                await ws.close(4321, "client says bye")
            await until(lambda: "disconnect" in seen)
        assert seen["first"] == {"type": "websocket.connect"}
        assert seen["disconnect"] == {
            "type": "websocket.disconnect",
            "code": 4321,
            "reason": "client says bye",
        }
        assert seen["close_after_disconnect"] == "no error"
        assert isinstance(seen["send_error"], ClientDisconnected)
        assert isinstance(seen["send_error"], OSError)

    run(main)


def test_close_before_accept_is_403(http_parser: str) -> None:
    async def main() -> None:
        async with serving(make_app({}), http=http_parser) as server:
            response = await rejected(ws_url(server, "/reject"))
            assert response.status_code == 403

    run(main)


def test_denial_response(http_parser: str) -> None:
    async def main() -> None:
        async with serving(make_app({}), http=http_parser) as server:
            response = await rejected(ws_url(server, "/deny"))
            assert response.status_code == 401
            assert response.headers["x-why"] == "token"
            assert response.headers["content-type"] == "text/plain"
            assert response.body == b"no token"

    run(main)


def test_denial_response_streamed(http_parser: str) -> None:
    async def main() -> None:
        async with serving(make_app({}), http=http_parser) as server:
            reader, writer = await asyncio.open_connection(HOST, server.config.port)
            writer.write(
                b"GET /deny-stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            data = await asyncio.wait_for(reader.read(), 5)  # until the server closes
            writer.close()
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 409 ")
            assert b"connection: close" in head.lower()
            assert body == b"part1,part2"

    run(main)


def test_server_close_code_and_reason(http_parser: str) -> None:
    seen: Seen = {}

    async def main() -> None:
        async with (
            serving(make_app(seen), http=http_parser) as server,
            client(ws_url(server, "/close")) as ws,
        ):
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd.code == 4001
            assert info.value.rcvd.reason == "bye now"
            await until(lambda: "send_error" in seen)
        assert seen["after_close"]["type"] == "websocket.disconnect"
        assert seen["after_close"]["code"] == 4001  # the client echoed it
        assert isinstance(seen["send_error"], ClientDisconnected)

    run(main)


def test_app_exception_before_accept_is_500(http_parser: str) -> None:
    async def main() -> None:
        async with serving(make_app({}), http=http_parser) as server:
            response = await rejected(ws_url(server, "/crash-before"))
            assert response.status_code == 500
            response = await rejected(ws_url(server, "/no-handshake"))
            assert response.status_code == 500

    run(main)


def test_app_exception_after_accept_is_1011(http_parser: str) -> None:
    async def main() -> None:
        async with (
            serving(make_app({}), http=http_parser) as server,
            client(ws_url(server, "/crash-after")) as ws,
        ):
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1011
            async with client(ws_url(server, "/return")) as ws:
                with pytest.raises(websockets.exceptions.ConnectionClosedOK) as ok:
                    await ws.recv()
                assert ok.value.rcvd.code == 1000

    run(main)


def test_scope(http_parser: str) -> None:
    async def main() -> None:
        async with serving(make_app({}), http=http_parser, root_path="/api") as server:
            url = ws_url(server, "/sc%6Fpe?a=1&b=%20")
            async with client(
                url, subprotocols=["p1", "p2"], additional_headers={"X-A": "1"}
            ) as ws:
                scope = json.loads(await ws.recv())
        assert scope["type"] == "websocket"
        assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
        assert scope["http_version"] == "1.1"
        assert scope["scheme"] == "ws"
        assert scope["root_path"] == "/api"
        assert scope["path"] == "/api/scope"
        assert scope["raw_path"] == "/api/sc%6Fpe"
        assert scope["query_string"] == "a=1&b=%20"
        assert scope["subprotocols"] == ["p1", "p2"]
        assert scope["client"][0] == "127.0.0.1" and isinstance(scope["client"][1], int)
        assert scope["server"] == ["127.0.0.1", server.config.port]
        assert ["x-a", "1"] in scope["headers"]
        assert ["sec-websocket-version", "13"] in scope["headers"]
        assert scope["state"] == {"shared": "from lifespan"}
        assert scope["extensions"] == {"websocket.http.response": {}}
        assert scope["connection"] == "WebSocketCommonProtocol"

    run(main)


def test_scope_path_with_root_path_not_doubled() -> None:
    async def main() -> None:
        async with serving(make_app({})) as server, client(ws_url(server, "/scope")) as ws:
            scope = json.loads(await ws.recv())
        assert scope["root_path"] == "" and scope["path"] == "/scope"

    run(main)


def test_proxy_headers_set_client_and_scheme() -> None:
    async def main() -> None:
        async with serving(make_app({})) as server:
            headers = {"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Proto": "https"}
            async with client(ws_url(server, "/scope"), additional_headers=headers) as ws:
                scope = json.loads(await ws.recv())
            assert scope["client"] == ["203.0.113.7", 0]
            assert scope["scheme"] == "wss"
        async with (
            serving(make_app({}), forwarded_allow_ips="10.0.0.1") as server,
            client(ws_url(server, "/scope"), additional_headers=headers) as ws,
        ):
            scope = json.loads(await ws.recv())
            assert scope["client"][0] == "127.0.0.1"  # not a trusted proxy: ignored
            assert scope["scheme"] == "ws"

    run(main)


def test_bad_handshake_is_answered_before_the_app(http_parser: str) -> None:
    seen: Seen = {}

    async def main() -> None:
        async with serving(make_app(seen), http=http_parser) as server:
            reader, writer = await asyncio.open_connection(HOST, server.config.port)
            writer.write(
                b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 8\r\n\r\n"
            )
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
        assert data.startswith(b"HTTP/1.1 426 ")
        assert b"sec-websocket-version: 13" in data.lower()
        assert "paths" not in seen  # the application never ran

    run(main)


def test_process_request_hook_answers_plain_http(http_parser: str) -> None:
    calls: list[tuple[str, str | None]] = []

    async def hook(path: str, request_headers: Any) -> Any:
        calls.append((path, request_headers.get("X-Token")))
        if request_headers.get("X-Token") != "secret":
            return 401, [("WWW-Authenticate", "Token")], b"who are you?\n"
        return None

    async def main() -> None:
        async with serving(make_app({}), http=http_parser, process_request=hook) as server:
            response = await rejected(ws_url(server, "/echo?x=1"))
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Token"
            assert response.body == b"who are you?\n"
            async with client(
                ws_url(server, "/echo"), additional_headers={"X-Token": "secret"}
            ) as ws:
                await ws.send("in")
                assert await ws.recv() == "in"
        assert calls == [("/echo?x=1", None), ("/echo", "secret")]

    run(main)


def test_permessage_deflate_negotiated() -> None:
    async def main() -> None:
        async with (
            serving(make_app({}), ws_per_message_deflate=True) as server,
            client(ws_url(server, "/echo"), compression="deflate") as ws,
        ):
            extensions = ws.response.headers.get("sec-websocket-extensions", "")
            assert extensions.startswith("permessage-deflate")
            payload = "compress me " * 1000
            await ws.send(payload)
            assert await ws.recv() == payload
        async with (
            serving(make_app({}), ws_per_message_deflate=False) as server,
            client(ws_url(server, "/echo"), compression="deflate") as ws,
        ):
            assert "sec-websocket-extensions" not in ws.response.headers

    run(main)


def test_shutdown_closes_websockets_with_1012(http_parser: str) -> None:
    seen: Seen = {}

    async def main() -> None:
        async with (
            serving(make_app(seen), http=http_parser) as server,
            client(ws_url(server, "/echo")) as ws,
        ):
            await ws.send("ping")
            assert await ws.recv() == "ping"
            server.should_exit = True
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd.code == 1012
            assert info.value.rcvd.reason == "service restart"
        assert seen["disconnect"]["code"] == 1012
        assert server.server_state.connections == set()

    run(main)


def test_max_queue_pauses_reading_without_losing_messages() -> None:
    received: list[str] = []
    release = asyncio.Event()

    async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError("websocket only")
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            received.append(message["text"])
            if len(received) == 200:
                await send({"type": "websocket.send", "text": "all"})

    async def main() -> None:
        async with (
            serving(slow_app, ws_max_queue=4, lifespan="off") as server,
            client(ws_url(server, "/")) as ws,
        ):
            for index in range(200):
                await ws.send(f"m{index}" + "x" * 1000)
            release.set()
            assert await asyncio.wait_for(ws.recv(), 10) == "all"
        assert received == [f"m{index}" + "x" * 1000 for index in range(200)]

    run(main)


def test_server_runs_in_a_non_main_thread() -> None:
    """Signal handlers are skipped there; ``should_exit`` stops the server."""
    import threading

    from helpers_asgi import TestServer, free_port

    from asgiws import Config

    server = TestServer(Config(make_app({}), host=HOST, port=free_port(), loop="asyncio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    async def main() -> None:
        await until(lambda: server.started, timeout=10)
        async with client(ws_url(server, "/echo")) as ws:
            await ws.send("from the main thread")
            assert await ws.recv() == "from the main thread"

    try:
        run(main)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_tls_gives_wss_scheme(tmp_path: Any, tls_ca: Any, client_ssl_context: Any) -> None:
    pem = tmp_path / "server.pem"
    tls_ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))

    async def main() -> None:
        async with (
            serving(make_app({}), ssl_certfile=str(pem), ssl_keyfile=str(pem)) as server,
            client(f"wss://{HOST}:{server.config.port}/scope", ssl=client_ssl_context) as ws,
        ):
            scope = json.loads(await ws.recv())
        assert scope["scheme"] == "wss"

    run(main)


def test_unix_socket(tmp_path: Any) -> None:
    from websockets.asyncio.client import unix_connect

    path = str(tmp_path / "asgiws.sock")

    async def main() -> None:
        async with (
            serving(make_app({}), uds=path) as server,
            unix_connect(path, "ws://localhost/scope", proxy=None, open_timeout=5) as ws,
        ):
            scope = json.loads(await ws.recv())
            assert server.port is None
        assert scope["server"] == [path, None]
        assert scope["client"] is None

    run(main)


def test_ws_none_gives_upgrade_requests_to_the_app_as_http(http_parser: str) -> None:
    """As with uvicorn: without WebSocket support the app answers the request itself."""
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        seen.append(scope)
        await send({"type": "http.response.start", "status": 426, "headers": []})
        await send({"type": "http.response.body", "body": b"no websockets here"})

    async def main() -> bytes:
        async with serving(app, http=http_parser, ws="none", lifespan="off") as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(
                b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            answer = await asyncio.wait_for(reader.read(), 10)  # then the server closes
            writer.close()
            return answer

    answer = run(main)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 426 ")
    assert b"connection: close" in head.lower()
    assert body == b"no websockets here"
    assert [(scope["type"], scope["path"]) for scope in seen] == [("http", "/chat")]
    assert [b"upgrade", b"websocket"] in [list(pair) for pair in seen[0]["headers"]]
