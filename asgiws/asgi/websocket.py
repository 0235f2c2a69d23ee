"""The ASGI WebSocket adapter: one upgrade request becomes one ``websocket`` scope session.

:func:`run_websocket` is called by the ASGI service for each upgrade request. The order is
the one the design fixes: the ``process_request`` hook (may answer plain HTTP), the RFC 6455
checks (a bad handshake gets its 4xx before the application runs), then the application, which
answers ``websocket.connect`` with ``websocket.accept`` (101), ``websocket.close`` (403) or
``websocket.http.response.*`` (any HTTP response: the denial extension).

After the 101 the session runs on the same :class:`WebSocketCommonProtocol` as the native server
and the client: ``receive()`` maps the next message of its bounded queue to an event when the
application asks for it (no second queue, so ``ws_max_queue`` and ``pause_reading`` apply
unchanged) and ``send()`` waits while the transport's buffer is full.
"""

from __future__ import annotations

import asyncio
import http
import logging
import time
from collections.abc import MutableMapping
from typing import Any

from ..datastructures import Headers
from ..exceptions import ConnectionClosed, InvalidHandshake
from ..http import RequestHead
from ..http.response import serialize_response_head
from ..protocol import State, handshake
from ..protocol.frames import LARGE_FRAME
from ..protocol.headers import parse_subprotocol_list
from ..server.connection import _CLOSED, WebSocketCommonProtocol
from ..server.exchange import date_line
from ..server.hooks import call_process_request
from ..server.http import HttpConnection
from ..server.upgrade import (
    encode_headers,
    handshake_failure,
    permessage_deflate_factories,
    run_process_request,
    switching_protocols_head,
)
from .errors import ClientDisconnected
from .proxy import apply_proxy_headers

__all__ = ["ClientDisconnected", "WebSocketSession", "default_headers", "run_websocket"]

logger = logging.getLogger("asgiws.server")
access_logger = logging.getLogger("asgiws.access")
_OPEN = State.OPEN


class _Decided:
    """Stands for the resolved future of a decision nobody awaited (see ``_decide``)."""

    def done(self) -> bool:
        return True

    def __await__(self) -> Any:
        return iter(())


_DECIDED: Any = _Decided()

Message = MutableMapping[str, Any]

# Session states.
CONNECTING = "connecting"  # the application has not answered websocket.connect yet
RESPONDING = "responding"  # websocket.http.response.start sent, body not finished
ACCEPTED = "accepted"  # 101 sent: the WebSocket is open (or closing)
DONE = "done"  # answered with HTTP (403, denial, error) or the client left before an answer


async def run_websocket(
    connection: HttpConnection, head: RequestHead, config: Any, server_state: Any, app: Any
) -> None:
    """Serve one WebSocket upgrade request on ``connection`` with the ASGI application."""
    await WebSocketSession(connection, head, config, server_state, app).run()


def default_headers(config: Any) -> list[tuple[bytes, bytes]]:
    """``server``, ``date`` (each unless turned off) and the configured extra headers."""
    headers: list[tuple[bytes, bytes]] = []
    if getattr(config, "server_header", True):
        headers.append((b"server", b"asgiws"))
    if getattr(config, "date_header", True):
        headers.append((b"date", date_line()[6:]))
    headers.extend(getattr(config, "encoded_headers", ()))
    return headers


_DEFLATE_FACTORIES: list[Any] | None = None


def _deflate_factories() -> list[Any]:
    global _DEFLATE_FACTORIES
    if _DEFLATE_FACTORIES is None:
        _DEFLATE_FACTORIES = permessage_deflate_factories(True)
    return _DEFLATE_FACTORIES


class WebSocketSession:
    """One ``websocket`` scope: the handshake decision, then the messages, then the close."""

    # Slots: a session lives as long as its WebSocket. ``__dict__`` is there for hooks that
    # keep state of their own on the connection object they are given (this session).
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_closing",
        "_connect_sent",
        "_decided",
        "_extensions",
        "_extensions_header",
        "_key",
        "_request_headers",
        "_response_headers",
        "_started",
        "_streaming",
        "_subprotocols",
        "app",
        "client_left",
        "config",
        "connection",
        "head",
        "scope",
        "server_state",
        "shutdown_requested",
        "state",
        "status",
        "websocket",
    )

    def __init__(
        self,
        connection: HttpConnection,
        head: RequestHead,
        config: Any,
        server_state: Any,
        app: Any,
    ) -> None:
        self.connection = connection
        self.head = head
        self.config = config
        self.server_state = server_state
        self.app = app
        # Built when read (a hook); the checks of a common request use the parser's pairs.
        self._request_headers: Headers | None = None
        self.state = CONNECTING
        self.websocket: WebSocketCommonProtocol | None = None
        self.status: int | None = None
        self.scope: dict[str, Any] = {}
        self.client_left = False  # the TCP connection closed before the answer
        self.shutdown_requested = False
        self._connect_sent = False
        # Resolved once the application answered websocket.connect; made when awaited.
        self._decided: asyncio.Future[None] | None = None
        self._key = ""
        self._subprotocols: list[str] = []
        self._extensions_header: str | None = None
        self._extensions: list[Any] = []
        self._started = time.monotonic()
        self._closing: asyncio.Task[None] | None = None

    @property
    def request_headers(self) -> Headers:
        """The upgrade request's headers."""
        headers = self._request_headers
        if headers is None:
            headers = self._request_headers = Headers.from_raw(self.head.headers)
        return headers

    def _decide(self) -> None:
        decided = self._decided
        if decided is None:
            self._decided = _DECIDED
        elif not decided.done():
            decided.set_result(None)

    # ------------------------------------------------------------------------ the session

    async def run(self) -> None:
        """The whole session; returns when the connection is closed.

        Run as its own task, it leaves ``server_state.tasks`` when done (the service put it
        there), and answers for its own failures: a 500 when one happens before the upgrade.
        """
        state = self.server_state
        task = asyncio.current_task()
        try:
            try:
                if not await self._pre_checks():
                    return
                self.scope = self.build_scope()
                # The application runs in this frame: a coroutine in between would stay
                # allocated for the whole life of the connection.
                state.connections.add(self)
                if task is not None:
                    state.tasks.add(task)
                state.total_requests += 1
                try:
                    try:
                        await self.app(self.scope, self.receive, self.send)
                    except asyncio.CancelledError:
                        self._abort()
                        raise
                    except Exception:
                        logger.error("Exception in ASGI application", exc_info=True)
                        await self._finish(error=True)
                    else:
                        await self._finish(error=False)
                finally:
                    state.connections.discard(self)
            finally:
                self._log_access()
        except Exception:
            logger.exception("WebSocket session failed")
            connection = self.connection
            if not connection.upgraded:
                connection.respond(
                    500,
                    [(b"content-type", b"text/plain; charset=utf-8")],
                    b"Internal Server Error\n",
                    close=True,
                )
        finally:
            if task is not None:
                state.tasks.discard(task)

    async def _pre_checks(self) -> bool:
        """The hook and the RFC 6455 checks; answer and return False when they refuse."""
        hook = getattr(self.config, "loaded_process_request", None)
        if hook is not None:
            path = self.head.raw_target.decode("latin-1")
            answer = await run_process_request(
                lambda: call_process_request(hook, self, path, self.request_headers), logger
            )
            if answer is not None:
                status, headers, body = answer
                names = {name.lower() for name, _ in encode_headers(headers)}
                extra = (
                    []
                    if b"content-type" in names
                    else [(b"content-type", b"text/plain; charset=utf-8")]
                )
                self._respond(status, [*encode_headers(headers), *extra], body)
                return False
        try:
            scanned = handshake.scan_request(self.head.headers)
            if scanned is None:
                request_headers = self.request_headers
                self._key = handshake.check_request(request_headers)
                self._subprotocols = handshake.client_subprotocols(request_headers)
                extension_headers = request_headers.get_all("Sec-WebSocket-Extensions")
            else:
                self._key = scanned.key
                self._subprotocols = [
                    protocol
                    for header in scanned.subprotocol_headers
                    for protocol in parse_subprotocol_list(header)
                ]
                extension_headers = scanned.extension_headers
            if extension_headers and getattr(self.config, "ws_per_message_deflate", True):
                self._extensions_header, self._extensions = handshake.negotiate_extension_headers(
                    extension_headers, _deflate_factories()
                )
        except InvalidHandshake as exc:
            logger.info("opening handshake failed: %s", exc)
            status, headers, body = handshake_failure(exc)
            self._respond(
                status,
                [*encode_headers(headers), (b"content-type", b"text/plain; charset=utf-8")],
                body,
            )
            return False
        return True

    def build_scope(self) -> dict[str, Any]:
        """The ``websocket`` connection scope (ASGI 3, WebSocket spec 2.4)."""
        connection = self.connection
        head = self.head
        root_path = getattr(self.config, "root_path", "") or ""
        scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": getattr(self.config, "asgi_version", "3.0"), "spec_version": "2.4"},
            "http_version": head.http_version,
            "scheme": "ws",
            "server": None,
            "client": None,
            "root_path": root_path,
            "path": root_path + head.path,
            "raw_path": root_path.encode("utf-8") + head.raw_path,
            "query_string": head.query_string,
            "headers": head.headers,
            "subprotocols": self._subprotocols,
            "state": dict(getattr(self.server_state, "lifespan_state", None) or {}),
            "extensions": {"websocket.http.response": {}},
        }
        if connection.transport is not None:
            # The HTTP connection read these from the transport once already.
            if connection.scheme == "https":
                scope["scheme"] = "wss"
            scope["server"] = connection.server
            scope["client"] = connection.client
        apply_proxy_headers(scope, self.config)
        return scope

    async def _finish(self, *, error: bool) -> None:
        if self.state == CONNECTING:
            if not error:
                logger.error("ASGI callable returned without sending handshake.")
            self._respond(
                500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error\n"
            )
        elif self.state == RESPONDING:
            if not error:
                logger.error("ASGI callable returned without completing the response.")
            self._close_http()
        elif self.state == ACCEPTED and self.websocket is not None:
            # An exception after the handshake: 1011; a return without closing: 1000.
            await self.websocket.close(1011 if error else 1000)
            await self.websocket.wait_closed()

    # ------------------------------------------------------------------------ receive / send

    async def receive(self) -> Message:
        """The ASGI ``receive`` callable."""
        if not self._connect_sent:
            self._connect_sent = True
            return {"type": "websocket.connect"}
        if self.state is CONNECTING or self.state is RESPONDING:
            # Another task of the application may accept.
            decided = self._decided
            if decided is None:
                decided = self._decided = asyncio.get_running_loop().create_future()
            await decided
        websocket = self.websocket
        if websocket is None:
            return {"type": "websocket.disconnect", "code": 1006, "reason": ""}
        # The connection's recv() steps, awaited here: no coroutine in between per message.
        messages = websocket._messages
        if messages:
            message = websocket._pop_message(messages)  # type: ignore[arg-type]
        else:
            waiter = websocket._recv_waiter_or_none()
            if waiter is None:
                message = None
            else:
                try:
                    message = await waiter
                except asyncio.CancelledError:
                    websocket._recv_cancelled(waiter)
                    raise
                finally:
                    if websocket._recv_waiter is waiter:
                        websocket._recv_waiter = None
            if message is None or message is _CLOSED:
                if not websocket._lost:
                    await websocket._wait_for_lost(websocket.close_timeout)
                return {
                    "type": "websocket.disconnect",
                    "code": websocket.close_code or 1006,
                    "reason": websocket.close_reason or "",
                }
        if type(message) is str:
            return {"type": "websocket.receive", "text": message}
        return {"type": "websocket.receive", "bytes": message}

    async def send(self, message: Message) -> None:
        """The ASGI ``send`` callable."""
        kind = message["type"]
        if self.state == ACCEPTED:
            websocket = self.websocket
            assert websocket is not None
            if kind == "websocket.send":
                data = message.get("bytes")
                text = message.get("text")
                if (data is None) == (text is None):
                    raise RuntimeError("websocket.send needs exactly one of 'bytes' or 'text'")
                engine = websocket.engine
                if (
                    engine is not None
                    and engine.state is _OPEN
                    and not websocket._lost
                    and websocket._fragment_lock is None
                    and (type(text) is str or (text is None and type(data) is bytes))
                ):
                    # websocket.send()'s common case, without a coroutine per message.
                    payload: str | bytes = text if text is not None else data  # type: ignore[assignment]
                    if len(payload) >= LARGE_FRAME:
                        websocket._write_parts(engine.send_message_parts(payload))
                    else:
                        websocket._write(
                            engine.send_text(text) if text is not None else engine.send_binary(data)  # type: ignore[arg-type]
                        )
                    if websocket._writing_paused:
                        await websocket._drain()
                    return
                try:
                    await websocket.send(text if text is not None else data)  # type: ignore[arg-type]
                except ConnectionClosed as exc:
                    raise ClientDisconnected(f"the WebSocket is closed: {exc}") from None
            elif kind == "websocket.close":
                # Closing what is already closed (apps often close after a disconnect) is a
                # no-op, as in uvicorn; only sending data raises.
                await websocket.close(message.get("code") or 1000, message.get("reason") or "")
            else:
                raise RuntimeError(f"Unexpected ASGI message {kind!r} after websocket.accept.")
        elif self.state == CONNECTING:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self._respond(403, [], b"")
            elif kind == "websocket.http.response.start":
                self._start_response(message)
            else:
                raise RuntimeError(
                    "Expected ASGI message 'websocket.accept', 'websocket.close' or "
                    f"'websocket.http.response.start', but got {kind!r}."
                )
            self._decide()
        elif self.state == RESPONDING:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"Expected 'websocket.http.response.body', got {kind!r}.")
            self._response_body(message.get("body", b""), bool(message.get("more_body", False)))
        else:
            if self.client_left or kind in ("websocket.send", "websocket.close"):
                raise ClientDisconnected("the connection is closed")
            raise RuntimeError(f"Unexpected ASGI message {kind!r} after the response.")

    # ------------------------------------------------------------------------ answers

    def _accept(self, message: Message) -> None:
        connection = self.connection
        if connection.closed:  # the client left while the application decided
            self.state = DONE
            self.client_left = True
            return
        subprotocol = message.get("subprotocol")
        more = [
            (name, value)
            for name, value in [*default_headers(self.config), *message.get("headers", ())]
            if name.lower() not in (b"sec-websocket-protocol", b"sec-websocket-extensions")
        ]
        config = self.config
        websocket = WebSocketCommonProtocol(
            logger=logger,
            ping_interval=getattr(config, "ws_ping_interval", 20.0),
            ping_timeout=getattr(config, "ws_ping_timeout", 20.0),
            close_timeout=getattr(config, "ws_close_timeout", 10.0),
            max_size=getattr(config, "ws_max_size", 16 * 1024 * 1024),
            max_queue=getattr(config, "ws_max_queue", 32),
        )
        websocket.path = self.head.raw_target.decode("latin-1")
        if self._request_headers is None:
            websocket._raw_request_headers = self.head.headers
        else:
            websocket.request_headers = self._request_headers
        # Response headers are built if someone reads them; the 101 is written straight away.
        response = switching_protocols_head(
            self._key, subprotocol, self._extensions_header, None, more
        )
        websocket._response_parts = (self._key, subprotocol, self._extensions_header, None, more)
        websocket.subprotocol = subprotocol
        self.websocket = websocket
        # The connection, for asgiws.hub's encode-once broadcasts (docs/hub.md). Added to the
        # extensions dict itself, which shallow copies of the scope by middleware share.
        self.scope["extensions"]["asgiws.websocket"] = {"connection": websocket}
        self.state = ACCEPTED
        self.status = 101
        connection.upgrade(websocket, response, self._extensions)
        if self.shutdown_requested:
            self.shutdown()

    def _respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.state = DONE
        names = {name.lower() for name, _ in headers}
        headers = [
            *(h for h in default_headers(self.config) if h[0] not in names),
            *((name, value) for name, value in headers if name.lower() != b"connection"),
        ]
        if self.connection.closed:
            self.client_left = True
            return
        self.connection.respond(status, headers, body, close=True)

    def _start_response(self, message: Message) -> None:
        self.status = int(message["status"])
        self.state = RESPONDING
        self._response_headers = [
            (bytes(name), bytes(value)) for name, value in message.get("headers", ())
        ]
        self._streaming = False

    def _response_body(self, body: bytes, more_body: bool) -> None:
        assert self.status is not None
        if not self._streaming and not more_body:
            self._respond(self.status, self._response_headers, body)
            return
        if not self._streaming:
            # A body in several parts: written as it comes, delimited by the connection close
            # unless the application gave a Content-Length (RFC 9112 §6.3).
            self._streaming = True
            names = {name.lower() for name, _ in self._response_headers}
            headers = [
                *(h for h in default_headers(self.config) if h[0] not in names),
                *((n, v) for n, v in self._response_headers if n.lower() != b"connection"),
                (b"connection", b"close"),
            ]
            self.connection.write(serialize_response_head(self.status, headers))
        if body:
            self.connection.write(body)
        if not more_body:
            self._close_http()

    def _close_http(self) -> None:
        self.state = DONE
        self.connection.close()

    def _abort(self) -> None:
        if self.websocket is not None:
            self.websocket._abort()
        elif self.connection.transport is not None:
            self.connection.transport.abort()

    # ------------------------------------------------------------------------ for the server

    def shutdown(self) -> None:
        """Graceful shutdown: close an open WebSocket with ``config.shutdown_close_code``.

        The application's ``receive()`` then returns ``websocket.disconnect`` with that code
        (as echoed by the client). A session still deciding closes right after its accept.
        """
        self.shutdown_requested = True
        websocket = self.websocket
        if websocket is None or not websocket.open or self._closing is not None:
            return
        code = getattr(self.config, "shutdown_close_code", 1012)
        self._closing = asyncio.get_running_loop().create_task(
            websocket.close(code, "service restart" if code == 1012 else "server shutting down")
        )

    def respond(self, status: http.HTTPStatus | int, text: str) -> handshake.Response:
        """For ``process_request(connection, request)`` hooks: a plain-text response."""
        status = http.HTTPStatus(status)
        body = text.encode()
        headers = Headers([("Content-Type", "text/plain; charset=utf-8")])
        return handshake.Response(int(status), status.phrase, headers, body)

    @property
    def remote_address(self) -> Any:
        return self.connection.peername

    def _log_access(self) -> None:
        if not getattr(self.config, "access_log", True) or self.status is None:
            return
        if not access_logger.isEnabledFor(logging.INFO):
            return
        client = self.scope.get("client") if self.scope else None
        if client is None:
            client = _address(self.connection.peername, peer=True)
        where = f"{client[0]}:{client[1]}" if client else "-"
        target = self.head.raw_target.decode("latin-1")
        duration = time.monotonic() - self._started
        websocket = self.websocket
        if websocket is not None:
            access_logger.info(
                '%s - "WebSocket %s" %d %.3fs close %s',
                where,
                target,
                self.status,
                duration,
                websocket.close_code,
            )
        else:
            access_logger.info('%s - "WebSocket %s" %d %.3fs', where, target, self.status, duration)


def _address(value: Any, *, peer: bool = False) -> tuple[str, int | None] | None:
    """An ASGI ``client``/``server`` pair from a socket address (Unix: (path, None))."""
    if isinstance(value, (tuple, list)) and len(value) >= 2:
        return str(value[0]), int(value[1])
    if isinstance(value, str) and value and not peer:
        return value, None
    return None
