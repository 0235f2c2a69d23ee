"""Starlette and FastAPI applications served by ``asgiws`` in tests/test_asgi_acceptance.py.

Loaded by the command as ``acceptance_apps:starlette_app`` / ``acceptance_apps:fastapi_app``
with ``--app-dir tests``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi import WebSocket as FastAPIWebSocket
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

SUBPROTOCOLS = ["chat.v2", "chat.v1"]


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    yield {"greeting": "hello from lifespan"}


# ---------------------------------------------------------------------------- Starlette


async def index(request: Request) -> Response:
    return PlainTextResponse("index")


async def info(request: Request) -> Response:
    return JSONResponse(
        {
            "query": dict(request.query_params),
            "path": request.url.path,
            "scheme": request.url.scheme,
            "client": request.client.host if request.client else None,
            "state": request.state.greeting,
        }
    )


async def echo_body(request: Request) -> Response:
    body = await request.body()
    return PlainTextResponse(f"{len(body)}:{body[:20].decode()}")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(5):
            yield f"chunk{index};".encode()
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


async def slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("seconds", "1")))
    return PlainTextResponse("finally")


async def ws_echo(websocket: WebSocket) -> None:
    offered = websocket.scope["subprotocols"]
    chosen = next((p for p in SUBPROTOCOLS if p in offered), None)
    await websocket.accept(subprotocol=chosen, headers=[(b"x-accepted-by", b"starlette")])
    await websocket.send_json({"state": websocket.state.greeting, "scheme": websocket.url.scheme})
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close-me":
                await websocket.close(4003, "as requested")
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


async def ws_reject(websocket: WebSocket) -> None:
    await websocket.close(code=1008)


async def ws_deny(websocket: WebSocket) -> None:
    await websocket.send_denial_response(PlainTextResponse("no entry", status_code=401))


async def ws_crash_before(websocket: WebSocket) -> None:
    raise RuntimeError("crash before accept")


async def ws_crash_after(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise RuntimeError("crash after accept")


async def ws_hold(websocket: WebSocket) -> None:
    """Stays open until the client or the server closes; reports the disconnect code."""
    await websocket.accept()
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect as exc:
        print(f"ws_hold disconnect {exc.code}", flush=True)


async def ws_stubborn(websocket: WebSocket) -> None:
    """Ignores the shutdown: never reads, never returns."""
    await websocket.accept()
    await asyncio.sleep(3600)


starlette_app = Starlette(
    routes=[
        Route("/", index),
        Route("/info", info),
        Route("/echo-body", echo_body, methods=["POST"]),
        Route("/stream", stream),
        Route("/slow", slow),
        WebSocketRoute("/ws/echo", ws_echo),
        WebSocketRoute("/ws/reject", ws_reject),
        WebSocketRoute("/ws/deny", ws_deny),
        WebSocketRoute("/ws/crash-before", ws_crash_before),
        WebSocketRoute("/ws/crash-after", ws_crash_after),
        WebSocketRoute("/ws/hold", ws_hold),
        WebSocketRoute("/ws/stubborn", ws_stubborn),
    ],
    lifespan=lifespan,
)


# ---------------------------------------------------------------------------- FastAPI

fastapi_app = FastAPI(lifespan=lifespan)


@fastapi_app.get("/items/{item_id}")
async def read_item(item_id: int, request: Request, q: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q, "state": request.state.greeting}


@fastapi_app.get("/stream")
async def fastapi_stream() -> StreamingResponse:
    async def numbers() -> AsyncIterator[str]:
        for index in range(3):
            yield f"{index}\n"

    return StreamingResponse(numbers(), media_type="text/plain")


@fastapi_app.websocket("/ws")
async def fastapi_ws(websocket: FastAPIWebSocket) -> None:
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol=offered[0] if offered else None)
    try:
        while True:
            data = await websocket.receive_json()
            if data.get("close"):
                await websocket.close(code=4000 + int(data["close"]), reason="closing")
                return
            await websocket.send_json({"echo": data, "state": websocket.state.greeting})
    except WebSocketDisconnect:
        return


@fastapi_app.websocket("/ws/crash")
async def fastapi_ws_crash(websocket: FastAPIWebSocket) -> None:
    await websocket.accept()
    raise ValueError("fastapi crash")


async def pid(request: Request) -> Response:
    import os

    return PlainTextResponse(str(os.getpid()))


async def block(request: Request) -> Response:
    """Blocks this worker's event loop (on purpose), so another worker must take new
    connections."""
    import time

    time.sleep(float(request.query_params.get("seconds", "1")))
    return PlainTextResponse("unblocked")


starlette_app.router.routes.append(Route("/pid", pid))
starlette_app.router.routes.append(Route("/block", block))
