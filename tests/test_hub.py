"""asgiws.hub without Redis: the memory backend, subscription bookkeeping, automatic
unsubscription, ASGI subscribers (Starlette served by asgiws, and the fallback for other
servers), bounds, errors and tasks left behind."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from helpers_asgi import serving, ws_url
from helpers_env import require
from helpers_hub import recv, room_server, run, until
from helpers_redis import free_port
from websockets.asyncio.client import connect as ws_connect

import asgiws
from asgiws.hub import Hub, HubUnavailable, MemoryBackend, connection_of

HOST = "127.0.0.1"
broadcast_module = importlib.import_module("asgiws.server.broadcast")


class RecordingBackend(MemoryBackend):
    """The memory backend, with a log of what the hub asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def subscribe(self, channel: str) -> None:
        self.calls.append(("subscribe", channel))
        super().subscribe(channel)

    def unsubscribe(self, channel: str) -> None:
        self.calls.append(("unsubscribe", channel))
        super().unsubscribe(channel)


# ---------------------------------------------------------------- the memory backend


def test_memory_fan_out_text_and_binary_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    frames: list[bytes] = []
    real_build_frame = broadcast_module.build_frame

    def counting_build_frame(*args: Any) -> bytes:
        frame = real_build_frame(*args)
        frames.append(frame)
        return frame

    monkeypatch.setattr(broadcast_module, "build_frame", counting_build_frame)

    async def main() -> None:
        async with Hub("memory://") as hub, room_server(hub) as port:
            clients = [await ws_connect(f"ws://{HOST}:{port}/") for _ in range(3)]
            await until(lambda: hub.subscriber_count("room") == 3)
            assert await hub.publish("room", "hello") == 1
            assert await hub.publish("room", b"\x00\xff") == 1
            assert await hub.publish("room", bytearray(b"ba")) == 1
            assert await hub.publish("nobody-here", "lost") == 0
            for client in clients:
                assert await recv(client) == "hello"
                assert await recv(client) == b"\x00\xff"
                assert await recv(client) == b"ba"
                await client.close()
        # One frame per message, whatever the number of connections.
        assert len(frames) == 3

    run(main)


def test_subscribe_unsubscribe_bookkeeping() -> None:
    async def main() -> None:
        backend = RecordingBackend()
        async with Hub(backend=backend) as hub:
            connections: list[Any] = []

            async def handler(websocket: Any) -> None:
                connections.append(websocket)
                await websocket.wait_closed()

            port = free_port()
            async with asgiws.serve(handler, HOST, port, compression=None):
                clients = [await ws_connect(f"ws://{HOST}:{port}/") for _ in range(2)]
                await until(lambda: len(connections) == 2)
                first, second = connections
                hub.subscribe("a", first)
                hub.subscribe("a", first)  # twice: harmless
                hub.subscribe("a", second)
                hub.subscribe("b", second)
                assert backend.calls == [("subscribe", "a"), ("subscribe", "b")]
                assert hub.subscriber_count("a") == 2
                assert hub.channels() == ["a", "b"]
                hub.unsubscribe("a", first)
                hub.unsubscribe("a", first)  # not subscribed any more: ignored
                assert backend.calls[-1] == ("subscribe", "b")
                hub.unsubscribe_all(second)
                assert sorted(backend.calls[2:]) == [("unsubscribe", "a"), ("unsubscribe", "b")]
                assert hub.channels() == []
                assert await hub.publish("a", "nobody") == 0
                for client in clients:
                    await client.close()

    run(main)


def test_closing_connection_unsubscribes_it() -> None:
    async def main() -> None:
        backend = RecordingBackend()
        async with Hub(backend=backend) as hub, room_server(hub) as port:
            leaving = await ws_connect(f"ws://{HOST}:{port}/")
            staying = await ws_connect(f"ws://{HOST}:{port}/")
            await until(lambda: hub.subscriber_count("room") == 2)
            await leaving.close()
            await until(lambda: hub.subscriber_count("room") == 1)
            assert backend.calls == [("subscribe", "room")]
            assert await hub.publish("room", "still here") == 1
            assert await recv(staying) == "still here"
            await staying.close()
            await until(lambda: hub.subscriber_count("room") == 0)
            assert backend.calls == [("subscribe", "room"), ("unsubscribe", "room")]

    run(main)


def test_subscriptions_before_start_and_closed_connections() -> None:
    async def main() -> None:
        backend = RecordingBackend()
        hub = Hub(backend=backend)
        sent: list[dict[str, Any]] = []

        async def send(event: dict[str, Any]) -> None:
            sent.append(event)

        hub.subscribe("early", send)
        assert backend.calls == []  # applied when the hub starts
        async with hub:
            assert backend.calls == [("subscribe", "early")]
            await hub.publish("early", "hi")
            await until(lambda: len(sent) == 1)
        assert sent == [{"type": "websocket.send", "text": "hi"}]

        # A connection that is already closed is not subscribed.
        async with Hub() as hub, room_server(hub, "x") as port:
            client = await ws_connect(f"ws://{HOST}:{port}/")
            await until(lambda: hub.subscriber_count("x") == 1)
            await client.close()
            await until(lambda: hub.subscriber_count("x") == 0)
            (connection,) = [c for c in list(hub._joined)] or [None]
            assert connection is None

    run(main)


def test_errors() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="no hub backend"):
            Hub("mqtt://127.0.0.1")
        with pytest.raises(TypeError):
            Hub("memory://", backend=MemoryBackend())
        hub = Hub()
        with pytest.raises(RuntimeError, match="publish inside"):
            await hub.publish("room", "too early")
        async with hub:
            with pytest.raises(TypeError):
                await hub.publish("room", 42)  # type: ignore[arg-type]
            with pytest.raises(ValueError):
                hub.subscribe("", lambda event: None)
            with pytest.raises(TypeError, match="cannot send"):
                hub.subscribe("room", object())
        with pytest.raises(RuntimeError):
            hub.subscribe("room", lambda event: None)
        with pytest.raises(RuntimeError):
            await hub.start()
        await hub.close()  # idempotent
        with pytest.raises(HubUnavailable):
            await MemoryBackend().publish("room", "not started")

    run(main)


# ---------------------------------------------------------------- ASGI subscribers


def test_asgi_fallback_bounded_slow_subscriber_does_not_block_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        fast: list[dict[str, Any]] = []
        stuck = asyncio.Event()

        async def fast_send(event: dict[str, Any]) -> None:
            fast.append(event)

        async def slow_send(event: dict[str, Any]) -> None:
            await stuck.wait()  # a client that never reads

        async with Hub(max_pending=4) as hub:
            hub.subscribe("room", slow_send)
            hub.subscribe("room", fast_send)
            for index in range(20):
                await hub.publish("room", f"m{index}")
                await until(lambda: len(fast) == index + 1)  # noqa: B023
            await hub.publish("room", b"\x01")
            await until(lambda: len(fast) == 21)
            assert fast[0] == {"type": "websocket.send", "text": "m0"}
            assert fast[-1] == {"type": "websocket.send", "bytes": b"\x01"}
            slow = hub._asgi_subscribers[slow_send]
            assert len(slow._pending) <= 4
            # the hub's exit cancels the stuck send: no task is left behind (run() checks)
        warnings = [r for r in caplog.records if "slow ASGI subscriber" in r.getMessage()]
        assert len(warnings) == 1

    with caplog.at_level(logging.WARNING, logger="asgiws.hub"):
        run(main)


def test_asgi_fallback_failing_send_unsubscribes() -> None:
    async def main() -> None:
        backend = RecordingBackend()

        async def gone(event: dict[str, Any]) -> None:
            raise RuntimeError("the client left")

        async with Hub(backend=backend) as hub:
            hub.subscribe("room", gone)
            await hub.publish("room", "first")
            await until(lambda: hub.subscriber_count("room") == 0)
            assert backend.calls == [("subscribe", "room"), ("unsubscribe", "room")]
            assert hub._asgi_subscribers == {}

    run(main)


def starlette_chat(hub: Hub, *, strip_extension: bool = False) -> tuple[Any, list[str]]:
    """A Starlette chat app using ``hub``; returns it and the kinds of subscribers seen."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    kinds: list[str] = []

    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        connection = connection_of(websocket)
        kinds.append("asgiws connection" if connection is not None else "ASGI send")
        hub.subscribe("chat", websocket)
        try:
            async for message in websocket.iter_text():
                await hub.publish("chat", message)
        finally:
            hub.unsubscribe("chat", websocket)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with hub:
            yield

    app: Any = Starlette(routes=[WebSocketRoute("/chat", chat)], lifespan=lifespan)
    if strip_extension:
        inner = app

        async def other_server(scope: Any, receive: Any, send: Any) -> None:
            # What another ASGI server gives: no asgiws.websocket extension.
            await inner({**scope, "extensions": {}}, receive, send)

        app = other_server
    return app, kinds


@pytest.mark.parametrize("strip_extension", [False, True], ids=["asgiws", "other-server"])
def test_starlette_app_uses_the_hub(strip_extension: bool) -> None:
    require("starlette")

    async def main() -> None:
        hub = Hub()
        app, kinds = starlette_chat(hub, strip_extension=strip_extension)
        async with serving(app, lifespan="on") as server:
            async with (
                ws_connect(ws_url(server, "/chat")) as alice,
                ws_connect(ws_url(server, "/chat")) as bob,
            ):
                await until(lambda: hub.subscriber_count("chat") == 2)
                await alice.send("hi bob")
                assert await recv(bob) == "hi bob"
                assert await recv(alice) == "hi bob"
            await until(lambda: hub.subscriber_count("chat") == 0)
        expected = "ASGI send" if strip_extension else "asgiws connection"
        assert kinds == [expected, expected]

    run(main)
