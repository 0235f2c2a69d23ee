"""The per-TCP-connection HTTP/1.1 protocol, one class for both parsers.

:class:`HttpConnection` feeds bytes to the parser adapter (:mod:`asgiws.http`) and hands each
request head to its *service*: the native ``serve()`` service answers with a WebSocket upgrade
or plain HTTP, the ASGI service with the application. A WebSocket upgrade swaps the transport's
protocol for the WebSocket connection object with :meth:`HttpConnection.upgrade`; bytes that
arrived after the request head are passed along, not lost.

Each request becomes an :class:`~asgiws.server.exchange.HttpExchange`. The connection keeps
them in order: the parser may read ahead (pipelined requests wait in :attr:`pipeline`, with
their bodies, while reading pauses), but the service sees one request at a time, the next one
once the previous response is complete. It also owns the timers: a client gets
``timeout_request_head`` seconds to send a complete head (slowloris) and an idle keep-alive
connection is closed after ``timeout_keep_alive`` seconds.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from ..http import HttpParseError, RequestHead
from ..http.parser import parser_class
from ..http.response import serialize_response
from .connection import WebSocketCommonProtocol
from .exchange import BODY_HIGH_WATER, HttpExchange, date_line

__all__ = ["HttpConnection", "Service"]

logger = logging.getLogger("asgiws.server")

_HEAD_TIMER, _IDLE_TIMER = 1, 2
_UNKNOWN: Any = object()
# Requests answered from their bytes alone are small (health probes), and so are the tables.
_KNOWN_MAX = 1024
_KNOWN_LIMIT = 64


class Service(Protocol):
    """What an :class:`HttpConnection` serves.

    Optional: ``connection_made(connection)`` and ``connection_upgraded(connection)`` methods,
    and the attributes ``timeout_keep_alive``, ``timeout_request_head`` (seconds or None),
    ``max_head_size``, ``max_headers``, ``server_header`` and ``date_header`` (bools) and
    ``extra_headers`` (byte pairs added to every response), read once per connection.
    """

    def request_received(self, connection: HttpConnection, head: RequestHead) -> None:
        """It is this request's turn: answer :attr:`HttpConnection.current`.

        Called once per request, in order, after the previous response is complete. For a
        WebSocket upgrade, parsing has stopped.
        """

    def connection_closed(self, connection: HttpConnection) -> None:
        """The TCP connection closed before it was upgraded."""


class HttpConnection(asyncio.Protocol):
    """One TCP connection while it speaks HTTP/1.1."""

    # Slots: an idle keep-alive connection (and the one an ASGI WebSocket session keeps) stays
    # small.
    __slots__ = (
        "__weakref__",
        "_advancing",
        "_client",
        "_deadline",
        "_deadline_kind",
        "_drain_waiter",
        "_error",
        "_feed_heads",
        "_known",
        "_reading_paused",
        "_server",
        "_timer",
        "_timer_when",
        "answered_known",
        "closed",
        "closing",
        "current",
        "date_header",
        "extra_header_lines",
        "extra_headers",
        "held",
        "loop",
        "max_head_size",
        "max_headers",
        "parser",
        "parser_kind",
        "parsing",
        "pipeline",
        "scheme",
        "server_header",
        "service",
        "task",
        "timeout_keep_alive",
        "timeout_request_head",
        "transport",
        "upgraded",
        "writable",
        "write_paused",
    )

    def __init__(
        self,
        service: Service,
        *,
        http: str = "auto",
        max_head_size: int | None = None,
        max_headers: int | None = None,
    ) -> None:
        self.service = service
        self.parser_kind = http
        self.max_head_size = max_head_size or getattr(service, "max_head_size", None) or 65536
        self.max_headers = max_headers or getattr(service, "max_headers", None) or 100
        self.timeout_keep_alive: float | None = getattr(service, "timeout_keep_alive", None)
        self.timeout_request_head: float | None = getattr(service, "timeout_request_head", None)
        self.server_header: bool = getattr(service, "server_header", False)
        self.date_header: bool = getattr(service, "date_header", False)
        extra_headers = getattr(service, "extra_headers", None)
        if extra_headers:
            self.extra_headers: Sequence[tuple[bytes, bytes]] = list(extra_headers)
            self.extra_header_lines: Sequence[bytes] = [
                name + b": " + value for name, value in extra_headers
            ]
        else:
            self.extra_headers = self.extra_header_lines = ()
        # Requests the service can answer again from their bytes alone (health probes):
        # an object with ``known`` (bytes -> key) and ``answer_known(connection, *key)``.
        self._known: Any = getattr(service, "repeated_requests", None)
        #: Set by such a service when it answered the request being parsed: the key to
        #: remember its bytes under, if they held exactly that request.
        self.answered_known: Any = None
        self._feed_heads = 0
        self.transport: asyncio.Transport | None = None
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.parser: Any = None
        # The peer's and our address, read from the transport when first needed.
        self._client: Any = _UNKNOWN
        self._server: Any = _UNKNOWN
        self.scheme = "http"
        #: The transport is gone (``connection_lost``).
        self.closed = False
        #: Responses may still be written (false once closing the transport, or upgraded).
        self.writable = False
        #: The connection closes after the response in progress (:meth:`shutdown`, errors).
        self.closing = False
        self.upgraded = False
        # After a head the service must answer before more is parsed (an upgrade, or the
        # native server's single request), later bytes wait here and reading pauses.
        self.held: bytearray | None = None
        self.task: asyncio.Task[Any] | None = None
        #: The request being answered; None between requests.
        self.current: HttpExchange | None = None
        #: Requests parsed ahead, waiting for their turn (a deque once one had to wait).
        self.pipeline: collections.deque[HttpExchange] | tuple[()] = ()
        #: The request the parser is reading (its body events go there).
        self.parsing: HttpExchange | None = None
        self.write_paused = False
        self._reading_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._advancing = False
        self._error: HttpParseError | None = None  # answered once the response in progress ends
        self._deadline: float | None = None
        self._deadline_kind = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.writable = True
        self.loop = asyncio.get_running_loop()
        self.parser = parser_class(self.parser_kind)(
            self, max_head_size=self.max_head_size, max_headers=self.max_headers
        )
        if transport.get_extra_info("ssl_object") is not None:
            self.scheme = "https"
        if self.timeout_request_head is not None:
            self._set_deadline(_HEAD_TIMER, self.timeout_request_head)
        connection_made = getattr(self.service, "connection_made", None)
        if connection_made is not None:
            connection_made(self)

    @property
    def client(self) -> tuple[str, int] | None:
        """The peer's (host, port), or None (a Unix socket)."""
        client = self._client
        if client is _UNKNOWN:
            peer = None if self.transport is None else self.transport.get_extra_info("peername")
            if isinstance(peer, (tuple, list)) and len(peer) >= 2:
                client = (str(peer[0]), int(peer[1]))
            else:
                client = None
            self._client = client
        return client  # type: ignore[no-any-return]

    @client.setter
    def client(self, value: tuple[str, int] | None) -> None:
        self._client = value

    @property
    def server(self) -> tuple[str, int | None] | None:
        """Our (host, port), or (path, None) on a Unix socket."""
        server = self._server
        if server is _UNKNOWN:
            name = None if self.transport is None else self.transport.get_extra_info("sockname")
            if isinstance(name, (tuple, list)) and len(name) >= 2:
                server = (str(name[0]), int(name[1]))
            elif isinstance(name, str) and name:
                server = (name, None)
            else:
                server = None
            self._server = server
        return server  # type: ignore[no-any-return]

    @server.setter
    def server(self, value: tuple[str, int | None] | None) -> None:
        self._server = value

    def data_received(self, data: bytes) -> None:
        if self.held is not None:
            self.held += data
            return
        known = self._known
        idle = False
        if known is not None:
            # Idle: between requests, none in progress (requests wait in the pipeline only
            # behind one in progress, or when closing).
            idle = self.current is None and self.parser.at_message_start
            if idle and known.known and len(data) <= _KNOWN_MAX and not self.closing:
                key = known.known.get(data)
                if key is not None:
                    known.answer_known(self, *key)  # the bytes of a request answered before
                    return
            self.answered_known = None
            self._feed_heads = 0
        try:
            trailing = self.parser.feed(data)
        except HttpParseError as exc:
            self._parse_error(exc)
            return
        if idle and self.answered_known is not None:
            key, self.answered_known = self.answered_known, None
            # Remember these bytes only if they were that one whole request and nothing else.
            if (
                self._feed_heads == 1
                and self.parser.at_message_start
                and type(data) is bytes
                and len(data) <= _KNOWN_MAX
                and len(known.known) < _KNOWN_LIMIT  # type: ignore[union-attr]
            ):
                known.known[data] = key  # type: ignore[union-attr]
        if trailing is not None and self.held is not None:
            self.held[:0] = trailing
        elif self._deadline_kind == _IDLE_TIMER and self.timeout_request_head is not None:
            # A request began but its head is not complete (a complete head clears the idle
            # deadline): it must be within timeout_request_head.
            self._set_deadline(_HEAD_TIMER, self.timeout_request_head)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writable = False
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        current = self.current
        if current is not None:
            current.on_disconnect()
        parsing = self.parsing
        if parsing is not None and parsing is not current:
            parsing.on_disconnect()
        if self.pipeline:
            self.pipeline.clear()
        self.write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if not self.upgraded:
            self.service.connection_closed(self)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # RequestSink, called by the parser

    def on_request_head(self, head: RequestHead) -> None:
        if self.held is not None or self.closing:
            # After a request that stopped parsing, or once closing: ignored, body included.
            self.parsing = None
            return
        if head.websocket_upgrade:
            self.hold()
        self._feed_heads += 1
        exchange = self.parsing = HttpExchange(self, head)
        self._deadline = None
        self._deadline_kind = 0
        if self.current is None and not self.pipeline:
            self.current = exchange
            self.service.request_received(self, head)
        else:
            pipeline = self.pipeline
            if not pipeline:
                pipeline = self.pipeline = collections.deque()
            pipeline.append(exchange)  # type: ignore[union-attr]
            self.update_reading()

    def on_request_body(self, chunk: bytes) -> None:
        exchange = self.parsing
        if exchange is not None and self.held is None:
            exchange.on_body(chunk)

    def on_request_complete(self) -> None:
        exchange = self.parsing
        if exchange is not None:
            exchange.request_complete = True
            waiter = exchange._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    # Flow control and timers

    def update_reading(self) -> None:
        """Pause or resume reading the socket as the buffered requests require."""
        transport = self.transport
        if transport is None or self.closed or self.held is not None or self.upgraded:
            return
        parsing = self.parsing
        pause = bool(self.pipeline) or (
            parsing is not None and parsing.body_buffered > BODY_HIGH_WATER
        )
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            elif not transport.is_closing():
                transport.resume_reading()

    @property
    def reading_paused(self) -> bool:
        """Whether reading the socket is paused (pipelined requests, unread body, or held)."""
        return self._reading_paused or self.held is not None

    async def drain(self) -> None:
        """Wait until the transport's write buffer drops below its low-water mark."""
        if not self.write_paused or self.closed:
            return
        waiter = self._drain_waiter
        if waiter is None or waiter.done():
            waiter = self._drain_waiter = self.loop.create_future()
        await waiter

    def _set_deadline(self, kind: int, timeout: float) -> None:
        # One timer per connection, rearmed lazily: moving the deadline later costs nothing,
        # and the timer reschedules itself when it fires early.
        deadline = self.loop.time() + timeout
        self._deadline = deadline
        self._deadline_kind = kind
        timer = self._timer
        if timer is not None:
            if self._timer_when <= deadline:
                return
            timer.cancel()
        self._timer = self.loop.call_at(deadline, self._on_timer)
        self._timer_when = deadline

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self.closed:
            return
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._on_timer)
            self._timer_when = deadline
            return
        self._deadline = None
        if self.current is None and not self.upgraded:
            if self._deadline_kind == _HEAD_TIMER:
                logger.info("request head timeout: closing connection from %s", self.client)
            self.close()

    # Request sequencing

    def exchange_done(self, exchange: HttpExchange) -> None:
        """Called by the exchange when its response is complete: serve the next request."""
        if exchange is not self.current:
            return
        self.current = None
        if self.closed:
            return
        if self._error is not None:
            self._answer_error(self._error)
            return
        if not exchange.keep_alive or self.closing:
            self.close()
            return
        if self._reading_paused:
            self.update_reading()
        if self.pipeline:
            self._advance()
        elif self.timeout_keep_alive is not None:
            # _set_deadline(_IDLE_TIMER, ...), inlined: this runs once per request.
            deadline = self._deadline = self.loop.time() + self.timeout_keep_alive
            self._deadline_kind = _IDLE_TIMER
            if self._timer is None or self._timer_when > deadline:
                self._set_deadline(_IDLE_TIMER, self.timeout_keep_alive)

    def _advance(self) -> None:
        # A loop, not recursion: responses answered synchronously (health routes) could
        # otherwise nest one call per pipelined request.
        if self._advancing:
            return
        self._advancing = True
        try:
            while self.current is None and self.pipeline and not self.closing:
                exchange = self.current = self.pipeline.popleft()  # type: ignore[union-attr]
                self.update_reading()
                self.service.request_received(self, exchange.head)
        finally:
            self._advancing = False
        if self.current is None and not self.closed and self.timeout_keep_alive is not None:
            self._set_deadline(_IDLE_TIMER, self.timeout_keep_alive)

    # Errors a client can cause

    def _parse_error(self, exc: HttpParseError) -> None:
        logger.info("invalid HTTP request from %s: %s", self.client, exc.reason)
        # The parser cannot go on: keep nothing more, answer after the response in progress.
        self.held = bytearray()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        if self.pipeline:
            self.pipeline.clear()
        if self.current is None:
            self._answer_error(exc)
        else:
            self._error = exc
            self.current.keep_alive = False

    def _answer_error(self, exc: HttpParseError) -> None:
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        if self.server_header:
            headers.append((b"server", b"asgiws"))
        if self.date_header:
            headers.append((b"date", date_line()[6:]))
        headers.extend(self.extra_headers)
        self.respond(exc.status, headers, f"{exc.reason}\n".encode(), close=True)

    # For services

    @property
    def peername(self) -> Any:
        return None if self.transport is None else self.transport.get_extra_info("peername")

    def write_repeated(self, data: bytes) -> None:
        """Write the whole response to a request answered without parsing it (see
        ``repeated_requests``): the connection is idle again afterwards."""
        if self.writable:
            self.transport.write(data)  # type: ignore[union-attr]
        if self.timeout_keep_alive is not None:
            self._set_deadline(_IDLE_TIMER, self.timeout_keep_alive)

    def write(self, data: bytes) -> None:
        """Write ``data`` unless the connection is closing."""
        if self.writable:
            self.transport.write(data)  # type: ignore[union-attr]

    def close(self) -> None:
        """Close the connection after what was written; parse nothing more."""
        self.closing = True
        self.writable = False
        if self.held is None:
            self.held = bytearray()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def shutdown(self) -> None:
        """Graceful shutdown: close now if idle, else once the response in progress is done.

        Requests parsed ahead and not started yet are dropped (the client retries them on
        another connection). An upgraded connection is not ours any more: nothing happens.
        """
        if self.upgraded or self.closed:
            return
        self.closing = True
        if self.pipeline:
            self.pipeline.clear()
        current = self.current
        if current is None:
            self.close()
        else:
            current.keep_alive = False

    def hold(self) -> None:
        """Stop parsing: keep later bytes for the next protocol, and stop reading."""
        if self.held is None:
            self.held = bytearray()
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.pause_reading()

    def respond(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        *,
        close: bool = True,
    ) -> None:
        """Write a whole HTTP response; close the connection after it when ``close``.

        After a WebSocket upgrade request the connection closes anyway: its parser stopped.
        """
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            return
        current = self.current
        if current is not None and current.head.websocket_upgrade:
            close = True
        if not close and current is not None and not current.response_started:
            current.respond(status, headers, body)
            return
        if close:
            headers = [*headers, (b"connection", b"close")]
        transport.write(serialize_response(status, headers, body))
        if close:
            self.close()

    def upgrade(self, websocket: WebSocketCommonProtocol, response: bytes, extensions: Any) -> None:
        """Write the 101 response and give the transport to ``websocket``."""
        transport = self.transport
        assert transport is not None
        self.upgraded = True
        self.writable = False
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        transport.write(response)
        held = self.held or b""
        self.held = bytearray()
        # Nothing HTTP is needed any more: let the parser and the request go (they would
        # otherwise live as long as the WebSocket, through whoever keeps this object).
        self.parser = self.current = self.parsing = None
        transport.set_protocol(websocket)
        websocket.connection_open(transport, extensions, bytes(held))
        if not transport.is_closing() and not websocket._reading_paused:
            transport.resume_reading()
        connection_upgraded = getattr(self.service, "connection_upgraded", None)
        if connection_upgraded is not None:
            connection_upgraded(self)
