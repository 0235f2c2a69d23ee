"""The `make run` demo: the guide's shared counter (section 四.5) as a Starlette app on asgiws.

    asgiws demo_app:app --app-dir examples --host 127.0.0.1 --port 8000

Open http://127.0.0.1:8000/ in several browser tabs: every tab sees the counter and the number
of users change live. The page is served by the app itself ("/"), its WebSocket is "/ws", and
the server answers the health routes /healthz and /readyz without calling the app.

The guide's counter.py, with Starlette's WebSocket in place of the native handler: the same
events ({"type": "value"} and {"type": "users"}), the same actions ({"action": "plus"/"minus"}).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

# The guide's page (examples/counter.html), pointed at this app's own host and "/ws" instead of
# the guide's fixed ws://localhost:6789/, so it works behind any address, port or TLS proxy.
_GUIDE_SOCKET = "new WebSocket('ws://localhost:6789/')"
_PAGE_SOCKET = (
    "new WebSocket(`${window.location.protocol === 'https:' ? 'wss' : 'ws'}"
    "://${window.location.host}/ws`)"
)
_GUIDE_PAGE = (Path(__file__).parent / "counter.html").read_text(encoding="utf-8")
assert _GUIDE_SOCKET in _GUIDE_PAGE, "examples/counter.html no longer opens the guide's socket"
PAGE = _GUIDE_PAGE.replace(_GUIDE_SOCKET, _PAGE_SOCKET)
logger = logging.getLogger("demo_app")

# Every connected page, and the counter they share.
USERS: set[WebSocket] = set()
VALUE = 0


def users_event() -> str:
    return json.dumps({"type": "users", "count": len(USERS)})


def value_event() -> str:
    return json.dumps({"type": "value", "value": VALUE})


async def _send(websocket: WebSocket, message: str) -> None:
    try:
        await websocket.send_text(message)
    except (OSError, RuntimeError, WebSocketDisconnect):
        USERS.discard(websocket)  # it left while we were broadcasting


async def broadcast(message: str) -> None:
    """Send ``message`` to every page at once, so one slow page does not hold up the rest."""
    await asyncio.gather(*(_send(websocket, message) for websocket in list(USERS)))


async def homepage(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


async def counter(websocket: WebSocket) -> None:
    global VALUE
    await websocket.accept()
    USERS.add(websocket)
    try:
        await broadcast(users_event())
        await websocket.send_text(value_event())
        while True:
            data = json.loads(await websocket.receive_text())
            if data.get("action") == "minus":
                VALUE -= 1
                await broadcast(value_event())
            elif data.get("action") == "plus":
                VALUE += 1
                await broadcast(value_event())
            else:
                logger.error("unsupported event: %s", data)
    except (WebSocketDisconnect, json.JSONDecodeError):
        pass
    finally:
        USERS.discard(websocket)
        await broadcast(users_event())


app = Starlette(
    routes=[
        Route("/", homepage),
        WebSocketRoute("/ws", counter),
    ]
)
