"""Who can subscribe to a hub: asgiws connections, and ASGI WebSockets of any server.

An asgiws connection (the native ``serve()`` handler's ``websocket``, a client connection,
or the connection behind an ASGI ``websocket`` scope served by asgiws) takes the fast path:
:func:`asgiws.broadcast` writes one frame, encoded once, to all of them at once.

Anything else that can send ASGI ``websocket.send`` events (a Starlette or FastAPI
``WebSocket`` under another ASGI server, or a bare ASGI ``send`` callable) gets an
:class:`ASGISubscriber`: a queue of at most ``max_pending`` messages, drained by a task that
exists only while the queue is not empty. When the queue is full, messages are dropped for
that subscriber, with a warning, so that a slow client delays no one and holds no memory
beyond its bound.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..server.connection import WebSocketCommonProtocol

__all__ = ["SCOPE_EXTENSION", "ASGISubscriber", "connection_of"]

logger = logging.getLogger("asgiws.hub")

SCOPE_EXTENSION = "asgiws.websocket"
"""The key, in an ASGI scope's ``extensions``, of ``{"connection": WebSocketCommonProtocol}``.

The asgiws ASGI server adds it to a ``websocket`` scope when the application accepts the
connection."""

Send = Callable[[dict[str, Any]], Awaitable[None]]


def connection_of(websocket: Any) -> WebSocketCommonProtocol | None:
    """The asgiws connection behind ``websocket``, if there is one.

    ``websocket`` may be an asgiws connection, an object with an ASGI ``scope`` attribute
    (Starlette's and FastAPI's ``WebSocket``), or an ASGI scope itself.
    """
    if isinstance(websocket, WebSocketCommonProtocol):
        return websocket
    scope = websocket if isinstance(websocket, Mapping) else getattr(websocket, "scope", None)
    if not isinstance(scope, Mapping):
        return None
    extension = (scope.get("extensions") or {}).get(SCOPE_EXTENSION)
    connection = extension.get("connection") if isinstance(extension, Mapping) else None
    return connection if isinstance(connection, WebSocketCommonProtocol) else None


class ASGISubscriber:
    """Sends hub messages through an ASGI ``send`` callable, one at a time, in order.

    ``on_failure`` is called (once) when sending raises: the client left; the hub then
    forgets this subscriber.
    """

    __slots__ = ("_dropping", "_pending", "_task", "channels", "max_pending", "on_failure", "send")

    def __init__(
        self, send: Send, on_failure: Callable[[ASGISubscriber], None], max_pending: int
    ) -> None:
        self.send = send
        self.on_failure = on_failure
        self.max_pending = max_pending
        self.channels: set[str] = set()
        self._pending: collections.deque[str | bytes] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._dropping = False

    def put(self, message: str | bytes) -> None:
        """Queue ``message``, or drop it when ``max_pending`` messages wait already."""
        if len(self._pending) >= self.max_pending:
            if not self._dropping:
                self._dropping = True
                logger.warning(
                    "hub: a slow ASGI subscriber has %d messages waiting; dropping more",
                    len(self._pending),
                )
            return
        self._pending.append(message)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        pending = self._pending
        try:
            while pending:
                message = pending.popleft()
                if isinstance(message, str):
                    await self.send({"type": "websocket.send", "text": message})
                else:
                    await self.send({"type": "websocket.send", "bytes": message})
                self._dropping = False
        except Exception as exc:
            logger.debug("hub: an ASGI subscriber failed (%r); unsubscribing it", exc)
            pending.clear()
            self._task = None
            self.on_failure(self)
        finally:
            self._task = None

    async def aclose(self) -> None:
        """Drop what waits and stop the sending task, if any."""
        self._pending.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
