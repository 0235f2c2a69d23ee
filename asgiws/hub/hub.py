"""The :class:`Hub`: channels of local subscribers, fed by a backend shared by all processes."""

from __future__ import annotations

import asyncio
import functools
from types import TracebackType
from typing import Any

from ..server.broadcast import broadcast
from ..server.connection import WebSocketCommonProtocol
from .backend import Backend, MemoryBackend
from .subscribers import ASGISubscriber, connection_of

__all__ = ["Hub"]

_NEW, _STARTED, _CLOSED = "new", "started", "closed"


def backend_from_url(url: str, **options: Any) -> Backend:
    """The backend that ``url`` names: ``memory://``, or ``redis://``, ``rediss://`` and
    ``unix://`` for :class:`~asgiws.hub.RedisBackend` (``options`` are its own)."""
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        if options:
            raise TypeError(f"the memory backend takes no options: {sorted(options)}")
        return MemoryBackend()
    if scheme in ("redis", "rediss", "unix"):
        from .redis_backend import RedisBackend

        return RedisBackend(url, **options)
    raise ValueError(f"no hub backend for {url!r}: use memory://, redis://, rediss:// or unix://")


class Hub:
    """Publish messages to channels; deliver them to the WebSockets subscribed, in every
    process that shares the backend.

    ::

        hub = Hub("redis://127.0.0.1:6379/0")   # or Hub("memory://"), Hub(backend=...)
        async with hub:
            hub.subscribe("room:1", websocket)
            await hub.publish("room:1", "hello")  # str: a text frame; bytes: a binary frame

    :param url: which backend: ``memory://`` (this process only, the default) or a Redis URL.
    :param backend: a :class:`~asgiws.hub.Backend` instance instead of ``url``.
    :param max_pending: for subscribers that are not asgiws connections (an ASGI WebSocket
        under another server), how many messages may wait for one of them before more are
        dropped.
    :param options: keyword arguments of the backend that ``url`` names (for Redis:
        ``channel_prefix``, ``timeout``, ... see :class:`~asgiws.hub.RedisBackend`).

    A process subscribes to a channel through the backend only while it has local
    subscribers. Delivery never waits for a client: asgiws connections get the message
    through :func:`asgiws.broadcast` (one frame for all of them, slow ones skipped with a
    warning), others through a bounded queue each. Messages are delivered at most once:
    what is published while a process is disconnected from Redis is lost for its clients.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        backend: Backend | None = None,
        max_pending: int = 32,
        **options: Any,
    ) -> None:
        if backend is not None and (url is not None or options):
            raise TypeError("give either url (and its options) or backend, not both")
        self.backend: Backend = (
            backend if backend is not None else backend_from_url(url or "memory://", **options)
        )
        self.max_pending = max_pending
        self._state = _NEW
        # channel -> its local subscribers, split by how they are sent to.
        self._connections: dict[str, set[WebSocketCommonProtocol]] = {}
        self._asgi: dict[str, set[ASGISubscriber]] = {}
        # Each subscriber's channels. A connection stays here (maybe with no channel) until it
        # closes, so that its close is watched once.
        self._joined: dict[WebSocketCommonProtocol, set[str]] = {}
        self._asgi_subscribers: dict[Any, ASGISubscriber] = {}
        self._watchers: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"Hub({self.backend!r}, {self._state})"

    # ------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect the backend and start delivering.

        Raises :class:`~asgiws.hub.HubUnavailable` when the backend cannot be reached.
        """
        if self._state != _NEW:
            raise RuntimeError(f"a hub starts once (this one is {self._state})")
        await self.backend.start(self._deliver)
        self._state = _STARTED
        for channel in self.channels():
            self.backend.subscribe(channel)

    async def close(self) -> None:
        """Unsubscribe everyone, stop delivering and close the backend. Idempotent."""
        if self._state == _CLOSED:
            return
        started = self._state == _STARTED
        self._state = _CLOSED
        self._connections.clear()
        self._asgi.clear()
        self._joined.clear()
        subscribers = list(self._asgi_subscribers.values())
        self._asgi_subscribers.clear()
        watchers = list(self._watchers)
        for watcher in watchers:
            watcher.cancel()
        try:
            if started:
                await self.backend.close()
        finally:
            for subscriber in subscribers:
                await subscriber.aclose()
            if watchers:
                await asyncio.wait(watchers)

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------------ subscribing

    def subscribe(self, channel: str, websocket: Any) -> None:
        """Deliver the messages of ``channel`` to ``websocket`` from now on.

        ``websocket`` is an asgiws connection (the ``websocket`` of a native ``serve()``
        handler, a client connection), a Starlette or FastAPI ``WebSocket`` (served by
        asgiws, it takes the fast path of its connection; under another server, messages are
        sent with ``websocket.send``), or a bare ASGI ``send`` callable. Subscribing twice is
        harmless. An asgiws connection is unsubscribed from everything when it closes; any
        other subscriber when sending to it fails, or with :meth:`unsubscribe`.

        The backend learns about a channel's first subscriber without waiting; ``await
        hub.flush()`` waits until it is subscribed (for Redis: acknowledged).
        """
        if not isinstance(channel, str) or not channel:
            raise ValueError("a channel is a non-empty str")
        if self._state == _CLOSED:
            raise RuntimeError("the hub is closed")
        connection = connection_of(websocket)
        if connection is not None:
            if connection.closed:
                return
            joined = self._joined.get(connection)
            if joined is None:
                joined = self._joined[connection] = set()
                self._watch(connection)
            if channel in joined:
                return
            joined.add(channel)
            self._connections.setdefault(channel, set()).add(connection)
        else:
            subscriber = self._asgi_subscribers.get(websocket)
            if subscriber is None:
                send = getattr(websocket, "send", websocket)
                if not callable(send):
                    raise TypeError(f"cannot send to {websocket!r}")
                subscriber = ASGISubscriber(send, self._asgi_failed, self.max_pending)
                self._asgi_subscribers[websocket] = subscriber
            if channel in subscriber.channels:
                return
            subscriber.channels.add(channel)
            self._asgi.setdefault(channel, set()).add(subscriber)
        if self.subscriber_count(channel) == 1 and self._state == _STARTED:
            self.backend.subscribe(channel)

    def unsubscribe(self, channel: str, websocket: Any) -> None:
        """Stop delivering ``channel`` to ``websocket``. Unknown pairs are ignored."""
        connection = connection_of(websocket)
        if connection is not None:
            joined = self._joined.get(connection)
            if joined is None or channel not in joined:
                return
            joined.discard(channel)
            self._forget_connection(channel, connection)
        else:
            subscriber = self._asgi_subscribers.get(websocket)
            if subscriber is None or channel not in subscriber.channels:
                return
            subscriber.channels.discard(channel)
            if not subscriber.channels:
                del self._asgi_subscribers[websocket]
            self._forget_asgi(channel, subscriber)

    def unsubscribe_all(self, websocket: Any) -> None:
        """Stop delivering every channel to ``websocket``."""
        connection = connection_of(websocket)
        if connection is not None:
            for channel in list(self._joined.get(connection, ())):
                self.unsubscribe(channel, connection)
        else:
            subscriber = self._asgi_subscribers.get(websocket)
            if subscriber is not None:
                for channel in list(subscriber.channels):
                    self.unsubscribe(channel, websocket)

    def subscriber_count(self, channel: str) -> int:
        """How many local subscribers ``channel`` has in this process."""
        return len(self._connections.get(channel, ())) + len(self._asgi.get(channel, ()))

    def channels(self) -> list[str]:
        """The channels that have local subscribers in this process."""
        return sorted({*self._connections, *self._asgi})

    async def flush(self) -> None:
        """Wait until the backend acknowledged every subscribe and unsubscribe so far.

        Then a message published anywhere reaches this process's subscribers. With Redis
        down, this waits until it is back: bound it with a timeout if needed.
        """
        if self._state != _STARTED:
            raise RuntimeError("the hub is not started")
        await self.backend.flush()

    def _forget_connection(self, channel: str, connection: WebSocketCommonProtocol) -> None:
        connections = self._connections.get(channel)
        if connections is None:
            return
        connections.discard(connection)
        if not connections:
            del self._connections[channel]
            self._channel_emptied(channel)

    def _forget_asgi(self, channel: str, subscriber: ASGISubscriber) -> None:
        subscribers = self._asgi.get(channel)
        if subscribers is None:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self._asgi[channel]
            self._channel_emptied(channel)

    def _channel_emptied(self, channel: str) -> None:
        if self._state == _STARTED and not self.subscriber_count(channel):
            self.backend.unsubscribe(channel)

    # ------------------------------------------------------------------------ closing

    def _watch(self, connection: WebSocketCommonProtocol) -> None:
        """Call :meth:`_connection_closed` when ``connection`` closes, without a task when
        the connection has a close future (it does, in asgiws)."""
        callback = functools.partial(self._connection_closed, connection)
        closed_future = getattr(connection, "closed_future", None)
        if closed_future is not None:
            closed_future().add_done_callback(callback)
            return
        watcher = asyncio.get_running_loop().create_task(connection.wait_closed())
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        watcher.add_done_callback(callback)

    def _connection_closed(self, connection: WebSocketCommonProtocol, _: Any) -> None:
        for channel in self._joined.pop(connection, ()):
            self._forget_connection(channel, connection)

    def _asgi_failed(self, subscriber: ASGISubscriber) -> None:
        for key, known in list(self._asgi_subscribers.items()):
            if known is subscriber:
                del self._asgi_subscribers[key]
        for channel in list(subscriber.channels):
            self._forget_asgi(channel, subscriber)
        subscriber.channels.clear()

    # ------------------------------------------------------------------------ messages

    async def publish(self, channel: str, message: str | bytes | bytearray | memoryview) -> int:
        """Send ``message`` to the subscribers of ``channel`` in every process.

        ``str`` arrives as a text frame, bytes-like as a binary frame. Returns how many hubs
        (processes) received it, this one included when it has subscribers.

        Raises :class:`~asgiws.hub.HubUnavailable` when the backend cannot take the message
        (Redis down, unreachable, or slower than its ``timeout``): it was not published.
        """
        if self._state != _STARTED:
            raise RuntimeError(f"the hub is {self._state}: publish inside `async with hub:`")
        if not isinstance(message, (str, bytes)):
            if not isinstance(message, (bytearray, memoryview)):
                raise TypeError("message must be str or bytes-like")
            message = bytes(message)
        return await self.backend.publish(channel, message)

    def _deliver(self, channel: str, message: str | bytes) -> None:
        connections = self._connections.get(channel)
        if connections:
            broadcast(connections, message)
        subscribers = self._asgi.get(channel)
        if subscribers:
            for subscriber in subscribers:
                subscriber.put(message)
