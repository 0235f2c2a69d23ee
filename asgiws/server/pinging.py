"""Pings, pongs and keepalive of :class:`~asgiws.server.connection.WebSocketCommonProtocol`.

A mixin, so that the connection class stays one class while each of its jobs has a module.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from ..exceptions import ProtocolError
from ..protocol import Connection, State
from ..protocol.extensions.base import Extension
from .keepalive import keepalive_timers

__all__ = ["PingMixin"]


class PingMixin:
    """:meth:`ping`, :meth:`pong`, and a keepalive ping every ``ping_interval``."""

    if not TYPE_CHECKING:  # (mypy would hold the mixin's own code to an empty __slots__)
        __slots__ = ()  # the attributes are slots of the class that mixes it in

    # Set by WebSocketCommonProtocol.
    engine: Connection | None
    extensions: list[Extension]
    latency: float
    logger: logging.Logger | logging.LoggerAdapter[Any]
    loop: asyncio.AbstractEventLoop | None
    ping_interval: float | None
    ping_timeout: float | None
    _keepalive_handle: float | None
    _keepalive_timeout_handle: asyncio.TimerHandle | None
    _lost: bool
    _pings: dict[bytes, tuple[asyncio.Future[float], float]] | None

    if TYPE_CHECKING:  # the connection class defines them

        def _write(self, data: bytes) -> None: ...
        def _fail(self, code: int, reason: str) -> None: ...
        async def _raise_closed(self) -> None: ...

    async def ping(self, data: str | bytes | None = None) -> asyncio.Future[float]:
        """Send a ping; return a future that resolves to the latency when its pong arrives.

        ``pong_waiter = await ws.ping(); latency = await pong_waiter``
        """
        engine = self.engine
        if engine is None or engine.state is not State.OPEN or self._lost:
            await self._raise_closed()
        assert engine is not None and self.loop is not None
        if self._pings is None:
            self._pings = {}
        if data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        elif isinstance(data, str):
            data = data.encode()
        else:
            data = bytes(data)
        if len(data) > 125:
            # RFC 6455 §5.5: the peer would fail the connection with 1002.
            raise ProtocolError("control frame too long")
        if data in self._pings:
            raise RuntimeError("already waiting for a pong with the same data")
        waiter: asyncio.Future[float] = self.loop.create_future()
        self._pings[data] = (waiter, time.perf_counter())
        self._write(engine.send_ping(data))
        return waiter

    async def pong(self, data: str | bytes = b"") -> None:
        """Send a pong: also valid unsolicited, as a one-way heartbeat (RFC 6455 §5.5.3)."""
        engine = self.engine
        if engine is None or engine.state is not State.OPEN or self._lost:
            await self._raise_closed()
        assert engine is not None
        payload = data.encode() if isinstance(data, str) else bytes(data)
        if len(payload) > 125:
            raise ProtocolError("control frame too long")  # RFC 6455 §5.5
        self._write(engine.send_pong(payload))

    def _pong_received(self, data: bytes) -> None:
        if not self._pings or data not in self._pings:
            return  # an unsolicited pong is fine
        now = time.perf_counter()
        # A pong acknowledges its ping and every ping sent before it.
        while self._pings:
            ping_data, (waiter, sent_at) = next(iter(self._pings.items()))
            del self._pings[ping_data]
            if not waiter.done():
                waiter.set_result(now - sent_at)
            if ping_data == data:
                self.latency = now - sent_at
                break

    # ------------------------------------------------------------------------ keepalive

    def _keepalive_ping(self) -> None:
        self._keepalive_handle = None
        engine = self.engine
        if engine is None or engine.state is not State.OPEN or self._lost:
            return
        assert self.loop is not None
        for extension in self.extensions:
            # Once per ping_interval, let extensions give back what an idle connection does not
            # need (permessage-deflate drops its zlib objects and keeps the context).
            hibernate = getattr(extension, "hibernate", None)
            if hibernate is not None:
                hibernate()
        if self._pings is None:
            self._pings = {}
        data = os.urandom(4)
        while data in self._pings:
            data = os.urandom(4)
        waiter: asyncio.Future[float] = self.loop.create_future()
        self._pings[data] = (waiter, time.perf_counter())
        self._write(engine.send_ping(data))
        waiter.add_done_callback(self._keepalive_pong)
        if self.ping_timeout is not None:
            self._keepalive_timeout_handle = self.loop.call_later(
                self.ping_timeout, self._keepalive_timed_out
            )

    def _keepalive_pong(self, waiter: asyncio.Future[float]) -> None:
        if self._keepalive_timeout_handle is not None:
            self._keepalive_timeout_handle.cancel()
            self._keepalive_timeout_handle = None
        if not waiter.cancelled() and waiter.exception() is None and not self._lost:
            assert self.loop is not None and self.ping_interval is not None
            self._keepalive_handle = keepalive_timers(self.loop).schedule(self, self.ping_interval)

    def _keepalive_timed_out(self) -> None:
        self._keepalive_timeout_handle = None
        self.logger.info("! timed out waiting for keepalive pong")
        self._fail(1011, "keepalive ping timeout")
