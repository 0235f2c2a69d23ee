"""The closing handshake and the end of the TCP connection, for
:class:`~asgiws.server.connection.WebSocketCommonProtocol` (RFC 6455 §7).

A mixin, so that the connection class stays one class while each of its jobs has a module.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from ..protocol import OK_CLOSE_CODES, Connection, ConnectionFailed, State

__all__ = ["ClosingMixin"]


class ClosingMixin:
    """:meth:`close`, :meth:`wait_closed`, failing, closing the transport, and what the close
    left: :attr:`state`, :attr:`close_code`, the :exc:`ConnectionClosed` to raise."""

    if not TYPE_CHECKING:  # (mypy would hold the mixin's own code to an empty __slots__)
        __slots__ = ()  # the attributes are slots of the class that mixes it in

    # Set by WebSocketCommonProtocol.
    close_timeout: float | None
    engine: Connection | None
    is_client: bool
    logger: logging.Logger | logging.LoggerAdapter[Any]
    loop: asyncio.AbstractEventLoop | None
    transport: asyncio.Transport | None
    _close_handle: asyncio.TimerHandle | None
    _closed_waiter: asyncio.Future[None] | None
    _lingering: bool
    _lost: bool
    _reading_paused: bool

    if TYPE_CHECKING:  # the connection class defines it

        def _write(self, data: bytes) -> None: ...

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED."""
        if self._lost:
            return State.CLOSED
        if self.engine is None:
            return State.CONNECTING
        return self.engine.state

    @property
    def open(self) -> bool:
        """True while messages can be sent: after the handshake, before the close starts."""
        return self.state is State.OPEN

    @property
    def closed(self) -> bool:
        """True once the TCP connection is closed."""
        return self._lost

    @property
    def close_code(self) -> int | None:
        """The close code received (1005 for none, 1006 if the TCP connection dropped);
        None until the connection is closed."""
        if not self._lost:
            return None
        engine = self.engine
        if engine is None or engine.close_rcvd is None:
            return 1006
        return engine.close_rcvd.code

    @property
    def close_reason(self) -> str | None:
        """The close reason received; None until the connection is closed."""
        if not self._lost:
            return None
        engine = self.engine
        if engine is None or engine.close_rcvd is None:
            return ""
        return engine.close_rcvd.reason

    def _connection_closed_exc(self) -> ConnectionClosed:
        engine = self.engine
        rcvd = engine.close_rcvd if engine is not None else None
        sent = engine.close_sent if engine is not None else None
        then = engine.close_rcvd_then_sent if engine is not None else None
        if (
            rcvd is not None
            and rcvd.code in OK_CLOSE_CODES
            and sent is not None
            and sent.code in OK_CLOSE_CODES
        ):
            return ConnectionClosedOK(rcvd, sent, then)
        return ConnectionClosedError(rcvd, sent, then)

    async def _raise_closed(self) -> None:
        """Raise ConnectionClosed, once the close has finished so the codes are final."""
        if not self._lost:
            await self._wait_for_lost(self.close_timeout)
        raise self._connection_closed_exc()

    async def _closed_normally(self) -> bool:
        """Once the close has finished: whether recv() would raise ConnectionClosedOK."""
        if not self._lost:
            await self._wait_for_lost(self.close_timeout)
        engine = self.engine
        if engine is None:
            return False
        rcvd, sent = engine.close_rcvd, engine.close_sent
        return (
            rcvd is not None
            and rcvd.code in OK_CLOSE_CODES
            and sent is not None
            and sent.code in OK_CLOSE_CODES
        )

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake, waiting at most ``close_timeout`` for the peer,
        then close the TCP connection. Idempotent."""
        engine = self.engine
        if engine is None or self._lost:
            return
        if engine.close_sent is None and engine.state is State.OPEN:
            # An invalid code raises ProtocolError here and leaves the connection open.
            self._write(engine.send_close(code, reason))
        if engine.close_rcvd is not None and not self.is_client:
            self._close_transport()
        await self._wait_for_lost(self.close_timeout)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed, for whatever reason."""
        if self._lost:
            return
        await asyncio.shield(self.closed_future())

    def closed_future(self) -> asyncio.Future[None]:
        """A future that is done once the TCP connection is closed (at once if it is).

        For code that must react to the close without a task of its own per connection
        (``asgiws.hub`` unsubscribes this way): add a done callback; never cancel it.
        """
        waiter = self._closed_waiter
        if waiter is None:
            loop = self.loop if self.loop is not None else asyncio.get_running_loop()
            waiter = self._closed_waiter = loop.create_future()
            if self._lost:
                waiter.set_result(None)
        return waiter

    async def _wait_for_lost(self, timeout: float | None) -> None:
        if self._lost:
            return
        waiter = self._closed_waiter
        if waiter is None:
            if self.engine is None or self.loop is None:
                return  # never opened: nothing to wait for
            waiter = self._closed_waiter = self.loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except asyncio.TimeoutError:
            # The peer did not finish the closing handshake in time: drop the TCP connection.
            self._abort()
            if self._closed_waiter is not None:
                await asyncio.shield(self._closed_waiter)

    def _close_received(self) -> None:
        if self.is_client:
            # RFC 6455 §7.1.1: the server closes TCP first; give it close_timeout to do so.
            if self._close_handle is None and self.loop is not None:
                self._close_handle = self.loop.call_later(
                    self.close_timeout or 0, self._close_transport
                )
        else:
            self._close_transport()

    def _connection_failed(self, event: ConnectionFailed) -> None:
        self.logger.info(
            "! failing connection with code %d: %s", event.close.code, event.close.reason
        )
        self._linger_then_close()

    def _fail(self, code: int, reason: str) -> None:
        """Send a close frame if none was, then close the TCP connection."""
        engine = self.engine
        if engine is not None and engine.close_sent is None and engine.state is State.OPEN:
            self._write(engine.send_close(code, reason))
        self._linger_then_close()

    def _linger_then_close(self) -> None:
        """Close after a failure without losing the close frame to a peer that still sends.

        Closing a socket with unread input makes the kernel answer with RST, which can discard
        the close frame before the peer reads it. So: FIN after the close frame (write_eof),
        keep reading and dropping the peer's bytes (the engine ignores them now) until its EOF,
        and abort after close_timeout. TLS has no half-close: it closes at once, as before.
        """
        transport = self.transport
        if transport is None or self._lost or self._lingering or transport.is_closing():
            return
        if not transport.can_write_eof() or transport.get_extra_info("sslcontext") is not None:
            self._close_transport()
            return
        self._lingering = True
        transport.write_eof()
        # Nothing is delivered or answered any more: reading only drains the socket.
        self._reading_paused = False
        transport.resume_reading()
        if self._close_handle is not None:
            self._close_handle.cancel()
        if self.loop is not None:
            self._close_handle = self.loop.call_later(self.close_timeout or 0, self._abort)

    def _close_transport(self) -> None:
        """Close after the write buffer flushes; abort if that takes over close_timeout."""
        transport = self.transport
        if transport is None or self._lost:
            return
        if not transport.is_closing():
            transport.close()
        if self._close_handle is not None:
            self._close_handle.cancel()
            self._close_handle = None
        # With nothing left to write, a plain TCP transport closes at once; TLS still has its
        # own closing handshake, and data in the buffer may never drain: bound those.
        if self.loop is not None and (
            transport.get_write_buffer_size() or transport.get_extra_info("sslcontext") is not None
        ):
            self._close_handle = self.loop.call_later(self.close_timeout or 0, self._abort)

    def _abort(self) -> None:
        if self.transport is not None and not self._lost:
            self.transport.abort()
