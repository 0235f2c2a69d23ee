"""The ASGI HTTP path, continued: response headers, health routes, the concurrency limit,
graceful shutdown of HTTP connections, the access log, proxy headers, and Starlette and
FastAPI applications served for real. Both HTTP parsers, real loopback sockets."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from typing import Any

import httpx
import pytest
from helpers_http import (
    WAIT,
    closed_by_server,
    connect,
    make_state,
    ok_app,
    read_response,
    request,
    respond,
    run,
    serve,
)

from asgiws.server.http import HttpConnection


@pytest.mark.parametrize(("date", "server"), [(True, True), (False, False), (True, False)])
def test_date_and_server_headers(http_parser: str, date: bool, server: bool) -> None:
    async def main() -> None:
        async with serve(ok_app, http_parser, date_header=date, server_header=server) as running:
            reader, writer = await connect(running.port)
            writer.write(request())
            response = await read_response(reader)
            assert (response.header("server") == "asgiws") is server
            assert (response.header("server") is None) is not server
            if date:
                assert response.header("date").endswith(" GMT")  # type: ignore[union-attr]
            else:
                assert response.header("date") is None
            writer.close()

    run(main)


def test_app_headers_win_over_defaults(http_parser: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await respond(send, b"", headers=[(b"server", b"mine"), (b"content-length", b"0")])

    async def main() -> None:
        async with (
            serve(app, http_parser) as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            response = await client.get("/")
            assert response.headers.get_list("server") == ["mine"]
            assert "date" in response.headers

    run(main)


def test_configured_extra_headers(http_parser: str) -> None:
    async def main() -> None:
        extra = [(b"x-served-by", b"asgiws-test")]
        async with serve(ok_app, http_parser, encoded_headers=extra) as server:
            reader, writer = await connect(server.port)
            writer.write(request())
            assert (await read_response(reader)).header("x-served-by") == "asgiws-test"
            writer.close()

    run(main)


# -- health routes --------------------------------------------------------------------------


def test_health_routes(http_parser: str) -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await ok_app(scope, receive, send)

    async def main() -> None:
        state = make_state(ready=False)
        async with (
            serve(app, http_parser, state=state) as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            live = await client.get("/healthz")
            assert (live.status_code, live.text) == (200, "OK\n")
            assert live.headers["cache-control"] == "no-store"
            assert (await client.get("/readyz")).status_code == 503
            state.ready = True
            assert (await client.get("/readyz?probe=1")).status_code == 200
            head = await client.head("/readyz")
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == "3"
            state.ready = False  # shutdown or drain began
            assert (await client.get("/readyz")).status_code == 503
            assert (await client.get("/healthz")).status_code == 200
            refused = await client.post("/healthz", content=b"x")
            assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
            assert (await client.get("/healthz/")).status_code == 200  # not ours: the app's
        assert seen == ["/healthz/"]

    run(main)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"health_path": "/live", "ready_path": "/ready"}, {"/live": 200, "/ready": 200}),
        ({"health_path": None, "ready_path": None}, {"/healthz": 418, "/readyz": 418}),
        ({"health_path": "/healthz", "ready_path": None}, {"/healthz": 200, "/readyz": 418}),
    ],
    ids=["custom", "disabled", "liveness-only"],
)
def test_health_route_settings(
    http_parser: str, settings: dict[str, Any], expected: dict[str, int]
) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await respond(send, b"app", status=418)

    async def main() -> None:
        async with (
            serve(app, http_parser, **settings) as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            for path, status in expected.items():
                assert (await client.get(path)).status_code == status, path

    run(main)


def test_health_route_on_a_websocket_upgrade_request(http_parser: str) -> None:
    async def main() -> None:
        async with serve(ok_app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(
                request(
                    "GET",
                    "/healthz",
                    [
                        ("Connection", "Upgrade"),
                        ("Upgrade", "websocket"),
                        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                        ("Sec-WebSocket-Version", "13"),
                    ],
                )
            )
            response = await read_response(reader)
            assert response.status == 200 and response.body == b"OK\n"
            assert await closed_by_server(reader)

    run(main)


# -- concurrency limit ----------------------------------------------------------------------


def test_limit_concurrency(http_parser: str) -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await release.wait()
            await ok_app(scope, receive, send)

        async with serve(app, http_parser, limit_concurrency=1) as server:
            busy_reader, busy_writer = await connect(server.port)
            busy_writer.write(request())
            await asyncio.sleep(0.1)
            # A second connection, over the limit: 503 for HTTP and for an upgrade.
            for headers in ([], [("Connection", "Upgrade"), ("Upgrade", "websocket")]):
                reader, writer = await connect(server.port)
                writer.write(request("GET", "/", headers))
                response = await read_response(reader)
                assert response.status == 503
                assert await closed_by_server(reader)
            # Health routes still answer: a busy server is alive.
            reader, writer = await connect(server.port)
            writer.write(request("GET", "/healthz"))
            assert (await read_response(reader)).status == 200
            writer.close()
            release.set()
            assert (await read_response(busy_reader)).status == 200
            busy_writer.close()

    run(main)


def test_repeated_health_probes_answered_from_their_bytes(http_parser: str) -> None:
    """A probe seen before is answered without parsing; readiness is still read each time."""
    state = make_state(ready=True)

    async def main() -> None:
        async with serve(ok_app, http_parser, state=state) as server:
            reader, writer = await connect(server.port)
            probe = request("GET", "/readyz", [("User-Agent", "lb/1")])
            responses = []
            for ready in (True, True, False, True):
                state.ready = ready
                writer.write(probe)
                responses.append(await read_response(reader))
            assert [r.status for r in responses] == [200, 200, 503, 200]
            assert [r.body for r in responses] == [b"OK\n", b"OK\n", b"Not ready\n", b"OK\n"]
            assert responses[0].raw_head == responses[1].raw_head
            (connection,) = server.connections
            known = connection._known.known
            assert list(known.values()) == ([(2, False)] if http_parser == "httptools" else [])
            # HEAD, a different request: its own entry; the app still gets everything else.
            writer.write(request("HEAD", "/readyz", [("User-Agent", "lb/1")]))
            head = await read_response(reader, head_only=True)
            assert head.status == 200
            assert head.header("content-length") == "3"
            writer.write(request("GET", "/"))
            assert (await read_response(reader)).body == b"ok"
            writer.close()

    run(main)


def test_repeated_probe_bytes_are_remembered_only_alone(http_parser: str) -> None:
    """Bytes holding more than the probe (pipelined requests, the end of a body) are not
    remembered, and the requests in them are all answered."""

    async def main() -> None:
        async with serve(ok_app, http_parser) as server:
            reader, writer = await connect(server.port)
            probe = request("GET", "/healthz")
            writer.write(probe + probe)  # two in one read (most likely): not remembered
            assert [(await read_response(reader)).body for _ in range(2)] == [b"OK\n"] * 2
            # A request whose body ends in the same read as a probe.
            post = request("POST", "/", body=b"hello")
            writer.write(post[:-2])
            await asyncio.sleep(0.05)
            writer.write(post[-2:] + probe)
            assert (await read_response(reader)).body == b"ok"
            assert (await read_response(reader)).body == b"OK\n"
            (connection,) = server.connections
            assert probe + probe not in connection._known.known
            assert post[-2:] + probe not in connection._known.known
            writer.write(probe)
            assert (await read_response(reader)).body == b"OK\n"
            writer.write(post[-2:] + probe)  # now garbage before the probe: a 400, not an OK
            assert (await read_response(reader)).status == 400
            writer.close()

    run(main)


# -- graceful shutdown ----------------------------------------------------------------------


def test_shutdown_closes_idle_and_finishes_in_flight(http_parser: str) -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["path"] == "/slow":
                await release.wait()
            await ok_app(scope, receive, send)

        async with serve(app, http_parser) as server:
            idle_reader, idle_writer = await connect(server.port)
            idle_writer.write(request())
            assert (await read_response(idle_reader)).status == 200
            busy_reader, busy_writer = await connect(server.port)
            busy_writer.write(request("GET", "/slow") + request("GET", "/pipelined"))
            await asyncio.sleep(0.1)
            for connection in list(server.state.connections):
                connection.shutdown()
            assert await closed_by_server(idle_reader, timeout=1)
            release.set()
            response = await read_response(busy_reader)
            assert response.status == 200
            assert response.header("connection") == "close"
            assert await closed_by_server(busy_reader)  # the pipelined request is dropped
            await asyncio.sleep(0.05)
            assert not server.state.connections

    run(main)


# -- access log -----------------------------------------------------------------------------


def test_access_log(http_parser: str, caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/fail":
            raise RuntimeError("boom")
        await ok_app(scope, receive, send)

    async def main() -> None:
        async with (
            serve(app, http_parser) as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            await client.get("/items?page=2")
            await client.post("/submit", content=b"x")
            await client.get("/fail")
            await client.get("/healthz")

    with caplog.at_level(logging.INFO, logger="asgiws.access"):
        run(main)
    lines = [r.getMessage() for r in caplog.records if r.name == "asgiws.access"]
    assert len(lines) == 3, lines  # health routes stay out of the access log
    pattern = r'^127\.0\.0\.1:\d+ - "{} HTTP/1\.1" {} \d+\.\d\dms$'
    expected = [("GET /items?page=2", 200), ("POST /submit", 200), ("GET /fail", 500)]
    for line, (target, status) in zip(lines, expected, strict=True):
        assert re.match(pattern.format(re.escape(target), status), line), line


def test_access_log_disabled(http_parser: str, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with (
            serve(ok_app, http_parser, access_log=False) as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            assert (await client.get("/")).status_code == 200

    with caplog.at_level(logging.INFO, logger="asgiws.access"):
        run(main)
    assert not [r for r in caplog.records if r.name == "asgiws.access"]


# -- proxy headers --------------------------------------------------------------------------


@pytest.mark.parametrize("trusted", ["127.0.0.1", "10.0.0.1"])
def test_proxy_headers(http_parser: str, trusted: str) -> None:
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)
        await ok_app(scope, receive, send)

    async def main() -> None:
        async with (
            serve(app, http_parser, proxy_headers=True, forwarded_allow_ips=trusted) as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            headers = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
            assert (await client.get("/", headers=headers)).status_code == 200

    run(main)
    (scope,) = scopes
    if trusted == "127.0.0.1":
        assert scope["client"][0] == "203.0.113.7" and scope["scheme"] == "https"
    else:
        assert scope["client"][0] == "127.0.0.1" and scope["scheme"] == "http"


# -- frameworks -----------------------------------------------------------------------------


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.path_params['name']}")

    async def echo(request: Request) -> JSONResponse:
        data = await request.json()
        return JSONResponse({"got": data, "query": request.query_params.get("q")})

    async def stream(request: Request) -> StreamingResponse:
        async def numbers() -> Any:
            for number in range(5):
                yield f"{number}\n"
                await asyncio.sleep(0.01)

        return StreamingResponse(numbers(), media_type="text/plain")

    return Starlette(
        routes=[
            Route("/hello/{name}", hello),
            Route("/echo", echo, methods=["POST"]),
            Route("/stream", stream),
        ]
    )


try:  # at module level: FastAPI resolves the (postponed) annotations in the module globals
    from pydantic import BaseModel

    class Item(BaseModel):
        name: str
        price: float

except ImportError:  # pragma: no cover
    pass


def fastapi_app() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    app = FastAPI()

    @app.get("/hello/{name}")
    async def hello(name: str) -> Any:
        from fastapi.responses import PlainTextResponse

        return PlainTextResponse(f"hello {name}")

    @app.post("/echo")
    async def echo(item: Item, q: str | None = None) -> dict[str, Any]:
        return {"got": item.model_dump(), "query": q}

    @app.get("/stream")
    def stream() -> StreamingResponse:  # a sync endpoint: runs in the thread pool
        def numbers() -> Any:
            for number in range(5):
                yield f"{number}\n"

        return StreamingResponse(numbers(), media_type="text/plain")

    return app


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
def test_framework_apps(http_parser: str, framework: str) -> None:
    app = starlette_app() if framework == "starlette" else fastapi_app()
    item = {"name": "pen", "price": 1.5}

    async def main() -> None:
        async with (
            serve(app, http_parser) as server,
            httpx.AsyncClient(base_url=server.url, timeout=WAIT) as client,
        ):
            response = await client.get("/hello/w%C3%B6rld")
            assert (response.status_code, response.text) == (200, "hello wörld")
            response = await client.post("/echo?q=x", json=item)
            assert response.status_code == 200
            assert response.json() == {"got": item, "query": "x"}
            assert response.headers["content-type"] == "application/json"
            response = await client.get("/stream")
            assert response.text == "0\n1\n2\n3\n4\n"
            assert response.headers["transfer-encoding"] == "chunked"
            assert (await client.get("/missing")).status_code == 404
            assert (await client.head("/hello/x")).content == b""

    run(main)


def test_starlette_stops_streaming_to_a_gone_client(http_parser: str) -> None:
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def main() -> None:
        stopped = asyncio.Event()

        async def forever() -> Any:
            try:
                while True:
                    yield b"tick\n"
                    await asyncio.sleep(0.01)
            finally:
                stopped.set()

        async def events(request: Any) -> StreamingResponse:
            return StreamingResponse(forever(), media_type="text/event-stream")

        app = Starlette(routes=[Route("/events", events)])
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request("GET", "/events"))
            assert (await read_response(reader, head_only=True)).status == 200
            await asyncio.wait_for(reader.readuntil(b"tick\n"), WAIT)
            writer.close()
            await asyncio.wait_for(stopped.wait(), WAIT)
            await asyncio.sleep(0.05)
            assert not server.state.tasks

    run(main)


# -- more connection behaviour ----------------------------------------------------------------


class SmallSendBuffer(HttpConnection):
    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        super().connection_made(transport)


def test_slow_reader_makes_send_wait(http_parser: str) -> None:
    """A client that does not read: the app's send() waits instead of filling memory."""
    chunk = b"x" * 65536
    total = 400  # 25 MiB if it were all buffered

    async def main() -> None:
        progress = [0]

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for _ in range(total):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                progress[0] += 1
            await send({"type": "http.response.body", "body": b""})

        async with serve(app, http_parser, connection_class=SmallSendBuffer) as server:
            # Small socket buffers, so that the kernels cannot absorb the whole response.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.connect(("127.0.0.1", server.port))
            reader, writer = await asyncio.open_connection(sock=sock)
            writer.write(request())
            await asyncio.sleep(0.5)  # not reading
            stalled_at = progress[0]
            await asyncio.sleep(0.3)
            assert progress[0] == stalled_at  # send() is waiting, not buffering
            assert stalled_at < 40, stalled_at  # 64 KiB socket buffers + the transport's
            response = await read_response(reader)  # now read it all
            assert len(response.body) == total * len(chunk)
            writer.close()

    run(main)


def test_websocket_upgrade_pipelined_after_a_request(http_parser: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept"})
            message = await receive()
            await send({"type": "websocket.send", "text": "echo " + message["text"]})
            await receive()
        else:
            await ok_app(scope, receive, send)

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            upgrade = request(
                "GET",
                "/ws",
                [
                    ("Connection", "Upgrade"),
                    ("Upgrade", "websocket"),
                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ("Sec-WebSocket-Version", "13"),
                ],
            )
            # A text frame "hi", masked, sent with the handshake (RFC 6455 §5.3).
            mask = b"\x01\x02\x03\x04"
            frame = b"\x81\x82" + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"hi"))
            writer.write(request() + upgrade + frame)
            assert (await read_response(reader)).body == b"ok"
            switching = await read_response(reader, head_only=True)
            assert switching.status == 101
            assert switching.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
            echoed = await asyncio.wait_for(reader.readexactly(9), WAIT)
            assert echoed == b"\x81\x07echo hi"
            writer.close()

    run(main)


def test_app_connection_close_header(http_parser: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await respond(send, b"bye", headers=[(b"connection", b"close"), (b"content-length", b"3")])

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request() + request())
            response = await read_response(reader)
            assert response.body == b"bye"
            assert [v for n, v in response.headers if n == "connection"] == ["close"]
            assert await closed_by_server(reader)

    run(main)


def test_http_10_keep_alive(http_parser: str) -> None:
    async def main() -> None:
        async with serve(ok_app, http_parser) as server:
            reader, writer = await connect(server.port)
            for _ in range(2):
                writer.write(request(headers=[("Connection", "keep-alive")], version="1.0"))
                response = await read_response(reader)
                assert response.header("connection") == "keep-alive"
                assert response.body == b"ok"
            writer.close()

    run(main)


def test_body_after_shutdown_is_not_mixed_in(http_parser: str) -> None:
    bodies: list[bytes] = []

    async def main() -> None:
        release = asyncio.Event()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            body = await read_body_after(release, receive)
            bodies.append(body)
            await respond(send, body)

        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request("POST", "/", [("Content-Length", "6")]) + b"first-")
            await asyncio.sleep(0.1)
            for connection in list(server.state.connections):
                connection.shutdown()
            # A whole second request after the shutdown: it must be dropped, body included.
            writer.write(request("POST", "/", body=b"second"))
            await asyncio.sleep(0.1)
            release.set()
            response = await read_response(reader)
            assert response.body == b"first-"
            assert await closed_by_server(reader)
        assert bodies == [b"first-"]

    run(main)


async def read_body_after(event: asyncio.Event, receive: Any) -> bytes:
    await event.wait()
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
