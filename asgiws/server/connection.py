"""The asyncio WebSocket connection: one class under the native server, the client and ASGI.

:class:`WebSocketCommonProtocol` is an :class:`asyncio.Protocol` that owns a transport once the
opening handshake is done and drives the sans-I/O engine. Data flows without queue hops: a
message completed in :meth:`data_received` resolves the waiting :meth:`recv` directly, or waits
in a bounded deque; when ``max_queue`` messages wait, the socket stops being read (backpressure,
never loss). :meth:`send` encodes and writes at once, and waits only while the transport's
buffer is over ``write_limit``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

from ..datastructures import Headers
from ..log import default_logger
from ..protocol import (
    CloseReceived,
    Connection,
    ConnectionFailed,
    PongReceived,
    Role,
    State,
)
from ..protocol.extensions.base import Extension
from ..protocol.frames import LARGE_FRAME
from ..protocol.handshake import build_response_headers
from .closing import ClosingMixin
from .keepalive import keepalive_timers
from .pinging import PingMixin

__all__ = ["Data", "WebSocketCommonProtocol"]

Data = str | bytes
_CLOSED = object()  # resolves a recv() waiter when the connection closes
_OPEN = State.OPEN
_NO_EXTENSIONS: list[Extension] = []  # shared until the handshake sets a connection's own


class WebSocketCommonProtocol(PingMixin, ClosingMixin, asyncio.Protocol):
    """A WebSocket connection, as ``websockets.legacy.protocol.WebSocketCommonProtocol``.

    Use :meth:`recv` and :meth:`send` to exchange messages, ``async for message in ws`` to
    receive until the peer closes normally, :meth:`close` to close, :meth:`ping` and
    :meth:`pong` for heartbeats. Attributes: ``id``, ``path``, ``request_headers``,
    ``response_headers``, ``subprotocol``, ``latency``, ``local_address``, ``remote_address``,
    ``open``, ``closed``, ``state``, ``close_code``, ``close_reason``, ``logger``.
    """

    # Slots keep an idle connection small; ``__dict__`` (created on first use) still lets
    # applications and subclasses set attributes of their own.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_close_handle",
        "_closed_waiter",
        "_drain_waiters",
        "_fragment_lock",
        "_id",
        "_keepalive_handle",
        "_keepalive_timeout_handle",
        "_lingering",
        "_lost",
        "_messages",
        "_pings",
        "_raw_request_headers",
        "_reading_paused",
        "_recv_waiter",
        "_request_headers",
        "_response_headers",
        "_response_parts",
        "_writing_paused",
        "close_timeout",
        "engine",
        "extensions",
        "latency",
        "logger",
        "loop",
        "max_queue",
        "max_size",
        "path",
        "ping_interval",
        "ping_timeout",
        "read_limit",
        "subprotocol",
        "transport",
        "write_limit",
    )

    is_client = False
    side = "server"

    def __init__(
        self,
        *,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = None,
        max_size: int | None = 2**20,
        max_queue: int | None = 2**5,
        read_limit: int = 2**16,
        write_limit: int = 2**16,
        **kwargs: Any,
    ) -> None:
        if close_timeout is None:
            close_timeout = kwargs.pop("timeout", None) or 10
        if kwargs:
            kwargs.pop("loop", None)
            kwargs.pop("legacy_recv", None)
        if logger is None:
            logger = default_logger(self.side)
        self._id: uuid.UUID | None = None  # made on first use: uuid4() costs a system call
        self.logger: logging.Logger | logging.LoggerAdapter[Any] = logger
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_size = max_size
        self.max_queue = max_queue
        self.read_limit = read_limit
        self.write_limit = write_limit
        self.latency = 0.0
        # Set by the opening handshake. The headers are built on first use (see the properties).
        self.path = ""
        self._request_headers: Headers | None = None
        self._raw_request_headers: list[tuple[bytes, bytes]] | None = None
        self._response_headers: Headers | None = None
        # (key, subprotocol, extensions, server header, more (name, value) byte pairs).
        self._response_parts: tuple[Any, ...] | None = None
        self.subprotocol: str | None = None
        self.extensions: list[Extension] = _NO_EXTENSIONS
        self.engine: Connection | None = None
        self.transport: asyncio.Transport | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        # Receiving: the deque is made when a first message has to wait in it.
        self._messages: collections.deque[Data] | tuple[()] = ()
        self._recv_waiter: asyncio.Future[Any] | None = None
        self._reading_paused = False
        # Sending.
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] | None = None
        self._fragment_lock: asyncio.Lock | None = None
        # Pings awaiting their pong, oldest first: data -> (future, time sent); made on first use.
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] | None = None
        # The ticket of the next keepalive ping (asgiws.server.keepalive), None when none is due.
        self._keepalive_handle: float | None = None
        self._keepalive_timeout_handle: asyncio.TimerHandle | None = None
        self._close_handle: asyncio.TimerHandle | None = None
        self._lost = False
        self._lingering = False  # failed: our FIN is sent, the peer's bytes are read and dropped
        self._closed_waiter: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------------ attributes

    @property
    def id(self) -> uuid.UUID:
        """A unique identifier of the connection (a random :class:`uuid.UUID`), for logs."""
        value = self._id
        if value is None:
            value = self._id = uuid.uuid4()
        return value

    @id.setter
    def id(self, value: uuid.UUID) -> None:
        self._id = value

    @property
    def request_headers(self) -> Headers:
        """The headers of the opening handshake's request."""
        headers = self._request_headers
        if headers is None:
            raw = self._raw_request_headers
            headers = self._request_headers = Headers() if raw is None else Headers.from_raw(raw)
            self._raw_request_headers = None
        return headers

    @request_headers.setter
    def request_headers(self, value: Headers) -> None:
        self._request_headers = value
        self._raw_request_headers = None

    @property
    def response_headers(self) -> Headers:
        """The headers of the opening handshake's response."""
        headers = self._response_headers
        if headers is None:
            parts = self._response_parts
            if parts is None:
                headers = Headers()
            else:
                key, subprotocol, extensions, server_header, more = parts
                headers = build_response_headers(
                    key, subprotocol=subprotocol, extensions=extensions, server_header=server_header
                )
                for name, value in more:
                    headers[name.decode("latin-1")] = value.decode("latin-1")
            self._response_headers = headers
            self._response_parts = None
        return headers

    @response_headers.setter
    def response_headers(self, value: Headers) -> None:
        self._response_headers = value
        self._response_parts = None

    # ------------------------------------------------------------------------ the transport

    def connection_open(
        self,
        transport: asyncio.Transport,
        extensions: list[Extension] | None = None,
        data: bytes | bytearray = b"",
    ) -> None:
        """Take over ``transport`` once the handshake succeeded and start the engine.

        ``data`` is what the peer sent after its handshake (frames it pipelined).
        """
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        self.extensions = extensions if extensions else []
        self.engine = Connection(
            Role.CLIENT if self.is_client else Role.SERVER,
            max_size=self.max_size,
            extensions=self.extensions,
            logger=self.logger,
        )
        # RFC-sized pauses: the writer waits above write_limit and resumes at a quarter of it.
        transport.set_write_buffer_limits(high=self.write_limit, low=self.write_limit // 4)
        if self.ping_interval is not None:
            self._keepalive_handle = keepalive_timers(self.loop).schedule(self, self.ping_interval)
        self.logger.debug("= connection is OPEN")
        if data:
            self.data_received(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Only reached when a subclass is the transport's first protocol (the client).
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes | bytearray) -> None:
        engine = self.engine
        if engine is None:  # pragma: no cover - data before the handshake
            return
        events = engine.receive_data(data)
        output = engine.data_to_send()
        if output:
            self._write(b"".join(output) if len(output) > 1 else output[0])
        for event in events:
            kind = type(event)
            if kind is str or kind is bytes:
                waiter = self._recv_waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(event)
                    self._recv_waiter = None
                else:
                    messages = self._messages
                    if not messages:
                        messages = self._messages = collections.deque()
                    messages.append(event)  # type: ignore[union-attr, arg-type]
                    if (
                        self.max_queue is not None
                        and len(messages) >= self.max_queue
                        and not self._reading_paused
                    ):
                        # Backpressure: stop reading the socket until recv() makes room.
                        self._reading_paused = True
                        if not self._writing_paused:  # else reading is paused already
                            self.transport.pause_reading()  # type: ignore[union-attr]
            elif kind is PongReceived:
                self._pong_received(event.data)  # type: ignore[union-attr]
            elif kind is CloseReceived:
                self._close_received()
            elif kind is ConnectionFailed:
                self._connection_failed(event)  # type: ignore[arg-type]

    def eof_received(self) -> bool | None:
        if self.engine is not None:
            self.engine.receive_eof()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self.engine is not None:
            self.engine.state = State.CLOSED
        if self._keepalive_handle is not None:
            keepalive_timers(self.loop).cancel(self, self._keepalive_handle)  # type: ignore[arg-type]
            self._keepalive_handle = None
        for handle in (self._keepalive_timeout_handle, self._close_handle):
            if handle is not None:
                handle.cancel()
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(_CLOSED)
        self._recv_waiter = None
        if self._drain_waiters:
            self._wake_writers()
        pings = self._pings
        if pings:
            for future, _ in pings.values():
                if not future.done():
                    future.set_exception(self._connection_closed_exc())
                    future.exception()  # retrieved: nobody may be awaiting it
            pings.clear()
        closed_waiter = self._closed_waiter
        if closed_waiter is not None and not closed_waiter.done():
            closed_waiter.set_result(None)
        self.logger.debug("= connection is CLOSED")

    def pause_writing(self) -> None:
        self._writing_paused = True
        # A peer that sends without reading what we owe it (pongs to a ping flood, close
        # echoes) must not grow our write buffer without bound: stop reading until it drains.
        if (
            not self._reading_paused
            and not self._lost
            and not self._lingering
            and self.transport is not None
        ):
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        transport = self.transport
        if (
            not self._reading_paused
            and not self._lost
            and transport is not None
            and not transport.is_closing()
        ):
            transport.resume_reading()
        self._wake_writers()

    def _wake_writers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, None
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if (
            transport is not None
            and not self._lost
            and not self._lingering
            and not transport.is_closing()
        ):
            transport.write(data)

    def _write_parts(self, parts: list[Any]) -> None:
        transport = self.transport
        if (
            transport is not None
            and not self._lost
            and not self._lingering
            and not transport.is_closing()
        ):
            transport.writelines(parts)

    async def _drain(self) -> None:
        if self._writing_paused and not self._lost:
            waiter = self.loop.create_future()  # type: ignore[union-attr]
            if self._drain_waiters is None:
                self._drain_waiters = []
            self._drain_waiters.append(waiter)
            await waiter

    # ------------------------------------------------------------------------ addresses

    @property
    def local_address(self) -> Any:
        """The local socket address, as ``socket.getsockname()`` gives it."""
        return None if self.transport is None else self.transport.get_extra_info("sockname")

    @property
    def remote_address(self) -> Any:
        """The peer's address, as ``socket.getpeername()`` gives it."""
        return None if self.transport is None else self.transport.get_extra_info("peername")

    # ------------------------------------------------------------------------ receiving

    # recv(), the async iterator and _recv_or_closed() share these steps; each awaits the
    # waiter itself (no coroutine in between, one message at a time matters).

    def _pop_message(self, messages: collections.deque[Data]) -> Data:
        message = messages.popleft()
        if self._reading_paused and len(messages) <= (self.max_queue or 0) // 4:
            self._reading_paused = False
            if not self._lost and not self._writing_paused:
                self.transport.resume_reading()  # type: ignore[union-attr]
        return message

    def _recv_waiter_or_none(self) -> asyncio.Future[Any] | None:
        """A future for the next message, or None when no message can come any more."""
        if self._recv_waiter is not None:
            raise RuntimeError(
                "cannot call recv while another coroutine is already waiting for the next message"
            )
        engine = self.engine
        if self._lost or engine is None or engine.close_rcvd is not None or engine.failure:
            return None
        waiter = self._recv_waiter = self.loop.create_future()  # type: ignore[union-attr]
        return waiter

    def _recv_cancelled(self, waiter: asyncio.Future[Any]) -> None:
        if waiter.done() and not waiter.cancelled():
            result = waiter.result()
            if result is not _CLOSED:
                # Cancellation loses no message.
                if not self._messages:
                    self._messages = collections.deque()
                self._messages.appendleft(result)  # type: ignore[union-attr]

    async def recv(self) -> Data:
        """Receive the next message: ``str`` for text, ``bytes`` for binary.

        Raises :exc:`ConnectionClosedOK` after a normal closure and
        :exc:`ConnectionClosedError` otherwise. Cancelling ``recv()`` is safe: no message is
        lost; the next call returns it.
        """
        messages = self._messages
        if messages:
            return self._pop_message(messages)  # type: ignore[arg-type]
        waiter = self._recv_waiter_or_none()
        if waiter is None:
            await self._raise_closed()
        try:
            message = await waiter  # type: ignore[misc]
        except asyncio.CancelledError:
            self._recv_cancelled(waiter)  # type: ignore[arg-type]
            raise
        finally:
            if self._recv_waiter is waiter:
                self._recv_waiter = None
        if message is _CLOSED:
            await self._raise_closed()
        return message  # type: ignore[no-any-return]

    async def _recv_or_closed(self) -> Data | None:
        """Like :meth:`recv`, but return None once the connection is closed (then read
        ``close_code`` and ``close_reason``) instead of raising :exc:`ConnectionClosed`."""
        messages = self._messages
        if messages:
            return self._pop_message(messages)  # type: ignore[arg-type]
        waiter = self._recv_waiter_or_none()
        if waiter is None:
            if not self._lost:
                await self._wait_for_lost(self.close_timeout)
            return None
        try:
            message = await waiter
        except asyncio.CancelledError:
            self._recv_cancelled(waiter)
            raise
        finally:
            if self._recv_waiter is waiter:
                self._recv_waiter = None
        if message is _CLOSED:
            if not self._lost:
                await self._wait_for_lost(self.close_timeout)
            return None
        return message  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncIterator[Data]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Data]:
        # recv() in a loop until ConnectionClosedOK, without raising it: a normal closure
        # just ends the iteration.
        while True:
            messages = self._messages
            if messages:
                yield self._pop_message(messages)  # type: ignore[arg-type]
                continue
            waiter = self._recv_waiter_or_none()
            if waiter is None:
                if await self._closed_normally():
                    return
                raise self._connection_closed_exc()
            try:
                message = await waiter
            except asyncio.CancelledError:
                self._recv_cancelled(waiter)
                raise
            finally:
                if self._recv_waiter is waiter:
                    self._recv_waiter = None
            if message is _CLOSED:
                if await self._closed_normally():
                    return
                raise self._connection_closed_exc()
            yield message

    # ------------------------------------------------------------------------ sending

    async def send(
        self, message: Data | bytearray | memoryview | Iterable[Data] | AsyncIterable[Data]
    ) -> None:
        """Send a message: ``str`` as text; ``bytes``, ``bytearray`` or ``memoryview`` as
        binary; an iterable or async iterable of them as one fragmented message (all of the
        same type, else TypeError). Waits while the write buffer is over ``write_limit``."""
        lock = self._fragment_lock
        if lock is not None and lock.locked():
            async with lock:
                pass
        engine = self.engine
        if engine is None or engine.state is not _OPEN or self._lost:
            await self._raise_closed()
        assert engine is not None
        kind = type(message)
        if (kind is str or kind is bytes) and len(message) >= LARGE_FRAME:  # type: ignore[arg-type]
            # Header and payload written apart: 1 MiB is not copied behind 10 bytes. (Not for
            # bytearray or memoryview: the caller may change them once send() returns.)
            self._write_parts(engine.send_message_parts(message))  # type: ignore[arg-type]
        elif kind is str:
            self._write(engine.send_text(message))  # type: ignore[arg-type]
        elif kind is bytes or isinstance(message, (bytes, bytearray, memoryview)):
            self._write(engine.send_binary(message))  # type: ignore[arg-type]
        elif isinstance(message, str):
            self._write(engine.send_text(message))
        elif isinstance(message, Mapping):
            raise TypeError("data is a dict-like object")
        elif isinstance(message, Iterable):
            await self._send_fragments(iter(message), is_async=False)
        elif isinstance(message, AsyncIterable):
            await self._send_fragments(message.__aiter__(), is_async=True)
        else:
            raise TypeError("data must be str, bytes-like, or an iterable")
        if self._writing_paused:
            await self._drain()

    async def _send_fragments(self, fragments: Any, is_async: bool) -> None:
        if self._fragment_lock is None:
            self._fragment_lock = asyncio.Lock()
        async with self._fragment_lock:
            engine = self.engine
            assert engine is not None
            try:
                first = await fragments.__anext__() if is_async else next(fragments)
            except (StopIteration, StopAsyncIteration):
                return  # an empty iterable sends nothing, as websockets does
            text = isinstance(first, str)
            if not text and not isinstance(first, (bytes, bytearray, memoryview)):
                raise TypeError("iterable must contain bytes or str")
            started = False
            pending = first
            try:
                while True:
                    try:
                        following = await fragments.__anext__() if is_async else next(fragments)
                    except (StopIteration, StopAsyncIteration):
                        following = None
                    if following is not None and isinstance(following, str) is not text:
                        raise TypeError("iterable must contain uniform types")
                    fin = following is None
                    if not started:
                        frame = (
                            engine.send_text(pending, fin)
                            if text
                            else engine.send_binary(pending, fin)
                        )
                        started = True
                    else:
                        frame = engine.send_continuation(pending, fin)
                    self._write(frame)
                    if fin:
                        return
                    pending = following
                    if self._writing_paused:
                        await self._drain()
            except BaseException:
                if started and engine.state is State.OPEN:
                    # A half-sent message cannot be completed: close with 1011 (websockets does).
                    self._fail(1011, "error in fragmented message")
                raise
