"""The httptools adapter's repeated requests: the same bytes, read alone between requests, give
the same events again without llhttp; anything else is parsed as before."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers_env import require
from helpers_http import connect, read_body, read_response, respond, run, serve

from asgiws.http import HttpParseError, RequestHead, create_parser
from asgiws.http import httptools_parser as adapter

require("httptools")

Event = tuple[Any, ...]


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_request_head(self, head: RequestHead) -> None:
        self.events.append(("head", head))

    def on_request_body(self, chunk: bytes) -> None:
        self.events.append(("body", chunk))

    def on_request_complete(self) -> None:
        self.events.append(("complete",))


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter, "_REPEATED_HEADS", {})
    monkeypatch.setattr(adapter, "_SEEN_ONCE", set())


def request(*headers: bytes, target: bytes = b"/path?q=1", method: bytes = b"GET") -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: example.com", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def feed(pieces: list[bytes], **limits: int) -> tuple[list[Event], Any]:
    sink = Recorder()
    parser = create_parser("httptools", sink, **limits)
    for piece in pieces:
        parser.feed(piece)
    return sink.events, parser


def remembered(**limits: int) -> dict[bytes, Any]:
    key = (limits.get("max_head_size", 65536), limits.get("max_headers", 100))
    return adapter._REPEATED_HEADS.get(key, {})


def test_a_repeated_request_gives_the_same_events_and_fresh_heads() -> None:
    data = request(b"Accept: */*", b"X-Trailing:  spaced  ")
    h11_events, _ = feed_h11([data, data, data])
    events, parser = feed([data])
    assert remembered() == {}  # seen once
    events, parser = feed([data, data, data])
    assert data in remembered()
    assert [event[0] for event in events] == ["head", "complete"] * 3
    assert [event[0] for event in h11_events] == ["head", "complete"] * 3
    first, second, third = (event[1] for event in events if event[0] == "head")
    assert first == second == third == h11_events[0][1]
    assert first is not second and first.headers is not second.headers
    second.headers.append((b"x-added", b"by the application"))
    events, _ = feed([data])
    assert events[0][1] == first
    assert parser.at_message_start


def feed_h11(pieces: list[bytes]) -> tuple[list[Event], Any]:
    sink = Recorder()
    parser = create_parser("h11", sink)
    for piece in pieces:
        parser.feed(piece)
    return sink.events, parser


def test_headers_changed_by_the_sink_are_not_remembered() -> None:
    class Changer(Recorder):
        def on_request_head(self, head: RequestHead) -> None:
            super().on_request_head(head)
            head.headers.append((b"x-added", b"1"))

    data = request()
    parser = create_parser("httptools", Changer())
    parser.feed(data)
    parser.feed(data)
    (fields,) = remembered().values()
    assert (b"x-added", b"1") not in fields[6]


@pytest.mark.parametrize(
    "data",
    [
        request(b"Connection: close"),
        request(b"Content-Length: 2") + b"ok",
        request(b"Transfer-Encoding: chunked") + b"0\r\n\r\n",
        request(b"Connection: upgrade", b"Upgrade: h2c"),
        request(b"Connection: Upgrade", b"Upgrade: websocket"),
        request() + request(),  # two requests in one read
        request(target=b"/" + b"x" * adapter._REPEATED_MAX),
    ],
    ids=["close", "body", "chunked", "upgrade", "websocket", "pipelined", "large"],
)
def test_what_is_not_remembered(data: bytes) -> None:
    events, _ = feed([data])
    events, _ = feed([data])
    assert any(event[0] == "head" for event in events)
    assert remembered() == {}


def test_only_bytes_read_between_requests_are_replayed() -> None:
    data = request()
    feed([data, data])
    assert data in remembered()
    # The same bytes after the start of another request are that request's continuation.
    with pytest.raises(HttpParseError):
        feed([b"GE", data])
    # A request split across reads is parsed, and not remembered by its pieces.
    split = [request(b"A: 1")[:10], request(b"A: 1")[10:]]
    events, _ = feed(split + split)
    assert [event[0] for event in events] == ["head", "complete"] * 2
    assert len(remembered()) == 1


def test_errors_are_raised_every_time() -> None:
    data = request(b"Content-Length: x")
    for _ in range(3):
        with pytest.raises(HttpParseError):
            feed([data])
    assert remembered() == {}


def test_limits_are_kept_apart() -> None:
    data = request(b"A: 1", b"B: 2")
    feed([data, data])
    with pytest.raises(HttpParseError) as info:
        feed([data], max_headers=2)
    assert info.value.status == 431


def test_the_table_is_bounded() -> None:
    for number in range(adapter._REPEATED_SIZE * 2 + 1):
        data = request(target=b"/%d" % number)
        feed([data, data])
    assert 0 < len(remembered()) <= adapter._REPEATED_SIZE
    assert len(adapter._SEEN_ONCE) <= adapter._REPEATED_SIZE


def test_over_a_socket_each_request_gets_its_own_headers() -> None:
    seen: list[list[Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(list(scope["headers"]))
        scope["headers"].append((b"x-added", b"by the application"))
        await read_body(receive)
        await respond(send, scope["path"].encode())

    async def main() -> None:
        async with serve(app, "httptools") as server:
            reader, writer = await connect(server.port)
            for _ in range(4):
                writer.write(request(target=b"/again"))
                response = await read_response(reader)
                assert response.status == 200 and response.body == b"/again"
                await asyncio.sleep(0)
            writer.close()

    run(main)
    assert len(seen) == 4
    assert request(target=b"/again") in remembered()  # the last two were replayed
    assert all(headers == [(b"host", b"example.com")] for headers in seen)
