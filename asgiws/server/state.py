"""What a running ASGI server shares between its connections."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ServerState"]


@dataclass(eq=False)
class ServerState:
    """The shared, mutable state of one :class:`~asgiws.asgi.runner.Server`.

    ``connections``: the open connections that take part in graceful shutdown: each has a
    ``shutdown()`` method (HTTP connections finish their request; ASGI WebSocket sessions
    close with ``config.shutdown_close_code``). ``tasks``: the running application tasks.
    ``total_requests``: requests and WebSocket sessions handled so far. ``ready``: true once
    lifespan startup completed, false again as soon as shutdown (or the drain delay) begins;
    ``/readyz`` answers from it. ``shutting_down``: the server is on its way out.
    ``lifespan_state``: the dict the lifespan ``startup`` filled; each scope gets a copy.
    """

    connections: set[Any] = field(default_factory=set)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    total_requests: int = 0
    ready: bool = False
    shutting_down: bool = False
    lifespan_state: dict[str, Any] = field(default_factory=dict)
