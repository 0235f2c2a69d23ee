"""A Starlette chat on a Redis hub, served by ``asgiws --workers N`` in tests/test_hub_workers.py.

Loaded by the command as ``hub_apps:app`` with ``--app-dir tests``; ``HUB_REDIS_URL`` names
the Redis server. Each worker process starts its own hub in the lifespan.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiws.hub import Hub

CHANNEL = "workers"


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    async with Hub(os.environ["HUB_REDIS_URL"]) as hub:
        yield {"hub": hub}


async def chat(websocket: WebSocket) -> None:
    """Tell the client which worker it reached, then relay its texts to every worker's
    clients of the channel (itself included)."""
    hub: Hub = websocket.state.hub
    await websocket.accept()
    await websocket.send_text(str(os.getpid()))
    hub.subscribe(CHANNEL, websocket)
    try:
        async for text in websocket.iter_text():
            await hub.publish(CHANNEL, text)
    finally:
        hub.unsubscribe(CHANNEL, websocket)


app = Starlette(routes=[WebSocketRoute("/chat", chat)], lifespan=lifespan)
