"""The per-TCP-connection HTTP/1.1 protocol, one class for both parsers.

:class:`HttpConnection` feeds bytes to the parser adapter (:mod:`asgiws.http`) and hands each
request head to its *service*: the native ``serve()`` service answers with a WebSocket upgrade
or plain HTTP, the ASGI service with the application. A WebSocket upgrade swaps the transport's
protocol for the WebSocket connection object with :meth:`HttpConnection.upgrade`; bytes that
arrived after the request head are passed along, not lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from ..http import HttpParseError, RequestHead, create_parser
from ..http.response import serialize_response
from .connection import WebSocketCommonProtocol

__all__ = ["HttpConnection", "Service"]

logger = logging.getLogger("asgiws.server")


class Service(Protocol):
    """What an :class:`HttpConnection` serves."""

    def request_received(self, connection: HttpConnection, head: RequestHead) -> None:
        """A request head arrived; for a WebSocket upgrade, parsing has stopped."""

    def connection_closed(self, connection: HttpConnection) -> None:
        """The TCP connection closed before it was upgraded."""


class HttpConnection(asyncio.Protocol):
    """One TCP connection while it speaks HTTP/1.1."""

    def __init__(
        self,
        service: Service,
        *,
        http: str = "auto",
        max_head_size: int = 65536,
        max_headers: int = 100,
    ) -> None:
        self.service = service
        self.parser_kind = http
        self.max_head_size = max_head_size
        self.max_headers = max_headers
        self.transport: asyncio.Transport | None = None
        self.parser: Any = None
        self.closed = False
        self.upgraded = False
        # After a head the service must answer before more is parsed (an upgrade, or the
        # native server's single request), later bytes wait here and reading pauses.
        self.held: bytearray | None = None
        self.task: asyncio.Task[Any] | None = None
        self.body_chunks: list[bytes] = []

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.parser = create_parser(
            self.parser_kind, self, max_head_size=self.max_head_size, max_headers=self.max_headers
        )

    def data_received(self, data: bytes) -> None:
        if self.held is not None:
            self.held += data
            return
        try:
            trailing = self.parser.feed(data)
        except HttpParseError as exc:
            logger.info("invalid HTTP request from %s: %s", self.peername, exc.reason)
            self.respond(
                exc.status,
                [(b"content-type", b"text/plain; charset=utf-8")],
                f"{exc.reason}\n".encode(),
                close=True,
            )
            return
        if trailing is not None and self.held is not None:
            self.held[:0] = trailing

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.upgraded:
            self.service.connection_closed(self)

    # RequestSink, called by the parser

    def on_request_head(self, head: RequestHead) -> None:
        if self.held is not None:
            return  # a pipelined request after one that stopped parsing: ignored
        if head.websocket_upgrade:
            self.hold()
        self.service.request_received(self, head)

    def on_request_body(self, chunk: bytes) -> None:
        if self.held is None:
            self.body_chunks.append(chunk)

    def on_request_complete(self) -> None:
        pass

    # For services

    @property
    def peername(self) -> Any:
        return None if self.transport is None else self.transport.get_extra_info("peername")

    def hold(self) -> None:
        """Stop parsing: keep later bytes for the next protocol, and stop reading."""
        if self.held is None:
            self.held = bytearray()
            if self.transport is not None:
                self.transport.pause_reading()

    def respond(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        *,
        close: bool = True,
    ) -> None:
        """Write a whole HTTP response; close the connection after it when ``close``."""
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            return
        if close:
            headers = [*headers, (b"connection", b"close")]
        transport.write(serialize_response(status, headers, body))
        if close:
            self.hold()
            transport.close()

    def upgrade(self, websocket: WebSocketCommonProtocol, response: bytes, extensions: Any) -> None:
        """Write the 101 response and give the transport to ``websocket``."""
        transport = self.transport
        assert transport is not None
        self.upgraded = True
        transport.write(response)
        held = self.held or b""
        self.held = bytearray()
        transport.set_protocol(websocket)
        websocket.connection_open(transport, extensions, bytes(held))
        if not transport.is_closing() and not websocket._reading_paused:
            transport.resume_reading()
