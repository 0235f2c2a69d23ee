"""asgiws.hub through a real redis-server: round trips, the wire format, PUBSUB NUMSUB
bookkeeping, hubs sharing one Redis, Redis restarted or frozen mid-test, publishing while it
is down, an ASGI application, and no task left behind."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import pytest
from helpers_asgi import serving, ws_url
from helpers_env import require
from helpers_hub import recv, room_server, run, until
from helpers_redis import (
    RedisServer,
    free_port,
    own_redis_server_fixture,  # noqa: F401
    redis_package,
    redis_server_fixture,  # noqa: F401
)
from websockets.asyncio.client import connect as ws_connect

import asgiws
from asgiws.hub import Hub, HubUnavailable, RedisBackend

HOST = "127.0.0.1"
_prefixes = itertools.count()


async def until_numsub(redis: RedisServer, channel: str, count: int, prefix: str) -> None:
    await until(lambda: redis.numsub(channel, prefix) == count)


@pytest.fixture
def prefix() -> str:
    """A channel prefix of this test's own, on the Redis shared by the module."""
    return f"asgiws-test{next(_prefixes)}:"


def test_text_and_binary_round_trip_and_wire_format(
    redis_server: RedisServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    redis = redis_package()

    async def main() -> None:
        spy = redis.asyncio.Redis(host=HOST, port=redis_server.port)
        spy_pubsub = spy.pubsub()
        await spy_pubsub.subscribe(prefix + "room")
        async with (
            Hub(redis_server.url, channel_prefix=prefix) as hub,
            room_server(hub) as port,
            ws_connect(f"ws://{HOST}:{port}/") as client,
        ):
            await until(lambda: hub.subscriber_count("room") == 1)
            await asyncio.wait_for(hub.flush(), 10)
            assert await hub.publish("room", "héllo") == 2  # the hub and the spy
            assert await hub.publish("room", b"\x00\xff") == 2
            assert await recv(client) == "héllo"
            assert await recv(client) == b"\x00\xff"
            # Another program publishes in the documented format; junk is dropped.
            await spy.publish(prefix + "room", b"tfrom elsewhere")
            await spy.publish(prefix + "room", b"xjunk")
            await spy.publish(prefix + "room", b"t\xff\xfe")
            await spy.publish(prefix + "room", b"bend")
            assert await recv(client) == "from elsewhere"
            assert await recv(client) == b"end"
        payloads = []
        for _ in range(50):
            message = await spy_pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                payloads.append(message["data"])
            if len(payloads) == 6:
                break
        assert payloads[:2] == ["théllo".encode(), b"b\x00\xff"]
        await spy_pubsub.aclose()
        await spy.aclose()

    with caplog.at_level(logging.WARNING, logger="asgiws.hub"):
        run(main)
    dropped = [r.getMessage() for r in caplog.records if "dropped a message" in r.getMessage()]
    assert len(dropped) == 2, dropped


def test_numsub_follows_local_subscribers(redis_server: RedisServer, prefix: str) -> None:
    async def main() -> None:
        async with Hub(redis_server.url, channel_prefix=prefix) as hub:
            connections: list[Any] = []

            async def handler(websocket: Any) -> None:
                connections.append(websocket)
                await websocket.wait_closed()

            port = free_port()
            async with asgiws.serve(handler, HOST, port, compression=None):
                clients = [await ws_connect(f"ws://{HOST}:{port}/") for _ in range(2)]
                await until(lambda: len(connections) == 2)
                first, second = connections
                assert redis_server.numsub("room", prefix) == 0
                hub.subscribe("room", first)
                hub.subscribe("room", second)
                await asyncio.wait_for(hub.flush(), 10)
                assert redis_server.numsub("room", prefix) == 1  # one per process
                hub.unsubscribe("room", first)
                await asyncio.wait_for(hub.flush(), 10)
                assert redis_server.numsub("room", prefix) == 1
                hub.unsubscribe("room", second)
                await asyncio.wait_for(hub.flush(), 10)
                assert redis_server.numsub("room", prefix) == 0
                # Closing the last subscriber's connection unsubscribes the channel.
                hub.subscribe("room", second)
                await asyncio.wait_for(hub.flush(), 10)
                assert redis_server.numsub("room", prefix) == 1
                await clients[1].close()
                await until(lambda: hub.subscriber_count("room") == 0)
                await asyncio.wait_for(hub.flush(), 10)
                assert redis_server.numsub("room", prefix) == 0
                await clients[0].close()
        assert redis_server.numsub("room", prefix) == 0

    run(main)


def test_two_hubs_share_one_redis(redis_server: RedisServer, prefix: str) -> None:
    """Two hubs in one process stand for two processes (real processes: test_hub_processes)."""

    async def main() -> None:
        async with (
            Hub(redis_server.url, channel_prefix=prefix) as east,
            Hub(redis_server.url, channel_prefix=prefix) as west,
            room_server(east) as east_port,
            room_server(west) as west_port,
            ws_connect(f"ws://{HOST}:{east_port}/") as alice,
            ws_connect(f"ws://{HOST}:{west_port}/") as bob,
        ):
            await until(lambda: east.subscriber_count("room") == west.subscriber_count("room") == 1)
            await asyncio.wait_for(asyncio.gather(east.flush(), west.flush()), 10)
            assert await east.publish("room", "from east") == 2
            assert await recv(bob) == "from east"
            assert await recv(alice) == "from east"
            assert await west.publish("room", b"from west") == 2
            assert await recv(alice) == b"from west"
            assert await recv(bob) == b"from west"

    run(main)


def test_redis_restart_reconnects_and_delivery_resumes(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server = own_redis_server

    async def main() -> None:
        hub = Hub(redis_server.url, timeout=2, min_reconnect_delay=0.05, max_reconnect_delay=0.5)
        backend = hub.backend
        assert isinstance(backend, RedisBackend)
        async with hub, room_server(hub) as port, ws_connect(f"ws://{HOST}:{port}/") as client:
            await until(lambda: hub.subscriber_count("room") == 1)
            await asyncio.wait_for(hub.flush(), 10)
            await hub.publish("room", "before")
            assert await recv(client) == "before"

            await asyncio.to_thread(redis_server.stop)
            await until(lambda: not backend.connected)
            with pytest.raises(HubUnavailable, match="cannot publish"):
                await hub.publish("room", "while down")
            await asyncio.sleep(0.3)  # a few failed reconnection attempts
            await asyncio.to_thread(redis_server.start)

            await until(lambda: backend.reconnections >= 1 and backend.connected)
            await asyncio.wait_for(hub.flush(), 10)
            assert redis_server.numsub("room", "asgiws:") == 1
            assert await hub.publish("room", "after") == 1
            assert await recv(client) == "after"

    with caplog.at_level(logging.INFO, logger="asgiws.hub"):
        run(main)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("lost the connection to Redis" in m for m in messages), messages
    assert any("reconnected to Redis" in m for m in messages), messages


def test_frozen_redis_publish_raises_and_listener_reconnects(
    own_redis_server: RedisServer,
) -> None:
    """A Redis that answers nothing (SIGSTOP): publish fails within its timeout instead of
    hanging, the listener notices the silence (PING) and reconnects once Redis is back."""
    redis_server = own_redis_server

    async def main() -> None:
        hub = Hub(redis_server.url, timeout=0.5, health_check_interval=0.2)
        hub.backend.min_reconnect_delay = 0.05  # type: ignore[attr-defined]
        backend = hub.backend
        assert isinstance(backend, RedisBackend)
        async with hub, room_server(hub) as port, ws_connect(f"ws://{HOST}:{port}/") as client:
            await until(lambda: hub.subscriber_count("room") == 1)
            await asyncio.wait_for(hub.flush(), 10)
            redis_server.pause()
            try:
                with pytest.raises(HubUnavailable):
                    await asyncio.wait_for(hub.publish("room", "lost"), 20)
                await until(lambda: not backend.connected)
            finally:
                redis_server.resume()
            await until(lambda: backend.connected and backend.reconnections >= 1)
            await asyncio.wait_for(hub.flush(), 10)
            await hub.publish("room", "back")
            assert await recv(client) == "back"

    run(main)


def test_start_while_redis_is_down_raises(own_redis_server: RedisServer) -> None:
    redis_server = own_redis_server
    redis_server.stop()

    async def main() -> None:
        hub = Hub(redis_server.url, timeout=1)
        with pytest.raises(HubUnavailable, match="cannot connect to Redis"):
            async with hub:
                pytest.fail("the hub started without Redis")
        # The URL's credentials stay out of errors and logs.
        backend = RedisBackend("redis://user:secret@127.0.0.1:1/0", timeout=1)
        assert "secret" not in repr(backend)
        with pytest.raises(HubUnavailable) as raised:
            await backend.start(lambda channel, message: None)
        assert "secret" not in str(raised.value)

    run(main)


def test_starlette_app_through_redis(redis_server: RedisServer, prefix: str) -> None:
    require("starlette")
    from test_hub import starlette_chat

    async def main() -> None:
        hub = Hub(redis_server.url, channel_prefix=prefix)
        app, kinds = starlette_chat(hub)
        async with (
            serving(app, lifespan="on") as server,
            ws_connect(ws_url(server, "/chat")) as alice,
            ws_connect(ws_url(server, "/chat")) as bob,
        ):
            await until(lambda: hub.subscriber_count("chat") == 2)
            await asyncio.wait_for(hub.flush(), 10)
            assert redis_server.numsub("chat", prefix) == 1
            await alice.send("through redis")
            assert await recv(bob) == "through redis"
            assert await recv(alice) == "through redis"
        assert kinds == ["asgiws connection", "asgiws connection"]
        assert redis_server.numsub("chat", prefix) == 0

    run(main)
