"""What is measured: the servers under test and the scenarios, with the issue's targets.

Scenario letters a-h are the performance issue's; i and j are its permessage-deflate lines
(compared with websockets, the library asgiws replaces).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PLAIN, DEFLATE, BROADCAST = "plain", "deflate", "broadcast"
ASGI_APP = "benchmarks.servers.asgi_echo_app:app"
PYTHON = sys.executable


def console_script(name: str) -> str:
    """The venv's console script next to this interpreter, else whatever is on PATH."""
    local = Path(PYTHON).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


@dataclass(frozen=True)
class Server:
    """A server under test: how to start it on a port, in a mode (plain/deflate/broadcast)."""

    name: str
    label: str
    build: Callable[[int, str], list[str]]
    modes: frozenset[str]
    is_asgiws: bool = False

    def command(self, port: int, mode: str) -> list[str]:
        return self.build(port, mode)


def module(name: str) -> Callable[[int, str], list[str]]:
    def build(port: int, mode: str) -> list[str]:
        command = [PYTHON, "-m", f"benchmarks.servers.{name}", "--port", str(port)]
        if mode == DEFLATE:
            command.append("--deflate")
        elif mode == BROADCAST:
            command.append("--broadcast")
        return command

    return build


def deflate_flag(mode: str) -> str:
    return "true" if mode == DEFLATE else "false"


def asgiws_asgi(port: int, mode: str) -> list[str]:
    # The future CLI, with uvicorn's flag names (see docs/benchmarks.md).
    return [
        console_script("asgiws"),
        ASGI_APP,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--ws-per-message-deflate",
        deflate_flag(mode),
    ]


def uvicorn(ws: str) -> Callable[[int, str], list[str]]:
    def build(port: int, mode: str) -> list[str]:
        return [
            PYTHON,
            "-m",
            "uvicorn",
            ASGI_APP,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            ws,
            "--no-access-log",
            "--log-level",
            "warning",
            "--ws-per-message-deflate",
            deflate_flag(mode),
        ]

    return build


ALL_MODES = frozenset({PLAIN, DEFLATE, BROADCAST})
WS_MODES = frozenset({PLAIN, DEFLATE})

SERVERS: dict[str, Server] = {
    server.name: server
    for server in [
        Server(
            "minimal",
            "minimal uvloop echo (reference)",
            module("minimal_echo"),
            frozenset({PLAIN, BROADCAST}),
        ),
        Server(
            "asgiws-native",
            "asgiws serve()",
            module("asgiws_native"),
            ALL_MODES,
            is_asgiws=True,
        ),
        Server("asgiws-asgi", "asgiws (ASGI)", asgiws_asgi, WS_MODES, is_asgiws=True),
        Server(
            "websockets",
            "websockets (asyncio)",
            module("websockets_echo"),
            ALL_MODES,
        ),
        Server(
            "uvicorn-sansio",
            "uvicorn + websockets-sansio",
            uvicorn("websockets-sansio"),
            WS_MODES,
        ),
        Server("uvicorn-wsproto", "uvicorn + wsproto", uvicorn("wsproto"), WS_MODES),
        Server(
            "hypercorn",
            "hypercorn",
            module("hypercorn_server"),
            WS_MODES,
        ),
        Server("aiohttp", "aiohttp", module("aiohttp_echo"), WS_MODES),
    ]
}

WS_PEERS = ("websockets", "uvicorn-sansio", "uvicorn-wsproto", "hypercorn", "aiohttp")
EVERY_SERVER = ("minimal", "asgiws-native", "asgiws-asgi", *WS_PEERS)
DEFLATE_SERVERS = ("websockets", "asgiws-native", "asgiws-asgi", *WS_PEERS[1:])
HTTP_SERVERS = (
    "minimal",
    "asgiws-asgi",
    "uvicorn-sansio",
    "uvicorn-wsproto",
    "hypercorn",
    "aiohttp",
)


@dataclass(frozen=True)
class Target:
    """The issue's bar: a ratio to the reference (``at_least``) or an absolute ceiling."""

    text: str
    ratio_at_least: float | None = None
    value_at_most: float | None = None

    def met(self, value: float, ratio: float | None) -> bool:
        if self.ratio_at_least is not None:
            return ratio is not None and ratio >= self.ratio_at_least
        return self.value_at_most is not None and value <= self.value_at_most


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    unit: str
    workload: str  # a loadgen workload, or "wrk"
    servers: tuple[str, ...]
    mode: str = PLAIN
    reference: str = "minimal"
    higher_is_better: bool = True
    fresh_server: bool = False  # a new server process per round (memory must start clean)
    # Memory figures vary by well under 1 % between rounds: three are enough, whatever --rounds.
    max_rounds: int | None = None
    arguments: tuple[str, ...] = ()
    path: str = "/"
    vary_query: bool = False  # HTTP: a new query string in every request (scenario k)
    targets: dict[str, Target] = field(default_factory=dict)
    note: str = ""

    def heading(self, idle_connections: int = 5000) -> str:
        return self.title.format(idle=f"{idle_connections:,}")


def ratio(at_least: float) -> Target:
    return Target(f"≥ {at_least:.2f}x", ratio_at_least=at_least)


def kib(at_most: float) -> Target:
    return Target(f"≤ {at_most:g} KiB", value_at_most=at_most)


SCENARIOS: dict[str, Scenario] = {
    scenario.id: scenario
    for scenario in [
        Scenario(
            "a",
            "1 connection, 64 B text ping-pong",
            "round trips/s",
            "pingpong",
            EVERY_SERVER,
            arguments=("--connections", "1", "--size", "64"),
            targets={"asgiws-native": ratio(0.90), "asgiws-asgi": ratio(0.75)},
        ),
        Scenario(
            "b",
            "50 connections, 64 B text ping-pong",
            "round trips/s",
            "pingpong",
            EVERY_SERVER,
            arguments=("--connections", "50", "--size", "64"),
            targets={"asgiws-native": ratio(0.85), "asgiws-asgi": ratio(0.70)},
        ),
        Scenario(
            "c",
            "1 connection, 1 MiB binary ping-pong",
            "MB/s",
            "pingpong",
            EVERY_SERVER,
            arguments=("--connections", "1", "--size", str(2**20), "--binary", "--unit", "MB/s"),
            targets={"asgiws-native": ratio(0.80), "asgiws-asgi": ratio(0.75)},
            note="MB/s = 10⁶ payload bytes echoed per second (counted once per round trip).",
        ),
        Scenario(
            "d",
            "connect + upgrade + close handshake",
            "connections/s",
            "handshake",
            EVERY_SERVER,
            arguments=("--concurrency", "16"),
            targets={"asgiws-native": ratio(0.70), "asgiws-asgi": ratio(0.60)},
            note="16 clients at a time; each opens TCP, upgrades, sends a close frame and waits "
            "until the server has answered it and closed TCP.",
        ),
        Scenario(
            "e",
            "server memory per idle connection ({idle} connections)",
            "KiB/connection",
            "memory",
            EVERY_SERVER,
            higher_is_better=False,
            fresh_server=True,
            max_rounds=3,
            arguments=("--size", "64"),
            targets={"asgiws-native": kib(8), "asgiws-asgi": kib(10)},
            note="Growth of the server's VmRSS after opening the connections and echoing one "
            "64 B message on each, divided by their number; a fresh server each round, warmed "
            "by 50 connections first. CPU/op is per connection opened.",
        ),
        Scenario(
            "f",
            "keep-alive GET through the ASGI app (wrk -c50)",
            "req/s",
            "wrk",
            HTTP_SERVERS,
            targets={"asgiws-asgi": ratio(0.50)},
            note="uvicorn and hypercorn serve the same raw ASGI app; aiohttp its own handler; "
            "the minimal server a fixed response. Target also >= 1.8x uvicorn.",
        ),
        Scenario(
            "k",
            "keep-alive GET through the ASGI app, a new query string each request (wrk -c50)",
            "req/s",
            "wrk",
            HTTP_SERVERS,
            vary_query=True,
            note="As f, but every request is different bytes (`/?n=<count>`, a wrk Lua script), "
            "so repeated-request shortcuts never apply; the Lua call slows wrk down a little. "
            "Reported beside f, no target of its own.",
        ),
        Scenario(
            "g",
            "built-in /healthz (wrk -c50)",
            "req/s",
            "wrk",
            ("minimal", "asgiws-asgi"),
            path="/healthz",
            targets={"asgiws-asgi": ratio(0.80)},
            note="asgiws answers /healthz itself; the minimal server its fixed response.",
        ),
        Scenario(
            "h",
            "broadcast of one 64 B message to {idle} connections",
            "ns/recipient",
            "broadcast",
            ("minimal", "asgiws-native", "websockets"),
            mode=BROADCAST,
            higher_is_better=False,
            note="Server-side time of one broadcast call (frame encoded once) divided by the "
            "recipients; CPU/op is server CPU per recipient. The client-side time until the "
            "last recipient has the message is in the results JSON.",
        ),
        Scenario(
            "i",
            "memory per idle connection, permessage-deflate ({idle} connections)",
            "KiB/connection",
            "memory",
            DEFLATE_SERVERS,
            mode=DEFLATE,
            reference="websockets",
            higher_is_better=False,
            fresh_server=True,
            max_rounds=3,
            arguments=("--size", "1024", "--deflate"),
            note="As e, with permessage-deflate negotiated and one compressed 1 KiB JSON-like "
            "message echoed on each connection (so that compressors exist).",
        ),
        Scenario(
            "j",
            "1 connection, 1 KiB JSON-like ping-pong, permessage-deflate",
            "round trips/s",
            "pingpong",
            DEFLATE_SERVERS,
            mode=DEFLATE,
            reference="websockets",
            arguments=("--connections", "1", "--size", "1024", "--deflate"),
            note="The client offers `permessage-deflate; client_max_window_bits` like a "
            "browser and compresses with context takeover; a server that declines is n/a.",
        ),
    ]
}

QUICK_SCENARIOS = ("a", "b", "c", "d", "f", "g")
