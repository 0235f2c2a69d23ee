"""Response heads written by HttpExchange, without sockets: the cache of checked heads must
never let a head through that the checks would refuse, nor change what is written."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from asgiws.http.parser import build_request_head
from asgiws.server import exchange as exchange_module
from asgiws.server.exchange import HttpExchange, ResponseError


class Transport:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


def respond(status: int, headers: Any, body: bytes = b"ok", **settings: Any) -> bytes:
    """The bytes written for one whole response to a GET."""
    transport = Transport()
    connection = SimpleNamespace(
        transport=transport,
        writable=True,
        closing=False,
        server_header=settings.get("server_header", True),
        date_header=settings.get("date_header", False),
        extra_header_lines=settings.get("extra_header_lines", ()),
        exchange_done=lambda exchange: None,
    )
    head = build_request_head("GET", b"/", "1.1", [(b"host", b"example.com")])
    exchange = HttpExchange(connection, head)  # type: ignore[arg-type]
    exchange.request_complete = True
    exchange.respond(status, headers, body)
    return transport.data


def test_a_repeated_head_is_written_the_same() -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"2")]
    first = respond(200, headers)
    assert first == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n"
        b"server: asgiws\r\n\r\nok"
    )
    assert respond(200, headers) == first
    assert respond(200, tuple(headers)) == first
    assert respond(200, [list(pair) for pair in headers]) == first  # unhashable pairs
    assert respond(200, iter(headers)) == first
    assert respond(404, headers).startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert respond(200, headers, server_header=False) == first.replace(b"server: asgiws\r\n", b"")


def test_a_head_changed_in_place_is_checked_again() -> None:
    headers = [(b"x-note", b"fine")]
    respond(200, headers)
    headers[0] = (b"x-note", b"a\r\nInjected: 1")
    for _ in range(2):
        with pytest.raises(ResponseError):
            respond(200, headers)


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x", b"a\r\nInjected: 1")],
        [(b"bad name", b"v")],
        [(b"content-length", b"2"), (b"content-length", b"2")],
        [(b"content-length", b"2"), (b"transfer-encoding", b"chunked")],
        [(b"transfer-encoding", b"gzip")],
        [(b"x", bytearray(b"a\nb"))],
    ],
)
def test_refused_heads_are_refused_every_time(headers: Any) -> None:
    for _ in range(2):
        with pytest.raises(ResponseError):
            respond(200, headers)


def test_a_cached_length_is_still_enforced() -> None:
    headers = [(b"content-length", b"3")]
    assert respond(200, headers, b"abc").endswith(b"\r\n\r\nabc")
    with pytest.raises(ResponseError):
        respond(200, headers, b"abcd")


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exchange_module, "_CHECKED_HEADS", {})
    for number in range(exchange_module._CHECKED_HEADS_SIZE * 2 + 1):
        respond(200, [(b"x-number", b"%d" % number)])
    assert 0 < len(exchange_module._CHECKED_HEADS) <= exchange_module._CHECKED_HEADS_SIZE
    respond(200, [(b"x-large", b"v" * exchange_module._CHECKED_HEAD_MAX)])
    assert all(len(key) == 2 and key[1][0] != b"x-large" for key in exchange_module._CHECKED_HEADS)
