"""Keepalive timers shared by many connections.

Every open WebSocket pings its peer every ``ping_interval`` seconds. One loop timer per
connection costs about half a kilobyte each (a ``TimerHandle`` and, on uvloop, a libuv timer):
as much as the rest of an idle connection. Here the deadlines are rounded up to a tick of a
sixteenth of the interval (at most a second), and one loop timer serves every connection due
at the same tick: a connection costs a set entry. A ping may come up to one tick late.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Any, Protocol

__all__ = ["KeepaliveTimers", "keepalive_timers"]


class Pinger(Protocol):
    def _keepalive_ping(self) -> None: ...


class KeepaliveTimers:
    """The shared timers of one event loop: :meth:`schedule` and :meth:`cancel` pings."""

    __slots__ = ("__weakref__", "_buckets", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # Deadline tick -> (loop timer, {id(connection): connection} due then). Keyed by id:
        # a subclass may define __eq__ and leave its connections unhashable.
        self._buckets: dict[float, tuple[asyncio.TimerHandle, dict[int, Any]]] = {}

    def schedule(self, connection: Pinger, delay: float) -> float:
        """Call ``connection._keepalive_ping()`` in ``delay`` seconds, or up to a tick later.

        Returns the ticket that :meth:`cancel` takes.
        """
        tick = min(max(delay / 16, 0.001), 1.0)
        when = math.ceil((self._loop.time() + delay) / tick) * tick
        bucket = self._buckets.get(when)
        if bucket is None:
            handle = self._loop.call_at(when, self._fire, when)
            bucket = self._buckets[when] = (handle, {})
        bucket[1][id(connection)] = connection
        return when

    def cancel(self, connection: Pinger, ticket: float) -> None:
        """Forget the ping of ``connection`` scheduled with ``ticket`` (no-op if it ran)."""
        bucket = self._buckets.get(ticket)
        if bucket is None:
            return
        # An empty bucket keeps its timer until it fires: connections that come and go
        # within a tick (a handshake benchmark, a reconnecting client) reuse it.
        bucket[1].pop(id(connection), None)

    def _fire(self, ticket: float) -> None:
        bucket = self._buckets.pop(ticket, None)
        if bucket is None:
            return
        for connection in bucket[1].values():
            try:
                connection._keepalive_ping()
            except Exception as exc:  # pragma: no cover - pings do not raise
                self._loop.call_exception_handler(
                    {"message": "keepalive ping failed", "exception": exc}
                )


_TIMERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, KeepaliveTimers] = (
    weakref.WeakKeyDictionary()
)


_ATTRIBUTE = "_asgiws_keepalive_timers"


def keepalive_timers(loop: asyncio.AbstractEventLoop) -> KeepaliveTimers:
    """The :class:`KeepaliveTimers` of ``loop``.

    Kept as an attribute of the loop (twice per connection, a weak dictionary lookup costs
    more than the rest of this module), or in a weak dictionary for loops that take none.
    """
    timers: KeepaliveTimers | None = getattr(loop, _ATTRIBUTE, None)
    if timers is None:
        timers = _TIMERS.get(loop)
        if timers is None:
            timers = KeepaliveTimers(loop)
            try:
                setattr(loop, _ATTRIBUTE, timers)
            except AttributeError:  # pragma: no cover - a loop class with slots
                _TIMERS[loop] = timers
    return timers
