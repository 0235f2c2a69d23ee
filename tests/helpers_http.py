"""An in-process ASGI HTTP server on 127.0.0.1 and a raw HTTP/1.1 client for its tests.

The server is the real stack below the runner: ``loop.create_server`` with an
:class:`~asgiws.server.http.HttpConnection` per connection serving an
:class:`~asgiws.asgi.service.ASGIService`. Settings and server state are plain namespaces, so
the tests do not depend on the CLI, Config or Server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from asgiws.asgi.service import ASGIService
from asgiws.server.http import HttpConnection

HOST = "127.0.0.1"
WAIT = 5.0  # the longest any single step may take


def run(main: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    """Run ``main()`` in a fresh event loop, bounded by ``timeout`` seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def make_config(**overrides: Any) -> SimpleNamespace:
    settings: dict[str, Any] = dict(
        root_path="",
        access_log=True,
        server_header=True,
        date_header=True,
        timeout_keep_alive=5,
        timeout_request_head=10,
        health_path="/healthz",
        ready_path="/readyz",
        limit_concurrency=None,
        proxy_headers=False,
    )
    settings.update(overrides)
    return SimpleNamespace(**settings)


def make_state(**overrides: Any) -> SimpleNamespace:
    fields: dict[str, Any] = dict(
        connections=set(),
        tasks=set(),
        total_requests=0,
        ready=True,
        shutting_down=False,
        lifespan_state={},
    )
    fields.update(overrides)
    return SimpleNamespace(**fields)


@dataclass
class Running:
    port: int
    config: SimpleNamespace
    state: SimpleNamespace
    connections: list[HttpConnection] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@contextlib.asynccontextmanager
async def serve(
    app: Any,
    http: str,
    *,
    state: SimpleNamespace | None = None,
    ssl_context: ssl.SSLContext | None = None,
    connection_class: type[HttpConnection] = HttpConnection,
    **settings: Any,
) -> AsyncIterator[Running]:
    """Serve ``app`` on a free port of 127.0.0.1 with the ``http`` parser."""
    config = make_config(**settings)
    state = state if state is not None else make_state()
    service = ASGIService(config, state, app)
    running = Running(0, config, state)

    def factory() -> HttpConnection:
        connection = connection_class(service, http=http)
        running.connections.append(connection)
        return connection

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, HOST, 0, ssl=ssl_context)
    running.port = server.sockets[0].getsockname()[1]
    try:
        yield running
    finally:
        server.close()
        for connection in running.connections:
            if connection.transport is not None:
                connection.transport.close()
        for task in list(state.tasks):
            task.cancel()
        if state.tasks:
            await asyncio.wait(list(state.tasks), timeout=WAIT)
        await asyncio.sleep(0)


# -- a raw HTTP/1.1 client ------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n == name.lower()]
        return ",".join(values) if values else None


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(HOST, port), WAIT)


async def read_response(reader: asyncio.StreamReader, *, head_only: bool = False) -> Response:
    """Read one response: its head, then the body by Content-Length, chunks, or until EOF."""
    raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    status_line, *lines = raw_head[:-4].decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = [
        (name.strip().lower(), value.strip())
        for name, value in (line.split(":", 1) for line in lines)
    ]
    response = Response(status, headers, b"", raw_head)
    if head_only or status < 200 or status in (204, 304):
        return response
    length = response.header("content-length")
    if length is not None:
        response.body = await asyncio.wait_for(reader.readexactly(int(length)), WAIT)
    elif response.header("transfer-encoding") == "chunked":
        body = bytearray()
        while True:
            size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), WAIT)
            size = int(size_line.strip(), 16)
            chunk = await asyncio.wait_for(reader.readexactly(size + 2), WAIT)
            assert chunk.endswith(b"\r\n")
            if size == 0:
                break
            body += chunk[:-2]
        response.body = bytes(body)
    else:
        response.body = await asyncio.wait_for(reader.read(), WAIT)
    return response


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = WAIT) -> bool:
    """True when the server closes the connection within ``timeout`` (reading any leftover)."""
    try:
        while await asyncio.wait_for(reader.read(65536), timeout):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except asyncio.TimeoutError:
        return False
    return True


def request(
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    version: str = "1.1",
) -> bytes:
    """A request's bytes, with Host and (for a body) Content-Length added."""
    lines = [f"{method} {target} HTTP/{version}", "Host: 127.0.0.1"]
    names = {name.lower() for name, _ in headers or ()}
    for name, value in headers or ():
        lines.append(f"{name}: {value}")
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- small apps ---------------------------------------------------------------------------


async def read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
    body = b""
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def respond(
    send: Callable[[dict[str, Any]], Awaitable[None]],
    body: bytes = b"ok",
    status: int = 200,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    if headers is None:
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await read_body(receive)
    await respond(send)


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await respond(send, await read_body(receive))
