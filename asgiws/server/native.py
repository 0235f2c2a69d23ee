"""The native server: ``serve()``, ``unix_serve()`` and the server object, as in websockets 10.4.

Each TCP connection starts as an :class:`~asgiws.server.http.HttpConnection`. When a request
head arrives, one task per connection runs the whole session: the ``process_request`` hook, the
handshake checks, the 101 answer, then the user's handler on a :class:`WebSocketServerProtocol`,
and the closing handshake when the handler returns.
"""

from __future__ import annotations

import asyncio
import http
import logging
import socket
import sys
from collections.abc import Awaitable, Callable, Generator, Sequence
from types import TracebackType
from typing import Any

from ..datastructures import Headers, HeadersLike
from ..exceptions import InvalidHandshake, InvalidOrigin
from ..http import RequestHead
from ..log import default_logger
from ..protocol import handshake
from ..protocol.extensions.base import ServerExtensionFactory
from ..protocol.extensions.permessage_deflate import enable_server_permessage_deflate
from ..protocol.headers import parse_subprotocol_list
from ..version import __version__
from .connection import WebSocketCommonProtocol
from .hooks import call_process_request, call_select_subprotocol, handler_takes_path
from .http import HttpConnection
from .upgrade import (
    handshake_failure,
    run_process_request,
    switching_protocols,
    switching_protocols_head,
)

__all__ = ["WebSocketServer", "WebSocketServerProtocol", "serve", "unix_serve"]

USER_AGENT = f"Python/{sys.version_info.major}.{sys.version_info.minor} asgiws/{__version__}"


class WebSocketServerProtocol(WebSocketCommonProtocol):
    """A server-side connection; subclass it and pass ``create_protocol`` to customize hooks.

    :meth:`process_request` and :meth:`select_subprotocol` may be overridden, as in
    websockets 10.4; by default they call the functions given to :func:`serve`.
    """

    __slots__ = (
        "_process_request",
        "_select_subprotocol",
        "available_extensions",
        "available_subprotocols",
        "extra_headers",
        "origins",
        "server_header",
        "ws_handler",
        "ws_server",
    )

    is_client = False
    side = "server"

    def __init__(
        self,
        ws_handler: Callable[..., Awaitable[Any]] | None = None,
        ws_server: WebSocketServer | None = None,
        *,
        origins: Sequence[str | None] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        extra_headers: HeadersLike | Callable[[str, Headers], HeadersLike] | None = None,
        server_header: str | None = USER_AGENT,
        process_request: Callable[..., Any] | None = None,
        select_subprotocol: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ws_handler = ws_handler
        self.ws_server = ws_server
        self.origins = origins
        self.available_extensions = list(extensions or ())
        self.available_subprotocols = list(subprotocols or ())
        self.extra_headers = extra_headers
        self.server_header = server_header
        self._process_request = process_request
        self._select_subprotocol = select_subprotocol

    async def process_request(self, path: str, request_headers: Headers) -> Any:
        """Intercept the request before the handshake; return ``(status, headers, body)`` to
        answer with plain HTTP instead (health checks, authentication), or None to go on."""
        if self._process_request is None:
            return None
        return await call_process_request(self._process_request, self, path, request_headers)

    def select_subprotocol(
        self, client_subprotocols: Sequence[str], server_subprotocols: Sequence[str]
    ) -> str | None:
        """Pick a subprotocol; by default the first of the server's list the client offers."""
        if self._select_subprotocol is not None:
            return call_select_subprotocol(
                self._select_subprotocol, self, client_subprotocols, server_subprotocols
            )
        return handshake.select_subprotocol(client_subprotocols, server_subprotocols)

    def respond(self, status: http.HTTPStatus | int, text: str) -> handshake.Response:
        """Build a plain-text response for a ``process_request(connection, request)`` hook."""
        status = http.HTTPStatus(status)
        body = text.encode()
        headers = Headers(
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return handshake.Response(int(status), status.phrase, headers, body)


class _NativeService:
    """The HttpConnection service of a native server."""

    # The HttpConnection settings (see asgiws.server.http.Service): the defaults.
    max_head_size = None
    max_headers = None
    timeout_keep_alive = None
    timeout_request_head = None
    server_header = False
    date_header = False
    extra_headers = ()
    repeated_requests = None

    def __init__(self, server: WebSocketServer) -> None:
        self.server = server

    def connection_made(self, connection: HttpConnection) -> None:
        # Tracked from here, not from the protocol factory: a TLS handshake that fails never
        # reaches connection_made nor connection_lost, and would stay in the set forever.
        self.server._http_connections.add(connection)

    def request_received(self, connection: HttpConnection, head: RequestHead) -> None:
        server = self.server
        server._http_connections.add(connection)
        # One request per connection: stop parsing; the session task answers it.
        connection.hold()
        connection.loop.create_task(server._run_connection(connection, head))

    def connection_upgraded(self, connection: HttpConnection) -> None:
        # The WebSocket object takes over (server.websockets); nothing keeps the HTTP one.
        self.server._http_connections.discard(connection)

    def connection_closed(self, connection: HttpConnection) -> None:
        self.server._http_connections.discard(connection)


class WebSocketServer:
    """A running native server: ``close()``, ``wait_closed()``, ``sockets``.

    Use it as ``async with serve(...) as server`` (it closes on exit) or keep the object that
    ``await serve(...)`` returns.
    """

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[Any] | None = None) -> None:
        self.logger = logger if logger is not None else default_logger("server")
        self.server: asyncio.Server | None = None
        self.websockets: set[WebSocketServerProtocol] = set()
        self._http_connections: set[HttpConnection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._close_task: asyncio.Task[None] | None = None
        # Created in the running loop on first use: serve() may be called before a loop runs.
        self._closed: asyncio.Future[None] | None = None
        self.service = _NativeService(self)
        self.options: dict[str, Any] = {}
        self.create_protocol: Callable[..., WebSocketServerProtocol] = WebSocketServerProtocol
        self.ws_handler: Callable[..., Awaitable[Any]] | None = None
        self.http_kind = "auto"

    def wrap(self, server: asyncio.Server) -> None:
        self.server = server

    def _protocol_factory(self) -> HttpConnection:
        return HttpConnection(self.service, http=self.http_kind)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        if self.server is None:
            return ()
        return tuple(self.server.sockets)

    def is_serving(self) -> bool:
        return self.server is not None and self.server.is_serving()

    async def start_serving(self) -> None:
        assert self.server is not None
        await self.server.start_serving()

    async def serve_forever(self) -> None:
        assert self.server is not None
        await self.server.serve_forever()

    def close(self, close_connections: bool = True) -> None:
        """Stop listening and close every connection with 1001 (going away)."""
        if self._close_task is None:
            # The server's loop: close() may be called while that loop is not running, as in
            # `server.close(); loop.run_until_complete(server.wait_closed())`.
            loop = self.server.get_loop() if self.server is not None else asyncio.get_running_loop()
            self._close_task = loop.create_task(self._close(close_connections))

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every handler has returned."""
        await asyncio.shield(self._closed_future())

    def _closed_future(self) -> asyncio.Future[None]:
        if self._closed is None:
            loop = self.server.get_loop() if self.server is not None else asyncio.get_running_loop()
            self._closed = loop.create_future()
        return self._closed

    async def _close(self, close_connections: bool) -> None:
        self.logger.info("server closing")
        if self.server is not None:
            self.server.close()
        await asyncio.sleep(0)
        for connection in list(self._http_connections):
            if connection.transport is not None and not connection.upgraded:
                connection.transport.close()
        if close_connections:
            closes = [
                asyncio.ensure_future(ws.close(1001, "server shutting down"))
                for ws in list(self.websockets)
            ]
            if closes:
                await asyncio.wait(closes)
        if self._tasks:
            timeout = self.options.get("close_timeout") or 10
            _, pending = await asyncio.wait(list(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self.server is not None:
            await self.server.wait_closed()
        closed = self._closed_future()
        if not closed.done():
            closed.set_result(None)
        self.logger.info("server closed")

    async def __aenter__(self) -> WebSocketServer:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()
        await self.wait_closed()

    # The session of one connection: handshake, handler, close.

    async def _run_connection(self, connection: HttpConnection, head: RequestHead) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks = self._tasks
        tasks.add(task)
        try:
            try:
                websocket = await self._handshake(connection, head)
            finally:
                self._http_connections.discard(connection)
            # The handler may run for hours: keep the WebSocket, not the HTTP objects.
            del connection, head
            if websocket is None:
                return
            websockets = self.websockets
            websockets.add(websocket)
            handler = websocket.ws_handler
            assert handler is not None
            try:
                # The handler runs in this frame (no coroutine in between: each one an idle
                # connection keeps costs memory).
                try:
                    if handler_takes_path(handler):
                        await handler(websocket, websocket.path)
                    else:
                        await handler(websocket)
                except Exception:
                    websocket.logger.error("connection handler failed", exc_info=True)
                    await websocket.close(1011)
                except asyncio.CancelledError:
                    websocket._abort()
                    raise
                else:
                    await websocket.close()
            finally:
                websockets.discard(websocket)
                if websocket.logger.isEnabledFor(logging.INFO):
                    websocket.logger.info("connection closed")
        finally:
            tasks.discard(task)

    async def _handshake(
        self, connection: HttpConnection, head: RequestHead
    ) -> WebSocketServerProtocol | None:
        websocket = self.create_protocol(self.ws_handler, self, **self.options)
        websocket.path = path = head.raw_target.decode("latin-1")
        # Headers are built when someone reads them (a hook, the handler); the checks of the
        # common request read the parser's byte pairs directly.
        websocket._raw_request_headers = head.headers
        websocket.transport = connection.transport
        if websocket._process_request is not None or (
            type(websocket).process_request is not WebSocketServerProtocol.process_request
        ):
            answer = await run_process_request(
                lambda: websocket.process_request(path, websocket.request_headers), self.logger
            )
            if answer is not None:
                self._reply(connection, *answer)
                return None
        try:
            scanned = handshake.scan_request(head.headers)
            if scanned is None:
                request_headers = websocket.request_headers
                key = handshake.check_request(request_headers)
                handshake.check_origin(request_headers, websocket.origins)
                offered = handshake.client_subprotocols(request_headers)
                extension_headers = request_headers.get_all("Sec-WebSocket-Extensions")
            else:
                key = scanned.key
                origins = websocket.origins
                if origins is not None and scanned.origin not in origins:
                    raise InvalidOrigin(scanned.origin)
                offered = [
                    protocol
                    for header in scanned.subprotocol_headers
                    for protocol in parse_subprotocol_list(header)
                ]
                extension_headers = scanned.extension_headers
            subprotocol = (
                websocket.select_subprotocol(offered, websocket.available_subprotocols)
                if offered
                else None
            )
            extensions_header, extensions = handshake.negotiate_extension_headers(
                extension_headers, websocket.available_extensions
            )
        except InvalidHandshake as exc:
            self.logger.info("opening handshake failed: %s", exc)
            self._reply(connection, *handshake_failure(exc))
            return None
        extra = websocket.extra_headers
        if extra is None:
            response = switching_protocols_head(
                key, subprotocol, extensions_header, websocket.server_header
            )
            websocket._response_parts = (
                key,
                subprotocol,
                extensions_header,
                websocket.server_header,
                (),
            )
        else:
            response_headers = handshake.build_response_headers(
                key,
                subprotocol=subprotocol,
                extensions=extensions_header,
                server_header=websocket.server_header,
            )
            if callable(extra):
                extra = extra(path, websocket.request_headers)
            if extra is not None:
                for name, value in (
                    extra.raw_items()
                    if isinstance(extra, Headers)
                    else extra.items()
                    if hasattr(extra, "items")
                    else extra
                ):
                    response_headers[name] = value
            websocket.response_headers = response_headers
            response = switching_protocols(response_headers)
        websocket.subprotocol = subprotocol
        if connection.closed:
            return None
        connection.upgrade(websocket, response, extensions)
        logger = self.logger
        if logger.isEnabledFor(logging.INFO):
            logger.info("connection open: %s %s", connection.peername, path)
        return websocket

    def _reply(
        self, connection: HttpConnection, status: Any, headers: HeadersLike, body: bytes | str
    ) -> None:
        if isinstance(body, str):
            body = body.encode()
        if headers is None:
            headers = Headers()
        elif not isinstance(headers, Headers):
            headers = Headers(headers)
        raw = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in headers.raw_items()
            if k.lower() not in ("content-length", "connection")
        ]
        if "Content-Type" not in headers:
            raw.append((b"content-type", b"text/plain; charset=utf-8"))
        if "Server" not in headers and self.options.get("server_header", USER_AGENT):
            raw.append((b"server", self.options.get("server_header", USER_AGENT).encode()))
        connection.respond(int(status), raw, body, close=True)


class Serve:
    """What :func:`serve` returns: ``await`` it, or use it as ``async with``."""

    def __init__(
        self,
        ws_handler: Callable[..., Awaitable[Any]],
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        create_protocol: Callable[..., WebSocketServerProtocol] | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        compression: str | None = "deflate",
        origins: Sequence[str | None] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        extra_headers: Any = None,
        server_header: str | None = USER_AGENT,
        process_request: Callable[..., Any] | None = None,
        select_subprotocol: Callable[..., Any] | None = None,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = None,
        max_size: int | None = 2**20,
        max_queue: int | None = 2**5,
        read_limit: int = 2**16,
        write_limit: int = 2**16,
        unix: bool = False,
        http: str = "auto",
        **kwargs: Any,
    ) -> None:
        if logger is None:
            logger = default_logger("server")
        if compression == "deflate":
            extensions = enable_server_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        self._server = WebSocketServer(logger)
        self._server.ws_handler = ws_handler
        self._server.create_protocol = create_protocol or WebSocketServerProtocol
        self._server.http_kind = http
        self._server.options = dict(
            logger=logger,
            origins=origins,
            extensions=extensions,
            subprotocols=subprotocols,
            extra_headers=extra_headers,
            server_header=server_header,
            process_request=process_request,
            select_subprotocol=select_subprotocol,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_size=max_size,
            max_queue=max_queue,
            read_limit=read_limit,
            write_limit=write_limit,
        )
        kwargs.pop("loop", None)
        kwargs.pop("legacy_recv", None)
        kwargs.pop("timeout", None)
        # The listening socket is created when awaited, in the running loop, as websockets does:
        # `start_server = serve(...)` before the loop runs, then `run_until_complete(start_server)`.
        self._unix = unix
        self._host = host
        self._port = port
        self._kwargs = kwargs

    async def _start(self) -> WebSocketServer:
        loop = asyncio.get_running_loop()
        factory = self._server._protocol_factory
        if self._unix:
            server = await loop.create_unix_server(factory, **self._kwargs)
        else:
            server = await loop.create_server(factory, self._host, self._port, **self._kwargs)
        self._server.wrap(server)
        for sock in server.sockets:
            self._server.logger.info("server listening on %s", _format_address(sock))
        return self._server

    def __await__(self) -> Generator[Any, None, WebSocketServer]:
        return self._start().__await__()

    async def __aenter__(self) -> WebSocketServer:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.close()
        await self._server.wait_closed()


def _format_address(sock: socket.socket) -> str:
    name = sock.getsockname()
    if sock.family == socket.AF_INET6:
        return f"[{name[0]}]:{name[1]}"
    if sock.family == socket.AF_INET:
        return f"{name[0]}:{name[1]}"
    return str(name)


serve = Serve
"""Start a WebSocket server: ``async with serve(handler, host, port) as server: ...``."""


def unix_serve(
    ws_handler: Callable[..., Awaitable[Any]], path: str | None = None, **kwargs: Any
) -> Serve:
    """Like :func:`serve`, on a Unix socket at ``path``."""
    return Serve(ws_handler, path=path, unix=True, **kwargs)
