"""The ASGI HTTP path over real loopback sockets, with both HTTP parsers.

Scopes, keep-alive, pipelining, request bodies and their flow control, streaming responses,
HEAD, 100-continue, disconnects, limits, timeouts and application errors. Health routes,
access logs, limits on concurrency and framework apps are in ``test_asgi_http_apps.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from helpers_http import (
    WAIT,
    closed_by_server,
    connect,
    echo_app,
    ok_app,
    read_body,
    read_response,
    request,
    respond,
    run,
    serve,
)

from asgiws.server.http import HttpConnection


def test_scope(http_parser: str) -> None:
    scopes: list[dict[str, Any]] = []
    lifespan_state = {"db": "connection", "counter": [0]}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)
        scope["state"]["added"] = True  # must not leak into the lifespan state
        await ok_app(scope, receive, send)

    async def main() -> None:
        from helpers_http import make_state

        state = make_state(lifespan_state=lifespan_state)
        async with serve(app, http_parser, state=state) as server:
            reader, writer = await connect(server.port)
            writer.write(
                request(
                    "GET",
                    "/caf%C3%A9/a%2Fb?q=1&r=%20",
                    [("X-Dup", "one"), ("Accept", "*/*"), ("x-dup", "two")],
                )
            )
            assert (await read_response(reader)).status == 200
            local = writer.get_extra_info("sockname")
            writer.close()
        (scope,) = scopes
        assert set(scope) == {
            "type", "asgi", "http_version", "method", "scheme", "path", "raw_path",
            "query_string", "root_path", "headers", "client", "server", "state", "extensions",
        }  # fmt: skip
        assert scope["type"] == "http"
        assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
        assert scope["http_version"] == "1.1"
        assert scope["method"] == "GET"
        assert scope["scheme"] == "http"
        assert scope["path"] == "/café/a/b"
        assert scope["raw_path"] == b"/caf%C3%A9/a%2Fb"
        assert scope["query_string"] == b"q=1&r=%20"
        assert scope["root_path"] == ""
        assert scope["headers"] == [
            (b"host", b"127.0.0.1"),
            (b"x-dup", b"one"),
            (b"accept", b"*/*"),
            (b"x-dup", b"two"),
        ]
        assert scope["client"] == (local[0], local[1])
        assert scope["server"] == ("127.0.0.1", server.port)
        assert scope["state"] == {**lifespan_state, "added": True}
        assert lifespan_state == {"db": "connection", "counter": [0]}  # a shallow copy
        assert scope["state"]["counter"] is lifespan_state["counter"]
        assert scope["extensions"] == {}

    run(main)


def test_scope_root_path_and_http_10(http_parser: str) -> None:
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)
        await ok_app(scope, receive, send)

    async def main() -> None:
        async with serve(app, http_parser, root_path="/api") as server:
            reader, writer = await connect(server.port)
            writer.write(request("POST", "/items", body=b"x", version="1.0"))
            response = await read_response(reader)
            assert response.status == 200
            assert response.header("connection") == "close"
            assert await closed_by_server(reader)
        (scope,) = scopes
        assert scope["path"] == "/api/items"
        assert scope["raw_path"] == b"/api/items"
        assert scope["root_path"] == "/api"
        assert scope["http_version"] == "1.0"
        assert scope["method"] == "POST"

    run(main)


def test_https_scheme(http_parser: str, server_ssl_context: Any, client_ssl_context: Any) -> None:
    schemes: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        schemes.append(scope["scheme"])
        await ok_app(scope, receive, send)

    async def main() -> None:
        async with (
            serve(app, http_parser, ssl_context=server_ssl_context) as server,
            httpx.AsyncClient(verify=client_ssl_context) as client,
        ):
            response = await client.get(f"https://127.0.0.1:{server.port}/")
            assert response.text == "ok"
        assert schemes == ["https"]

    run(main)


def test_keep_alive_reuses_the_connection(http_parser: str) -> None:
    clients: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        clients.append(scope["client"])
        await echo_app(scope, receive, send)

    async def main() -> None:
        async with serve(app, http_parser) as server:
            limits = httpx.Limits(max_connections=1)
            async with httpx.AsyncClient(base_url=server.url, limits=limits) as client:
                for index in range(5):
                    response = await client.post("/", content=b"body %d" % index)
                    assert response.content == b"body %d" % index
                    assert "connection" not in response.headers
        assert len(set(clients)) == 1 and len(clients) == 5
        assert len(server.connections) == 1

    run(main)


def test_a_task_factory_runs_the_app(http_parser: str) -> None:
    made: list[Any] = []

    def factory(loop: asyncio.AbstractEventLoop, coroutine: Any, **kwargs: Any) -> Any:
        made.append(coroutine)
        return asyncio.Task(coroutine, loop=loop, **kwargs)

    async def main() -> None:
        asyncio.get_running_loop().set_task_factory(factory)
        async with serve(ok_app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request())
            assert (await read_response(reader)).status == 200
        assert [coroutine.__qualname__ for coroutine in made].count("HttpCycle.run") == 1

    run(main)


def test_pipelined_requests_are_answered_in_order(http_parser: str) -> None:
    running = 0
    most = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        body = await read_body(receive)
        # The first request is the slowest: a server running them concurrently would
        # answer out of order.
        await asyncio.sleep({"/1": 0.2, "/2": 0.05}.get(scope["path"], 0))
        running -= 1
        await respond(send, scope["path"].encode() + b":" + body)

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(
                request("POST", "/1", body=b"a")
                + request("GET", "/2")
                + request("GET", "/healthz")
                + request("POST", "/3", body=b"ccc")
            )
            bodies = [(await read_response(reader)).body for _ in range(4)]
            assert bodies == [b"/1:a", b"/2:", b"OK\n", b"/3:ccc"]
            writer.close()
        assert most == 1

    run(main)


def test_pipelined_garbage_after_a_request(http_parser: str) -> None:
    async def main() -> None:
        async with serve(echo_app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request("POST", "/", body=b"first") + b"NOT HTTP AT ALL\r\n\r\n")
            assert (await read_response(reader)).body == b"first"
            error = await read_response(reader)
            assert error.status == 400
            assert error.header("connection") == "close"
            assert await closed_by_server(reader)

    run(main)


def test_chunked_request_body(http_parser: str) -> None:
    async def main() -> None:
        async with serve(echo_app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request("POST", "/", [("Transfer-Encoding", "chunked")]))
            for piece in (b"5\r\nhello\r\n", b"1;ext=1\r\n \r\n", b"5\r\nworld\r\n", b"0\r\n\r\n"):
                writer.write(piece)
                await asyncio.sleep(0.01)
            response = await read_response(reader)
            assert response.body == b"hello world"

            async def chunks() -> Any:
                yield b"from "
                yield b"httpx"

            async with httpx.AsyncClient(base_url=server.url) as client:
                assert (await client.post("/", content=chunks())).content == b"from httpx"

    run(main)


class CountingConnection(HttpConnection):
    """Records how often reading paused and the most body the server held unread."""

    pauses = 0
    most_buffered = 0

    def update_reading(self) -> None:
        was_paused = self.reading_paused
        exchange = self.parsing
        if exchange is not None:
            type(self).most_buffered = max(type(self).most_buffered, exchange.body_buffered)
        super().update_reading()
        if self.reading_paused and not was_paused:
            type(self).pauses += 1


def test_large_upload_to_a_slow_app_is_not_buffered(http_parser: str) -> None:
    size = 8 * 1024 * 1024
    received: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            await asyncio.sleep(0.002)  # a slow consumer
            message = await receive()
            received.append(len(message["body"]))
            if not message["more_body"]:
                break
        await respond(send, b"%d" % sum(received))

    async def main() -> None:
        async with serve(app, http_parser, connection_class=CountingConnection) as server:
            client = httpx.AsyncClient(base_url=server.url, timeout=WAIT * 4)
            async with client:
                response = await client.post("/", content=b"x" * size)
                assert response.content == b"%d" % size

    run(main)
    assert CountingConnection.pauses > 0
    # Reading pauses above 64 KiB; one read of the socket (at most 256 KiB) may land on top.
    assert CountingConnection.most_buffered < 64 * 1024 + 256 * 1024 + 1
    assert max(received) < 64 * 1024 + 256 * 1024 + 1


def test_streaming_response_uses_chunked_encoding(http_parser: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for index in range(3):
            await send(
                {"type": "http.response.body", "body": b"part%d;" % index, "more_body": True}
            )
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            for _ in range(2):  # the connection stays usable after a chunked response
                writer.write(request())
                response = await read_response(reader)
                assert response.header("transfer-encoding") == "chunked"
                assert response.header("content-length") is None
                assert response.body == b"part0;part1;part2;"
            writer.close()

    run(main)


def test_streaming_response_reaches_the_client_before_it_ends(http_parser: str) -> None:
    outcome: list[Any] = []

    async def main() -> None:
        done = asyncio.Event()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            outcome.append(await receive())  # the (empty) request body
            outcome.append(await receive())  # waits until the client goes away
            try:
                await send({"type": "http.response.body", "body": b"more", "more_body": True})
            except OSError as exc:
                outcome.append(exc)
            done.set()

        async with serve(app, http_parser) as server:
            async with (
                httpx.AsyncClient(base_url=server.url) as client,
                client.stream("GET", "/") as response,
            ):
                chunk = await asyncio.wait_for(response.aiter_raw().__anext__(), WAIT)
                assert chunk == b"first"
            await asyncio.wait_for(done.wait(), WAIT)

    run(main)
    assert outcome[0] == {"type": "http.request", "body": b"", "more_body": False}
    assert outcome[1] == {"type": "http.disconnect"}
    assert isinstance(outcome[2], OSError)


def test_single_body_without_length_gets_content_length(http_parser: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await respond(send, b"hello", headers=[(b"content-type", b"text/plain")])

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request())
            response = await read_response(reader)
            assert response.header("content-length") == "5"
            assert response.header("transfer-encoding") is None
            assert response.body == b"hello"
            writer.close()

    run(main)


def test_head_request_sends_no_body(http_parser: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await respond(send, b"hello")

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request("HEAD") + request("GET"))
            head = await read_response(reader, head_only=True)
            assert head.status == 200
            assert head.header("content-length") == "5"
            get = await read_response(reader)  # would be garbled by a HEAD body
            assert get.body == b"hello"
            writer.close()

    run(main)


def test_expect_100_continue(http_parser: str) -> None:
    async def main() -> None:
        ready = asyncio.Event()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await ready.wait()
            await echo_app(scope, receive, send)

        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(
                request("POST", "/", [("Expect", "100-continue"), ("Content-Length", "4")])
            )
            # No 100 Continue until the application asks for the body.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.2)
            ready.set()
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"body")
            response = await read_response(reader)
            assert response.status == 200 and response.body == b"body"
            writer.close()

    run(main)


def test_expect_100_continue_refused_closes(http_parser: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await respond(send, b"too large", status=413)

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(
                request("POST", "/", [("Expect", "100-continue"), ("Content-Length", "9")])
            )
            response = await read_response(reader)
            assert response.status == 413
            assert b"100 Continue" not in response.raw_head
            assert response.header("connection") == "close"
            assert await closed_by_server(reader)

    run(main)


def test_disconnect_event_and_send_after_disconnect(http_parser: str) -> None:
    events: list[Any] = []

    async def main() -> None:
        done = asyncio.Event()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            events.append(await receive())
            events.append(await receive())  # waits until the client is gone
            try:
                await send({"type": "http.response.start", "status": 200, "headers": []})
            except OSError as exc:
                events.append(exc)
            done.set()

        async with serve(app, http_parser) as server:
            _, writer = await connect(server.port)
            writer.write(request("GET"))
            await asyncio.sleep(0.1)
            writer.close()
            await asyncio.wait_for(done.wait(), WAIT)

    run(main)
    assert events[0] == {"type": "http.request", "body": b"", "more_body": False}
    assert events[1] == {"type": "http.disconnect"}
    assert isinstance(events[2], OSError)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 150 + b"\r\n", 431),
    ],
    ids=["garbage", "no-host", "bad-length", "huge-head", "too-many-headers"],
)
def test_bad_requests(http_parser: str, data: bytes, status: int) -> None:
    async def main() -> None:
        async with serve(ok_app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(data)
            response = await read_response(reader)
            assert response.status == status
            assert response.header("connection") == "close"
            assert await closed_by_server(reader)

    run(main)


def test_idle_keep_alive_timeout(http_parser: str) -> None:
    async def main() -> None:
        async with serve(ok_app, http_parser, timeout_keep_alive=0.3) as server:
            reader, writer = await connect(server.port)
            writer.write(request())
            assert (await read_response(reader)).status == 200
            started = asyncio.get_running_loop().time()
            assert await closed_by_server(reader)
            assert asyncio.get_running_loop().time() - started >= 0.2

    run(main)


def test_request_head_timeout(http_parser: str) -> None:
    async def main() -> None:
        async with serve(ok_app, http_parser, timeout_request_head=0.5) as server:
            # A client that sends nothing at all.
            reader, _ = await connect(server.port)
            assert await closed_by_server(reader, timeout=3)
            # A slowloris client: a byte at a time, never finishing its head.
            reader, writer = await connect(server.port)
            closed = asyncio.ensure_future(closed_by_server(reader, timeout=3))
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                if closed.done():
                    break
                writer.write(bytes([byte]))
                await asyncio.sleep(0.02)
            assert await closed
            # After a request on a keep-alive connection, the next head has the same limit.
            reader, writer = await connect(server.port)
            writer.write(request())
            assert (await read_response(reader)).status == 200
            closed = asyncio.ensure_future(closed_by_server(reader, timeout=3))
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                if closed.done():
                    break
                writer.write(bytes([byte]))
                await asyncio.sleep(0.02)
            assert await closed

    run(main)


def test_partial_pipelined_head_is_bounded_by_the_idle_timeout(http_parser: str) -> None:
    async def main() -> None:
        async with serve(ok_app, http_parser, timeout_keep_alive=0.3) as server:
            reader, writer = await connect(server.port)
            writer.write(request() + b"GET / HTTP/1.1\r\n")
            assert (await read_response(reader)).status == 200
            assert await closed_by_server(reader, timeout=3)

    run(main)


def test_app_exception_before_response_is_500(http_parser: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request())
            response = await read_response(reader)
            assert response.status == 500
            assert response.body == b"Internal Server Error"
            assert response.header("connection") == "close"
            assert await closed_by_server(reader)

    run(main)


@pytest.mark.parametrize("after", ["start", "body"])
def test_app_exception_after_response_start_closes(http_parser: str, after: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if after == "body":
            await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        await asyncio.sleep(0.05)
        raise RuntimeError("boom")

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request())
            data = await asyncio.wait_for(reader.read(), WAIT)  # until the server closes
            assert b"500" not in data
            if after == "body":
                assert data.startswith(b"HTTP/1.1 200 OK\r\n")
                assert data.endswith(b"7\r\npartial\r\n")  # no last chunk: cut short

    run(main)


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"type": "http.response.body", "body": b"no start"}],
        [{"type": "http.response.start", "status": 99}],
        [{"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\r\nInjected: 1")]}],
        [{"type": "http.response.start", "status": 200, "headers": [(b"bad name", b"v")]}],
    ],
    ids=["no-response", "body-first", "bad-status", "header-injection", "bad-header-name"],
)
def test_invalid_responses_are_500(http_parser: str, messages: list[dict[str, Any]]) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for message in messages:
            await send(message)

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request())
            response = await read_response(reader)
            assert response.status == 500
            assert b"Injected" not in response.raw_head
            assert await closed_by_server(reader)

    run(main)


@pytest.mark.parametrize("length", [b"3", b"10"])
def test_body_not_matching_content_length_closes(http_parser: str, length: bytes) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await respond(send, b"hello", headers=[(b"content-length", length)])

    async def main() -> None:
        async with serve(app, http_parser) as server:
            reader, writer = await connect(server.port)
            writer.write(request() + request())
            data = await asyncio.wait_for(reader.read(), WAIT)
            assert data.count(b"HTTP/1.1") <= 1  # the second request is never answered

    run(main)
