"""Acceptance: the ``asgiws`` command serving Starlette and FastAPI apps, driven over loopback
by httpx and the ``websockets`` library, with both HTTP parsers, with asyncio and uvloop; and
the graceful shutdown on SIGTERM (1012 to WebSocket clients, readiness 503 during the drain,
in-flight requests finished, exit status 0) and on a second SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.exceptions
from helpers_asgi import HOST, asgiws_command, free_port, stop, wait_listening
from helpers_env import require, unavailable
from websockets.asyncio.client import connect as ws_connect

from asgiws.http import available_parsers

require("starlette")
require("fastapi")

TESTS = Path(__file__).parent
COMBINATIONS = [("httptools", "asyncio"), ("h11", "asyncio"), ("httptools", "uvloop"),
                ("h11", "uvloop")]  # fmt: skip


class Running:
    """A running ``asgiws`` command and where it listens."""

    def __init__(self, process: Any, port: int) -> None:
        self.process = process
        self.port = port
        self.http = f"http://{HOST}:{port}"
        self.ws = f"ws://{HOST}:{port}"


def start(app: str, *args: str, port: int | None = None) -> Running:
    port = port or free_port()
    process = asgiws_command(
        f"acceptance_apps:{app}", "--app-dir", str(TESTS), "--port", str(port), *args
    )
    wait_listening(process, port)
    return Running(process, port)


def combination_id(value: tuple[str, str]) -> str:
    return "-".join(value)


def _check_available(http: str, loop: str) -> None:
    if http not in available_parsers():
        unavailable(f"{http} is not installed")
    if loop == "uvloop":
        require("uvloop")


@pytest.fixture(scope="module", params=COMBINATIONS, ids=combination_id)
def starlette_server(request: pytest.FixtureRequest) -> Iterator[Running]:
    http, loop = request.param
    _check_available(http, loop)
    running = start("starlette_app", "--http", http, "--loop", loop)
    yield running
    status, _, err = stop(running.process)
    assert status == 0, err


@pytest.fixture(scope="module", params=COMBINATIONS[:2], ids=combination_id)
def fastapi_server(request: pytest.FixtureRequest) -> Iterator[Running]:
    http, loop = request.param
    _check_available(http, loop)
    running = start("fastapi_app", "--http", http, "--loop", loop)
    yield running
    status, _, err = stop(running.process)
    assert status == 0, err


def run(coroutine: Any, timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def client(url: str, **options: Any) -> Any:
    options.setdefault("proxy", None)
    options.setdefault("open_timeout", 5)
    options.setdefault("close_timeout", 5)
    return ws_connect(url, **options)


async def rejected(url: str) -> Any:
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        async with client(url):
            pass
    return info.value.response


# ---------------------------------------------------------------------------- Starlette


def test_starlette_http_routes(starlette_server: Running) -> None:
    with httpx.Client(base_url=starlette_server.http, timeout=5) as http:
        response = http.get("/")
        assert response.status_code == 200 and response.text == "index"
        assert response.headers["server"] == "asgiws" and "date" in response.headers
        info = http.get("/info", params={"a": "1", "b": "two words"}).json()
        assert info == {
            "query": {"a": "1", "b": "two words"},
            "path": "/info",
            "scheme": "http",
            "client": "127.0.0.1",
            "state": "hello from lifespan",
        }
        body = b"x" * 300_000
        assert http.post("/echo-body", content=body).text == "300000:" + "x" * 20
        assert http.get("/missing").status_code == 404
        assert http.get("/healthz").text == "OK\n"
        assert http.get("/readyz").status_code == 200


def test_starlette_streaming_response(starlette_server: Running) -> None:
    with httpx.Client(base_url=starlette_server.http, timeout=5) as http:
        with http.stream("GET", "/stream") as response:
            assert response.headers.get("transfer-encoding") == "chunked"
            parts = list(response.iter_text())
        assert "".join(parts) == "".join(f"chunk{index};" for index in range(5))


def test_starlette_websocket_subprotocol_headers_and_echo(starlette_server: Running) -> None:
    async def main() -> None:
        async with client(
            starlette_server.ws + "/ws/echo", subprotocols=["chat.v1", "chat.v2"]
        ) as ws:
            assert ws.subprotocol == "chat.v2"
            assert ws.response.headers["x-accepted-by"] == "starlette"
            assert json.loads(await ws.recv()) == {"state": "hello from lifespan", "scheme": "ws"}
            await ws.send("text message")
            assert await ws.recv() == "text message"
            await ws.send(b"\x01\x02")
            assert await ws.recv() == b"\x01\x02"
            big = "y" * 200_000
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send("close-me")
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd.code == 4003 and info.value.rcvd.reason == "as requested"

    run(main())


def test_starlette_websocket_permessage_deflate(starlette_server: Running) -> None:
    async def main() -> None:
        async with client(starlette_server.ws + "/ws/echo", compression="deflate") as ws:
            assert "permessage-deflate" in ws.response.headers["sec-websocket-extensions"]
            await ws.recv()
            await ws.send("z" * 100_000)
            assert await ws.recv() == "z" * 100_000

    run(main())


def test_starlette_websocket_rejections(starlette_server: Running) -> None:
    async def main() -> None:
        assert (await rejected(starlette_server.ws + "/ws/reject")).status_code == 403
        denied = await rejected(starlette_server.ws + "/ws/deny")
        assert denied.status_code == 401 and denied.body == b"no entry"
        assert (await rejected(starlette_server.ws + "/ws/crash-before")).status_code == 500
        assert (await rejected(starlette_server.ws + "/ws/missing")).status_code == 403
        async with client(starlette_server.ws + "/ws/crash-after") as ws:
            await ws.send("go")
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1011

    run(main())


# ---------------------------------------------------------------------------- FastAPI


def test_fastapi_http_and_streaming(fastapi_server: Running) -> None:
    with httpx.Client(base_url=fastapi_server.http, timeout=5) as http:
        assert http.get("/items/42", params={"q": "x"}).json() == {
            "item_id": 42,
            "q": "x",
            "state": "hello from lifespan",
        }
        assert http.get("/items/not-a-number").status_code == 422
        assert http.get("/stream").text == "0\n1\n2\n"


def test_fastapi_websocket(fastapi_server: Running) -> None:
    async def main() -> None:
        async with client(fastapi_server.ws + "/ws", subprotocols=["json.v1"]) as ws:
            assert ws.subprotocol == "json.v1"
            await ws.send(json.dumps({"n": 1}))
            assert json.loads(await ws.recv()) == {"echo": {"n": 1}, "state": "hello from lifespan"}
            await ws.send(json.dumps({"close": 7}))
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd.code == 4007 and info.value.rcvd.reason == "closing"
        async with client(fastapi_server.ws + "/ws/crash") as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1011

    run(main())


# ---------------------------------------------------------------------------- shutdown


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_sigterm_drains_then_closes_websockets_with_1012(loop: str) -> None:
    if loop == "uvloop":
        require("uvloop")
    server = start("starlette_app", "--loop", loop, "--drain-delay", "4")

    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
            assert (await http.get("/readyz")).status_code == 200
            async with client(server.ws + "/ws/hold") as ws1, client(server.ws + "/ws/hold") as ws2:
                slow = asyncio.create_task(http.get("/slow", params={"seconds": "2.5"}))
                await asyncio.sleep(0.2)  # the slow request is in flight
                server.process.send_signal(signal.SIGTERM)
                # Readiness fails first, while requests and WebSockets are still served.
                for _ in range(100):  # bounded: until the server has seen the signal
                    seen["readyz"] = (await http.get("/readyz")).status_code
                    if seen["readyz"] != 200:
                        break
                    await asyncio.sleep(0.05)
                seen["healthz"] = (await http.get("/healthz")).status_code
                seen["index_during_drain"] = (await http.get("/")).text
                # Both WebSockets still answer pings after readiness failed.
                for ws in (ws1, ws2):
                    await asyncio.wait_for(await ws.ping(), 10)
                codes = []
                for ws in (ws1, ws2):
                    with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
                        while True:
                            await asyncio.wait_for(ws.recv(), 10)
                    codes.append((info.value.rcvd.code, info.value.rcvd.reason))
                seen["codes"] = codes
                response = await slow
                seen["slow"] = (response.status_code, response.text)
        return seen

    try:
        seen = run(main())
    finally:
        status, out, err = stop(server.process)
    assert seen["readyz"] == 503
    assert seen["healthz"] == 200
    assert seen["index_during_drain"] == "index"
    assert seen["codes"] == [(1012, "service restart"), (1012, "service restart")]
    assert seen["slow"] == (200, "finally")  # the in-flight request finished
    assert status == 0, err
    assert out.count("ws_hold disconnect 1012") == 2
    assert "Application shutdown complete." in err


def test_second_sigint_forces_exit() -> None:
    server = start("starlette_app")

    async def main() -> None:
        async with client(server.ws + "/ws/stubborn") as ws:
            server.process.send_signal(signal.SIGINT)
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)

    try:
        run(main())
        time.sleep(0.5)
        assert server.process.poll() is None  # still waiting for the stubborn app
    finally:
        status, _, err = stop(server.process, signal.SIGINT)
    assert status == 0, err
    assert "Waiting for connections to close" in err


def test_timeout_graceful_shutdown_cancels_stubborn_apps() -> None:
    server = start("starlette_app", "--timeout-graceful-shutdown", "1")

    async def main() -> None:
        async with client(server.ws + "/ws/stubborn") as ws:
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.rcvd.code == 1012

    try:
        run(main())
    finally:
        status, _, err = stop(server.process, timeout=10)
    assert status == 0, err
    assert "timeout graceful shutdown exceeded" in err
    assert "Application shutdown complete." in err


def test_make_run_demo_counter_broadcasts() -> None:
    port = free_port()
    process = asgiws_command(
        "demo_app:app", "--app-dir", str(TESTS.parent / "examples"), "--port", str(port)
    )
    wait_listening(process, port)

    async def main() -> None:
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=5) as http:
            page = await http.get("/")
            assert page.status_code == 200 and "/ws`" in page.text
            assert (await http.get("/readyz")).status_code == 200
        url = f"ws://{HOST}:{port}/ws"
        async with client(url) as first:
            assert json.loads(await first.recv()) == {"type": "users", "count": 1}
            assert json.loads(await first.recv()) == {"type": "value", "value": 0}
            async with client(url) as second:
                assert json.loads(await first.recv()) == {"type": "users", "count": 2}
                assert json.loads(await second.recv()) == {"type": "users", "count": 2}
                assert json.loads(await second.recv()) == {"type": "value", "value": 0}
                await second.send(json.dumps({"action": "plus"}))
                assert json.loads(await first.recv()) == {"type": "value", "value": 1}
                assert json.loads(await second.recv()) == {"type": "value", "value": 1}
            assert json.loads(await first.recv()) == {"type": "users", "count": 1}

    try:
        run(main())
    finally:
        status, _, err = stop(process)
    assert status == 0, err


def test_workers_share_the_socket_and_dead_workers_are_replaced() -> None:
    server = start("starlette_app", "--workers", "2")

    def pids(count: int) -> set[int]:
        """The worker pids that answer ``count`` requests, each on a new connection."""
        import socket

        seen = set()
        for _ in range(count):
            with socket.create_connection((HOST, server.port), timeout=5) as sock:
                sock.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                response = b""
                while chunk := sock.recv(4096):
                    response += chunk
            seen.add(int(response.partition(b"\r\n\r\n")[2]))
        return seen

    def block_one_worker() -> None:
        try:
            httpx.get(server.http + "/block?seconds=0.5", timeout=10)
        except httpx.HTTPError:
            pass  # the worker it reached was the one killed

    def pids_until(predicate: Any, timeout: float = 30) -> set[int]:
        """Collect answering pids until ``predicate(pids)``. Each round first blocks one
        worker's event loop for a moment, so that the others take the next connections
        (a free worker otherwise tends to win every accept)."""
        import threading

        seen: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate(seen):
            blocker = threading.Thread(target=block_one_worker)
            blocker.start()
            time.sleep(0.1)
            try:
                seen |= pids(3)
            except (OSError, ValueError):  # a connection the killed worker had accepted
                pass
            blocker.join(10)
        assert predicate(seen), f"only {seen} answered"
        return seen

    try:
        originals = pids_until(lambda seen: len(seen) == 2)  # both workers serve
        assert server.process.pid not in originals
        victim = min(originals)
        import os

        os.kill(victim, signal.SIGKILL)
        time.sleep(0.2)
        pids_until(lambda seen: bool(seen - originals))  # its replacement serves
    finally:
        status, _, err = stop(server.process)
    assert status == 0, err
    assert "died (status -9): starting another" in err
    assert err.count("Application shutdown complete.") == 2, err
