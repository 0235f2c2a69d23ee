"""The ASGI HTTP cycle: one request's scope, ``receive`` and ``send``, over an HttpExchange.

This module only translates. :class:`~asgiws.server.exchange.HttpExchange` does the HTTP work
(body flow control, ``100 Continue``, framing, HEAD, keep-alive); :class:`HttpCycle` maps
ASGI messages onto it and applies the ASGI rules: the message order, ``http.disconnect``,
an application that fails before its response starts gets a 500, after it the connection is
closed, and ``send()`` after the client went away raises :class:`ClientDisconnected`
(ASGI HTTP spec 2.4; Starlette relies on it to stop streaming to a gone client).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..http import RequestHead
from ..server.exchange import HttpExchange
from .errors import ClientDisconnected

__all__ = ["ClientDisconnected", "HttpCycle", "access_logger", "build_http_scope"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

logger = logging.getLogger("asgiws.server")
#: One INFO line per HTTP request: ``client - "GET /path HTTP/1.1" 200 1.25ms``.
access_logger = logging.getLogger("asgiws.access")

_INTERNAL_ERROR = (
    500,
    [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
    b"Internal Server Error",
)


def build_http_scope(
    head: RequestHead,
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    scheme: str,
    root_path: str,
    state: dict[str, Any],
) -> dict[str, Any]:
    """The ASGI ``http`` scope of a request (``path`` and ``raw_path`` include ``root_path``,
    as uvicorn and Starlette expect); ``state`` is copied shallowly."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": head.http_version,
        "method": head.method,
        "scheme": scheme,
        "path": root_path + head.path if root_path else head.path,
        "raw_path": root_path.encode() + head.raw_path if root_path else head.raw_path,
        "query_string": head.query_string,
        "root_path": root_path,
        "headers": head.headers,
        "client": client,
        "server": server,
        "state": state.copy(),
        "extensions": {},
    }


class HttpCycle:
    """Runs the application for one request; ``receive`` and ``send`` are given to it."""

    __slots__ = ("access_log", "complete", "exchange", "scope", "started", "task")

    def __init__(self, exchange: HttpExchange, scope: Scope, access_log: bool) -> None:
        self.exchange = exchange
        self.scope = scope
        self.access_log = access_log
        self.started = False  # http.response.start was sent
        self.complete = False  # the last http.response.body was sent
        self.task: asyncio.Task[None] | None = None

    async def run(self, app: ASGIApp, tasks: set[asyncio.Task[Any]] | None = None) -> None:
        """Call the application and answer for it when it fails; ``tasks`` holds this task."""
        exchange = self.exchange
        try:
            # An ASGI app returns None; some return a value by mistake, and we say so.
            result = await app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]
        except asyncio.CancelledError:
            if not self.complete:
                exchange.abort()
            raise
        except Exception as exc:
            if exchange.disconnected:
                logger.debug("ASGI application stopped after the client left: %r", exc)
            elif not self.started:
                logger.error("Exception in ASGI application", exc_info=exc)
                self._internal_error()
            else:
                logger.error(
                    "Exception in ASGI application after the response started", exc_info=exc
                )
                self._abort()
        else:
            if result is not None:
                logger.error("ASGI callable should return None, but returned %r", result)
            if exchange.disconnected or self.complete:
                pass
            elif not self.started:
                logger.error("ASGI callable returned without starting a response")
                self._internal_error()
            else:
                logger.error("ASGI callable returned without completing the response")
                self._abort()
        finally:
            if self.access_log:  # not logged yet: the client left before the end
                self._log(exchange.status or 500)
            if tasks is not None:
                tasks.discard(self.task)  # type: ignore[arg-type]

    def _internal_error(self) -> None:
        exchange = self.exchange
        if exchange.response_started:  # a head failed its checks after being accepted
            self._abort()
            return
        self.started = self.complete = True
        exchange.keep_alive = False
        exchange.respond(*_INTERNAL_ERROR)
        if self.access_log:
            self._log(500)

    def _abort(self) -> None:
        self.exchange.abort()
        if self.access_log:
            self._log(self.exchange.status or 500)
        self.complete = True

    async def receive(self) -> Message:
        exchange = self.exchange
        if not exchange.body_done:
            if exchange.request_complete and not exchange.body_buffered:
                exchange.body_done = True  # no body, or all of it read: the common GET
                return {"type": "http.request", "body": b"", "more_body": False}
            result = await exchange.read_body()
            if result is not None:
                return {"type": "http.request", "body": result[0], "more_body": result[1]}
        else:
            await exchange.wait_closed()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        exchange = self.exchange
        if exchange.connection.write_paused:
            await exchange.drain()
        if exchange.disconnected:
            raise ClientDisconnected("the client closed the connection")
        message_type = message["type"]
        if not self.started:
            if message_type != "http.response.start":
                raise RuntimeError(f"Expected 'http.response.start', got {message_type!r}")
            exchange.start_response(message["status"], message.get("headers", ()))
            self.started = True
        elif not self.complete:
            if message_type != "http.response.body":
                raise RuntimeError(f"Expected 'http.response.body', got {message_type!r}")
            more_body = message.get("more_body", False)
            exchange.write(message.get("body", b""), more_body)
            if not more_body:
                self.complete = True
                if self.access_log:
                    self._log(exchange.status)
        else:
            raise RuntimeError(f"Unexpected {message_type!r} after the response completed")

    def _log(self, status: int) -> None:
        self.access_log = False  # one line per request
        if not access_logger.isEnabledFor(logging.INFO):
            return
        exchange = self.exchange
        head = exchange.head
        client = self.scope.get("client")  # after proxy headers
        duration = (exchange.connection.loop.time() - exchange.started_at) * 1000
        access_logger.info(
            '%s - "%s %s HTTP/%s" %d %.2fms',
            f"{client[0]}:{client[1]}" if client else "-",
            head.method,
            head.raw_target.decode("latin-1"),
            head.http_version,
            status,
            duration,
        )
