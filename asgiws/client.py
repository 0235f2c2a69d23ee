"""The client: ``connect()`` as in websockets 10.4 — awaitable, ``async with``, and
``async for websocket in connect(...)``, which reconnects with exponential backoff."""

from __future__ import annotations

import asyncio
import logging
import random
import urllib.parse
from collections.abc import AsyncIterator, Generator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .datastructures import Headers, HeadersLike
from .exceptions import (
    InvalidHeader,
    InvalidMessage,
    InvalidStatusCode,
    InvalidURI,
    NegotiationError,
    RedirectHandshake,
    SecurityError,
)
from .http import HttpParseError
from .http.response import parse_response_head
from .log import default_logger
from .protocol import handshake
from .protocol.extensions.base import ClientExtensionFactory
from .protocol.extensions.permessage_deflate import enable_client_permessage_deflate
from .server.connection import WebSocketCommonProtocol
from .server.native import USER_AGENT

__all__ = [
    "Connect",
    "WebSocketClientProtocol",
    "WebSocketURI",
    "connect",
    "parse_uri",
    "unix_connect",
]

MAX_REDIRECTS = 10


@dataclass
class WebSocketURI:
    """A parsed ``ws://`` or ``wss://`` URI."""

    secure: bool
    host: str
    port: int
    path: str
    query: str
    username: str | None = None
    password: str | None = None

    @property
    def resource_name(self) -> str:
        return self.path + ("?" + self.query if self.query else "")


def parse_uri(uri: str) -> WebSocketURI:
    """Parse a WebSocket URI; raise :exc:`InvalidURI` for anything else (RFC 6455 §3)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    if parsed.hostname is None:
        raise InvalidURI(uri, "hostname isn't provided")
    if parsed.fragment:
        raise InvalidURI(uri, "contains a fragment")
    secure = parsed.scheme == "wss"
    try:
        port = parsed.port or (443 if secure else 80)
    except ValueError:
        raise InvalidURI(uri, "port isn't valid") from None
    path = parsed.path or "/"
    # Non-ASCII characters in the path or query must be percent-encoded (RFC 3986 §2.1).
    path = urllib.parse.quote(path, safe="/%:@!$&'()*+,;=~-._")
    query = urllib.parse.quote(parsed.query, safe="/?%:@!$&'()*+,;=~-._")
    return WebSocketURI(
        secure, parsed.hostname, port, path, query, parsed.username, parsed.password
    )


class WebSocketClientProtocol(WebSocketCommonProtocol):
    """A client-side connection, as ``websockets.legacy.client.WebSocketClientProtocol``."""

    is_client = True
    side = "client"

    def __init__(
        self,
        *,
        origin: str | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        extra_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.origin = origin
        self.available_extensions = list(extensions or ())
        self.available_subprotocols = list(subprotocols or ())
        self.extra_headers = extra_headers
        self.user_agent_header = user_agent_header
        self._handshake_buffer: bytearray | None = None
        self._handshake_waiter: asyncio.Future[tuple[int, Headers, bytes]] | None = None

    def data_received(self, data: bytes | bytearray) -> None:
        if self.engine is not None:
            super().data_received(data)
            return
        if self._handshake_buffer is None or self._handshake_waiter is None:
            return
        buffer = self._handshake_buffer
        buffer += data
        try:
            parsed = parse_response_head(buffer)
        except HttpParseError as exc:
            if not self._handshake_waiter.done():
                self._handshake_waiter.set_exception(
                    SecurityError(exc.reason) if exc.status == 431 else InvalidMessage(exc.reason)
                )
            return
        if parsed is None:
            return
        status, _reason, raw_headers, consumed = parsed
        self._handshake_buffer = None
        # Nothing more is read until the handshake is checked and the engine starts.
        self.transport.pause_reading()  # type: ignore[union-attr]
        if not self._handshake_waiter.done():
            self._handshake_waiter.set_result(
                (status, Headers.from_raw(raw_headers), bytes(buffer[consumed:]))
            )

    def connection_lost(self, exc: Exception | None) -> None:
        waiter = self._handshake_waiter
        if self.engine is None and waiter is not None and not waiter.done():
            waiter.set_exception(InvalidMessage("connection closed during the opening handshake"))
        super().connection_lost(exc)

    async def handshake(self, wsuri: WebSocketURI) -> None:
        """Send the upgrade request and check the answer; raise on failure."""
        transport = self.transport
        assert transport is not None
        self.loop = asyncio.get_running_loop()
        self._closed_waiter = self.loop.create_future()
        key = handshake.generate_key()
        default_port = 443 if wsuri.secure else 80
        host = f"[{wsuri.host}]" if ":" in wsuri.host else wsuri.host
        if wsuri.port != default_port:
            host = f"{host}:{wsuri.port}"
        headers = handshake.build_request_headers(
            host,
            key,
            origin=self.origin,
            subprotocols=self.available_subprotocols,
            extensions=self.available_extensions,
            user_agent=None,
        )
        if wsuri.username is not None:
            import base64

            credentials = f"{wsuri.username}:{wsuri.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
        if self.extra_headers is not None:
            extra = self.extra_headers
            items = (
                extra.raw_items()
                if isinstance(extra, Headers)
                else (extra.items() if hasattr(extra, "items") else extra)
            )
            for name, value in items:
                headers[name] = value
        if self.user_agent_header and "User-Agent" not in headers:
            headers["User-Agent"] = self.user_agent_header
        self.path = wsuri.resource_name
        self.request_headers = headers
        self._handshake_buffer = bytearray()
        self._handshake_waiter = self.loop.create_future()
        request = f"GET {wsuri.resource_name} HTTP/1.1\r\n{headers}"
        transport.write(request.encode("latin-1"))
        status, response_headers, leftover = await self._handshake_waiter
        self.response_headers = response_headers
        if status in (301, 302, 303, 307, 308):
            if "Location" not in response_headers:
                raise InvalidHeader("Location")
            raise RedirectHandshake(response_headers["Location"])
        if status != 101:
            raise InvalidStatusCode(status, response_headers)
        subprotocol, extensions = handshake.check_response(
            response_headers,
            key,
            subprotocols=self.available_subprotocols,
            extensions=self.available_extensions,
        )
        self.subprotocol = subprotocol
        self.connection_open(transport, extensions, leftover)  # type: ignore[arg-type]
        if not self._reading_paused:
            transport.resume_reading()


_PERMANENT_ERRORS = (InvalidHeader, NegotiationError, SecurityError)


class Connect:
    """What :func:`connect` returns: ``await`` it, use it as ``async with``, or iterate it with
    ``async for`` to reconnect automatically after errors (exponential backoff)."""

    BACKOFF_MIN = 1.92
    BACKOFF_MAX = 60.0
    BACKOFF_FACTOR = 1.618
    BACKOFF_INITIAL = 5.0

    def __init__(
        self,
        uri: str,
        *,
        create_protocol: Any = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        compression: str | None = "deflate",
        origin: str | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        extra_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = None,
        max_size: int | None = 2**20,
        max_queue: int | None = 2**5,
        read_limit: int = 2**16,
        write_limit: int = 2**16,
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        self.wsuri = parse_uri(uri)
        if compression == "deflate":
            extensions = enable_client_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        if logger is None:
            logger = default_logger("client")
        kwargs.pop("loop", None)
        kwargs.pop("legacy_recv", None)
        if "timeout" in kwargs:
            close_timeout = close_timeout or kwargs.pop("timeout")
        self.open_timeout = open_timeout
        self.create_protocol = create_protocol or WebSocketClientProtocol
        self.protocol_options: dict[str, Any] = dict(
            logger=logger,
            origin=origin,
            extensions=extensions,
            subprotocols=subprotocols,
            extra_headers=extra_headers,
            user_agent_header=user_agent_header,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_size=max_size,
            max_queue=max_queue,
            read_limit=read_limit,
            write_limit=write_limit,
        )
        self.unix_path: str | None = kwargs.pop("path", None) if kwargs.pop("unix", False) else None
        self.connection_kwargs = kwargs
        self.protocol: WebSocketClientProtocol | None = None
        self.logger = logger

    async def _create_connection(self, wsuri: WebSocketURI) -> WebSocketClientProtocol:
        loop = asyncio.get_running_loop()
        kwargs = dict(self.connection_kwargs)
        if wsuri.secure:
            kwargs.setdefault("ssl", True)
            if kwargs.get("sock") is not None or self.unix_path is not None:
                kwargs.setdefault("server_hostname", wsuri.host)
        elif kwargs.get("ssl") is not None:
            raise ValueError("connect() received a ssl argument for a ws:// URI, use a wss:// URI")

        def factory() -> WebSocketClientProtocol:
            return self.create_protocol(**self.protocol_options)  # type: ignore[no-any-return]

        if self.unix_path is not None:
            _, protocol = await loop.create_unix_connection(factory, self.unix_path, **kwargs)
        elif kwargs.get("sock") is not None:
            _, protocol = await loop.create_connection(factory, **kwargs)
        else:
            host = kwargs.pop("host", wsuri.host)
            port = kwargs.pop("port", wsuri.port)
            _, protocol = await loop.create_connection(factory, host, port, **kwargs)
        return protocol

    async def _connect(self) -> WebSocketClientProtocol:
        wsuri = self.wsuri
        for _ in range(MAX_REDIRECTS):
            protocol = await self._create_connection(wsuri)
            try:
                await protocol.handshake(wsuri)
            except RedirectHandshake as exc:
                protocol._abort()
                new_uri = urllib.parse.urljoin(wsuri_to_str(wsuri), exc.uri)
                new_wsuri = parse_uri(new_uri)
                if wsuri.secure and not new_wsuri.secure:
                    raise SecurityError("redirect from WSS to WS") from None
                wsuri = new_wsuri
                continue
            except BaseException:
                protocol._abort()
                raise
            self.protocol = protocol
            return protocol
        raise SecurityError("too many redirects")

    async def _connect_with_timeout(self) -> WebSocketClientProtocol:
        if self.open_timeout is None:
            return await self._connect()
        return await asyncio.wait_for(self._connect(), self.open_timeout)

    def __await__(self) -> Generator[Any, None, WebSocketClientProtocol]:
        return self._connect_with_timeout().__await__()

    async def __aenter__(self) -> WebSocketClientProtocol:
        return await self._connect_with_timeout()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.protocol is not None:
            await self.protocol.close()

    async def __aiter__(self) -> AsyncIterator[WebSocketClientProtocol]:
        backoff = self.BACKOFF_MIN
        while True:
            try:
                async with self as protocol:
                    yield protocol
            except Exception as exc:
                # Retry as websockets 10.4 does (a restarting server refuses connections, closes
                # sockets mid-handshake or answers 5xx for a while), except answers that prove
                # the peer will never accept this client: retrying those would spin forever.
                if isinstance(exc, _PERMANENT_ERRORS):
                    raise
                if backoff == self.BACKOFF_MIN:
                    # RFC 6455 §7.2.3: a random first delay spreads reconnections.
                    delay = random.random() * self.BACKOFF_INITIAL
                    self.logger.info(
                        "! connect failed; reconnecting in %.1f seconds", delay, exc_info=True
                    )
                    await asyncio.sleep(delay)
                else:
                    self.logger.info(
                        "! connect failed again; retrying in %d seconds",
                        int(backoff),
                        exc_info=True,
                    )
                    await asyncio.sleep(int(backoff))
                backoff = min(backoff * self.BACKOFF_FACTOR, self.BACKOFF_MAX)
                continue
            else:
                backoff = self.BACKOFF_MIN


def wsuri_to_str(wsuri: WebSocketURI) -> str:
    scheme = "wss" if wsuri.secure else "ws"
    host = f"[{wsuri.host}]" if ":" in wsuri.host else wsuri.host
    return f"{scheme}://{host}:{wsuri.port}{wsuri.resource_name}"


connect = Connect
"""Connect to a WebSocket server: ``async with connect("ws://host:port/path") as ws: ...``."""


def unix_connect(path: str | None = None, uri: str = "ws://localhost/", **kwargs: Any) -> Connect:
    """Like :func:`connect`, over the Unix socket at ``path``."""
    return Connect(uri, unix=True, path=path, **kwargs)
