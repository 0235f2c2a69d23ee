"""The ASGI lifespan protocol: on, off, auto, failures, and the state shared with scopes."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers_asgi import TestServer, run, serving, until

from asgiws import Config


def lifespan_app(events: list[str], *, fail_startup: bool = False, fail_shutdown: bool = False):  # type: ignore[no-untyped-def]
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            events.append(f"{scope['type']} state={scope.get('state')}")
            if scope["type"] == "websocket":
                await receive()
                await send({"type": "websocket.close"})
            return
        assert scope["asgi"]["version"] == "3.0"
        message = await receive()
        assert message["type"] == "lifespan.startup"
        events.append("startup")
        if fail_startup:
            await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
            return
        scope["state"]["db"] = "connected"
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        events.append("shutdown")
        if fail_shutdown:
            await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})
        else:
            await send({"type": "lifespan.shutdown.complete"})

    return app


async def _upgrade(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


def test_startup_and_shutdown_run_in_order_and_state_is_shared() -> None:
    events: list[str] = []

    async def main() -> None:
        async with serving(lifespan_app(events), lifespan="on") as server:
            assert events == ["startup"]
            assert server.server_state.ready
            assert server.server_state.lifespan_state == {"db": "connected"}
            assert (await _upgrade(server.config.port)).startswith(b"HTTP/1.1 403 ")
        assert events == ["startup", "websocket state={'db': 'connected'}", "shutdown"]
        assert not server.server_state.ready

    run(main)


def test_startup_failure_stops_before_listening(caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []
    caplog.set_level(logging.INFO, logger="asgiws")

    async def main() -> TestServer:
        server = TestServer(Config(lifespan_app(events, fail_startup=True), port=0))
        await asyncio.wait_for(server.serve(), 10)
        return server

    server = run(main)
    assert server.startup_failed and not server.started and server.servers == []
    assert events == ["startup"]
    assert "database unreachable" in caplog.text
    assert "Application startup failed. Exiting." in caplog.text


def test_shutdown_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []

    async def main() -> None:
        async with serving(lifespan_app(events, fail_shutdown=True), lifespan="auto"):
            pass

    run(main)
    assert events == ["startup", "shutdown"]
    assert "flush failed" in caplog.text
    assert "Application shutdown failed." in caplog.text


async def no_lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        raise RuntimeError(f"unsupported scope type {scope['type']}")
    await receive()
    await send({"type": "websocket.close"})


def test_auto_treats_a_raising_app_as_not_supporting_lifespan(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="asgiws")

    async def main() -> None:
        async with serving(no_lifespan_app, lifespan="auto") as server:
            assert server.server_state.ready
            assert (await _upgrade(server.config.port)).startswith(b"HTTP/1.1 403 ")

    run(main)
    assert "ASGI 'lifespan' protocol appears unsupported." in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_on_fails_when_the_app_raises() -> None:
    async def main() -> TestServer:
        server = TestServer(Config(no_lifespan_app, port=0, lifespan="on"))
        await asyncio.wait_for(server.serve(), 10)
        return server

    assert run(main).startup_failed


def test_off_never_calls_the_app_with_lifespan() -> None:
    events: list[str] = []

    async def main() -> None:
        async with serving(lifespan_app(events), lifespan="off") as server:
            assert server.server_state.ready
            await _upgrade(server.config.port)
            await until(lambda: bool(events))

    run(main)
    assert events == ["websocket state={}"]


def test_failed_startup_exits_with_status_3(tmp_path: Path) -> None:
    (tmp_path / "failing.py").write_text(
        textwrap.dedent(
            """
            async def app(scope, receive, send):
                assert scope["type"] == "lifespan"
                await receive()
                await send({"type": "lifespan.startup.failed", "message": "cannot start: no DB"})
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "asgiws", "failing:app", "--app-dir", str(tmp_path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3, result.stderr
    assert "cannot start: no DB" in result.stderr
    assert "Application startup failed. Exiting." in result.stderr
    assert "Traceback" not in result.stderr
