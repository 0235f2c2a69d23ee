"""What a hub backend is, its errors, and the in-memory backend (one process)."""

from __future__ import annotations

import abc
from collections.abc import Callable

__all__ = ["Backend", "Deliver", "HubError", "HubUnavailable", "MemoryBackend"]

Deliver = Callable[[str, "str | bytes"], None]
"""Called by a backend with each message that arrives on a channel: ``(channel, message)``."""


class HubError(Exception):
    """Base class of the hub's errors."""


class HubUnavailable(HubError):
    """The backend cannot be reached right now (Redis is down, unreachable or too slow).

    Raised by :meth:`Hub.publish` and when a hub starts; the message was not published.
    """


class Backend(abc.ABC):
    """Carries messages between the hubs of every process.

    The :class:`~asgiws.hub.Hub` keeps the local subscribers; a backend only learns which
    channels this process needs (:meth:`subscribe` when a channel gets its first local
    subscriber, :meth:`unsubscribe` when it loses its last one) and calls the ``deliver``
    function given to :meth:`start` with every message published on those channels, by any
    process, this one included.
    """

    @abc.abstractmethod
    async def start(self, deliver: Deliver) -> None:
        """Connect; from now on, call ``deliver`` with the messages of subscribed channels.

        Raise :class:`HubUnavailable` when the backend cannot be reached.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop delivering, drop every subscription and release every resource."""

    @abc.abstractmethod
    def subscribe(self, channel: str) -> None:
        """Start receiving ``channel`` (it has its first local subscriber). Never blocks."""

    @abc.abstractmethod
    def unsubscribe(self, channel: str) -> None:
        """Stop receiving ``channel`` (it lost its last local subscriber). Never blocks."""

    @abc.abstractmethod
    async def publish(self, channel: str, message: str | bytes) -> int:
        """Send ``message`` to every process subscribed to ``channel``.

        Return how many hubs received it. Raise :class:`HubUnavailable` when the backend
        cannot take it.
        """

    async def flush(self) -> None:  # noqa: B027  (a backend without a round trip has nothing to wait for)
        """Wait until the backend has acknowledged every :meth:`subscribe` and
        :meth:`unsubscribe` made so far."""


class MemoryBackend(Backend):
    """Delivers within this process only: for a single process, and for tests."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._channels: set[str] = set()

    def __repr__(self) -> str:
        return "MemoryBackend()"

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def close(self) -> None:
        self._deliver = None
        self._channels.clear()

    def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, message: str | bytes) -> int:
        if self._deliver is None:
            raise HubUnavailable("the hub is not started")
        if channel not in self._channels:
            return 0
        self._deliver(channel, message)
        return 1
