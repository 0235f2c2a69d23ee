"""The server's direct 101 answer and its shared keepalive timers, without sockets."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from asgiws.protocol import handshake
from asgiws.server.keepalive import keepalive_timers
from asgiws.server.upgrade import switching_protocols, switching_protocols_head

KEYS = ["dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAA=="]
SUBPROTOCOLS = [None, "chat", "a\r\nb", "é", "\u2603"]
EXTENSIONS = [None, "permessage-deflate; client_max_window_bits=15", "x\0y"]
SERVERS = [None, "", "Python/3.11 asgiws/0.1.0", "bad\nvalue", "\u2603"]
MORE: list[list[tuple[Any, Any]]] = [
    [],
    [(b"server", b"asgiws"), (b"date", b"Thu, 01 Jan 1970 00:00:00 GMT")],
    [(b"x-bad name", b"1")],
    [(b"x-a", b"1\r\nx-b: 2")],
    [("x-str", "1")],
]


def slow(key: str, subprotocol: Any, extensions: Any, server: Any, more: Any) -> bytes:
    headers = handshake.build_response_headers(
        key, subprotocol=subprotocol, extensions=extensions, server_header=server
    )
    for name, value in more:
        headers[name.decode("latin-1")] = value.decode("latin-1")
    return switching_protocols(headers)


def outcome(function: Any, *args: Any) -> Any:
    try:
        return "ok", function(*args)
    except Exception as exc:
        return "error", type(exc), str(exc)


@pytest.mark.parametrize(
    "key, subprotocol, extensions, server, more",
    list(itertools.product(KEYS, SUBPROTOCOLS, EXTENSIONS, SERVERS, MORE)),
)
def test_switching_protocols_head_is_the_slow_path(
    key: str, subprotocol: Any, extensions: Any, server: Any, more: Any
) -> None:
    args = (key, subprotocol, extensions, server, more)
    assert outcome(switching_protocols_head, *args) == outcome(slow, *args)


class Pinger:
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def _keepalive_ping(self) -> None:
        self.log.append(self)

    def __eq__(self, other: object) -> bool:  # unhashable, as a subclass may make it
        return self is other


def test_keepalive_timers_share_one_loop_timer() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        timers = keepalive_timers(loop)
        assert keepalive_timers(loop) is timers
        log: list[Any] = []
        pingers = [Pinger(log) for _ in range(5)]
        tickets = [timers.schedule(pinger, 0.05) for pinger in pingers]
        assert len(set(tickets)) <= 2  # one tick (two if the clock moved across one)
        timers.cancel(pingers[0], tickets[0])
        timers.cancel(pingers[0], tickets[0])  # twice: no-op
        started = loop.time()
        while len(log) < 4:
            await asyncio.sleep(0.01)
            assert loop.time() - started < 5
        assert log and pingers[0] not in log
        assert sorted(map(id, log)) == sorted(map(id, pingers[1:]))
        # A cancelled ping is gone; its bucket's timer fires later and finds nobody.
        ticket = timers.schedule(pingers[0], 0.02)
        timers.cancel(pingers[0], ticket)
        assert not timers._buckets[ticket][1]
        before = len(log)
        await asyncio.sleep(0.1)
        assert len(log) == before
        assert ticket not in timers._buckets

    asyncio.run(main())
