"""Tests of asgiws.http: both request parser adapters, response writing and reading.

Every parser test runs against httptools and h11; the cross-checks at the end assert that both
give the same events for the same bytes, however the bytes are split.
"""

from __future__ import annotations

import string
import sys
from itertools import pairwise
from typing import Any
from urllib.parse import quote

import pytest
from helpers_env import require, unavailable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgiws.http import (
    HttpParseError,
    RequestHead,
    available_parsers,
    create_parser,
    parse_response_head,
    serialize_response,
    serialize_response_head,
)

KINDS = ["httptools", "h11"]
Event = tuple[Any, ...]
Result = tuple[list[Event], bytes | None]  # events, and the bytes after an upgrade head


class Recorder:
    """A RequestSink that records events: ("head", RequestHead), ("body", b), ("complete",)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_request_head(self, head: RequestHead) -> None:
        self.events.append(("head", head))

    def on_request_body(self, chunk: bytes) -> None:
        assert chunk, "body chunks are never empty"
        self.events.append(("body", chunk))

    def on_request_complete(self) -> None:
        self.events.append(("complete",))


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    if request.param not in available_parsers():
        unavailable(f"{request.param} is not installed")
    return request.param


def feed_pieces(kind: str, pieces: list[bytes], **limits: int) -> Result:
    """Feed ``pieces`` in order; return the events and, after an upgrade, all bytes after it."""
    sink = Recorder()
    parser = create_parser(kind, sink, **limits)
    for index, piece in enumerate(pieces):
        rest = parser.feed(piece)
        if rest is not None:
            return sink.events, rest + b"".join(pieces[index + 1 :])
    return sink.events, None


def parse(kind: str, data: bytes, chunk_size: int | None = None, **limits: int) -> Result:
    size = chunk_size or len(data)
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return feed_pieces(kind, pieces, **limits)


def merged(events: list[Event]) -> list[Event]:
    """Join consecutive body events: how a body is cut depends on how the input was cut."""
    result: list[Event] = []
    for event in events:
        if event[0] == "body" and result and result[-1][0] == "body":
            result[-1] = ("body", result[-1][1] + event[1])
        else:
            result.append(event)
    return result


def names(events: list[Event]) -> str:
    return " ".join(event[0] for event in events)


def heads(events: list[Event]) -> list[RequestHead]:
    return [event[1] for event in events if event[0] == "head"]


def parse_error(kind: str, data: bytes, **limits: int) -> HttpParseError:
    with pytest.raises(HttpParseError) as info:
        parse(kind, data, **limits)
    return info.value


def get(target: bytes = b"/", *headers: bytes, version: bytes = b"1.1") -> bytes:
    lines = [b"GET " + target + b" HTTP/" + version, b"Host: example.com", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def upgrade_request(*headers: bytes, method: bytes = b"GET") -> bytes:
    return get(b"/chat", *headers).replace(b"GET", method, 1)


# fmt: off
WEBSOCKET_HEADERS = (
    b"Upgrade: websocket", b"Connection: Upgrade",
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", b"Sec-WebSocket-Version: 13",
)
# fmt: on
FRAMES = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # masked text frame "Hello"
UPGRADE_AND_FRAMES = upgrade_request(*WEBSOCKET_HEADERS) + FRAMES
CHUNKED_POST = (
    b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n1;name=value\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer-One: 1\r\n\r\n"
)


# -- well-formed requests ------------------------------------------------------------------------


def test_simple_get_with_headers_lower_cased_stripped_ordered_with_duplicates(kind: str) -> None:
    sent = (b"X-Custom:  Some Value \t", b"Set-Thing: a", b"set-thing: B", b"Empty:")
    headers = [
        (b"host", b"example.com"), (b"x-custom", b"Some Value"),
        (b"set-thing", b"a"), (b"set-thing", b"B"), (b"empty", b""),
    ]  # fmt: skip
    expected = RequestHead(
        "GET", b"/chat%20room?x=1&y=%20", "/chat room", b"/chat%20room", b"x=1&y=%20", "1.1",
        headers, keep_alive=True, websocket_upgrade=False, expect_continue=False,
    )  # fmt: skip
    result = parse(kind, get(b"/chat%20room?x=1&y=%20", *sent))
    assert result == ([("head", expected), ("complete",)], None)
    assert (expected.content_length, expected.chunked, expected.has_body) == (None, False, False)


# fmt: off
TARGETS = [
    (b"/", ("/", b"/", b"")), (b"/caf%C3%A9/%2F?q=%41", ("/café//", b"/caf%C3%A9/%2F", b"q=%41")),
    (b"/a?", ("/a", b"/a", b"")), (b"/a?b?c", ("/a", b"/a", b"b?c")),
    (b"/page#fragment", ("/page", b"/page", b"")), (b"*", ("*", b"*", b"")),
    (b"http://example.com/p/q?x=1", ("/p/q", b"/p/q", b"x=1")),
    (b"http://example.com", ("/", b"/", b"")), (b"http://example.com?x", ("/", b"/", b"x")),
]
# fmt: on


@pytest.mark.parametrize(("target", "expected"), TARGETS)
def test_request_target_forms(kind: str, target: bytes, expected: tuple[Any, ...]) -> None:
    [head] = heads(parse(kind, get(target))[0])
    assert head.raw_target == target
    assert (head.path, head.raw_path, head.query_string) == expected


def test_content_length_body_is_streamed_as_it_arrives(kind: str) -> None:
    sink = Recorder()
    parser = create_parser(kind, sink)
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
    assert (sink.events[0][1].content_length, sink.events[0][1].chunked) == (6, False)
    assert sink.events[1:] == [("body", b"abc")]
    parser.feed(b"def")
    assert sink.events[2:] == [("body", b"def"), ("complete",)]


@pytest.mark.parametrize("split", range(len(CHUNKED_POST) + 1))
def test_chunked_body_with_extensions_and_trailers_split_anywhere(kind: str, split: int) -> None:
    data = CHUNKED_POST + get(b"/next")
    events = merged(feed_pieces(kind, [data[:split], data[split:]])[0])
    assert names(events) == "head body complete head complete"
    assert events[0][1].chunked and events[0][1].content_length is None
    assert events[1] == ("body", b"hello 0123456789")
    assert events[3][1].path == "/next"  # trailers did not leak into the next head
    assert events[3][1].headers == [(b"host", b"example.com")]


def test_pipelined_requests_in_one_feed_arrive_in_order(kind: str) -> None:
    # RFC 9112 §2.2: an empty line before a request-line is ignored.
    data = get(b"/1") + b"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\r\n"
    data += get(b"/3")
    events, _ = parse(kind, data)
    assert [h.path for h in heads(events)] == ["/1", "/2", "/3"]
    assert names(events) == "head complete head body complete head complete"
    assert events[3] == ("body", b"abc")


def test_expect_continue(kind: str) -> None:
    post = b"POST / HTTP/%s\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx"
    requests = [post % b"1.1", post % b"1.0", get()]  # RFC 9110 §10.1.1: HTTP/1.0 ignores it
    assert [heads(parse(kind, r)[0])[0].expect_continue for r in requests] == [True, False, False]


# fmt: off
KEEP_ALIVE_CASES = [
    (b"1.1", None, True), (b"1.1", b"close", False), (b"1.1", b"Close", False),
    (b"1.1", b"keep-alive, close", False), (b"1.1", b"keep-alive", True),
    (b"1.1", b"closed", True), (b"1.0", None, False), (b"1.0", b"keep-alive", True),
    (b"1.0", b"Keep-Alive", True), (b"1.0", b"keep-alive, close", False),
]
# fmt: on


@pytest.mark.parametrize(("version", "connection", "keep_alive"), KEEP_ALIVE_CASES)
def test_keep_alive_rules(kind: str, version: bytes, connection: Any, keep_alive: bool) -> None:
    extra = () if connection is None else (b"Connection: " + connection,)
    [head] = heads(parse(kind, get(b"/", *extra, version=version))[0])
    assert head.keep_alive is keep_alive


@pytest.mark.parametrize(
    "first",
    [
        get(b"/1", b"Connection: close"),
        get(b"/1", b"Connection: keep-alive", version=b"1.0") + get(b"/1", version=b"1.0"),
        upgrade_request(b"Connection: Upgrade, close", b"Upgrade: h2c").replace(b"/chat", b"/1"),
    ],
)
def test_nothing_is_parsed_after_a_request_that_closes(kind: str, first: bytes) -> None:
    sink = Recorder()
    parser = create_parser(kind, sink)
    assert parser.feed(first + get(b"/2")) is None
    assert parser.feed(b"more garbage that is not HTTP\r\n\r\n") is None
    assert names(sink.events).endswith("head complete")
    assert {h.path for h in heads(sink.events)} == {"/1"}


# -- WebSocket upgrades ----------------------------------------------------------------------------


# fmt: off
C, U = b"Connection: Upgrade", b"Upgrade: websocket"
UPGRADE_CASES = [
    (b"GET", WEBSOCKET_HEADERS, True), (b"GET", (*WEBSOCKET_HEADERS, b"Content-Length: 0"), True),
    (b"GET", (b"Connection: keep-alive, Upgrade", U), True),
    (b"GET", (b"connection: UPGRADE", b"upgrade: WebSocket"), True),
    (b"GET", (b"Connection: foo,upgrade , bar", b"Upgrade: foo/2, websocket"), True),
    (b"GET", (b"Connection: keep-alive", C, U), True),
    (b"GET", (U,), False), (b"GET", (C,), False), (b"GET", (C, b"Upgrade: h2c"), False),
    (b"GET", (b"Connection: upgrades", U), False), (b"GET", (b"Connection: upgrade;q=1", U), False),
    (b"GET", (C, b"Upgrade: websockets"), False), (b"POST", (C, U), False),
]
# fmt: on


@pytest.mark.parametrize(("method", "headers", "expected"), UPGRADE_CASES)
def test_websocket_upgrade_detection(
    kind: str, method: bytes, headers: Any, expected: bool
) -> None:
    events, rest = parse(kind, upgrade_request(*headers, method=method))
    assert names(events) == "head complete"
    assert events[0][1].websocket_upgrade is expected
    assert rest == (b"" if expected else None)


def test_bytes_after_an_upgrade_head_are_returned_exactly(kind: str) -> None:
    sink = Recorder()
    parser = create_parser(kind, sink)
    data = get(b"/first") + UPGRADE_AND_FRAMES + get(b"/not-http")
    assert parser.feed(data) == FRAMES + get(b"/not-http")
    assert names(sink.events) == "head complete head complete"
    assert [h.path for h in heads(sink.events)] == ["/first", "/chat"]
    with pytest.raises(RuntimeError):
        parser.feed(b"x")


@pytest.mark.parametrize("split", range(1, len(UPGRADE_AND_FRAMES)))
def test_upgrade_split_anywhere_returns_the_rest(kind: str, split: int) -> None:
    data = UPGRADE_AND_FRAMES
    events, rest = feed_pieces(kind, [data[:split], data[split:]])
    assert rest == FRAMES
    assert names(events) == "head complete"


# fmt: off
OTHER_UPGRADES = [
    upgrade_request(b"Connection: Upgrade, HTTP2-Settings", b"Upgrade: h2c"),
    upgrade_request(C, b"Upgrade: h2c", b"Content-Length: 5") + b"hello",
    upgrade_request(C, U, method=b"POST"),
    upgrade_request(C, b"Upgrade: h2c", b"Transfer-Encoding: chunked") + b"5\r\nhello\r\n0\r\n\r\n",
]
# fmt: on


@pytest.mark.parametrize("request_bytes", OTHER_UPGRADES)
def test_other_upgrades_are_plain_http_and_parsing_goes_on(kind: str, request_bytes: bytes) -> None:
    data = request_bytes + get(b"/next")
    for chunk_size in (None, 1, 7):
        events, rest = parse(kind, data, chunk_size)
        assert rest is None
        events = merged(events)
        assert [h.path for h in heads(events)] == ["/chat", "/next"]
        assert not any(h.websocket_upgrade for h in heads(events))
        assert events[-1] == ("complete",)
        bodies = [e[1] for e in events if e[0] == "body"]
        assert bodies == ([b"hello"] if b"hello" in request_bytes else [])


# -- limits ---------------------------------------------------------------------------------------


def test_head_exactly_at_the_size_limit_passes_and_one_more_byte_fails(kind: str) -> None:
    head = b"GET / HTTP/1.1\r\nHost:x\r\nX-Pad:%s\r\n\r\n"  # written compactly
    padded = head % (b"a" * (1000 - len(head % b"")))
    assert len(padded) == 1000
    assert heads(parse(kind, padded, max_head_size=1000)[0])
    assert parse_error(kind, padded, max_head_size=999).status == 431


def test_incomplete_head_over_the_limit_is_refused(kind: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 3000
    for chunk_size in (None, 100, 999, 1001):
        with pytest.raises(HttpParseError) as info:
            parse(kind, data, chunk_size, max_head_size=1000)
        assert info.value.status == 431


def test_too_many_headers_and_limits_per_request(kind: str) -> None:
    headers = [b"X-%d: v" % i for i in range(9)]  # plus Host: 10 headers
    assert len(heads(parse(kind, get(b"/", *headers), max_headers=10)[0])[0].headers) == 10
    assert parse_error(kind, get(b"/", *headers, b"X: v"), max_headers=10).status == 431
    data = b"".join(get(b"/%d" % i, b"X-Pad: " + b"a" * 100) for i in range(20))
    assert len(heads(parse(kind, data, max_head_size=200)[0])) == 20


@pytest.mark.parametrize("size", [65536, 65537, 200_000])
def test_reads_larger_than_the_head_limit(kind: str, size: int) -> None:
    body = bytes(range(256)) * (size // 256 + 1)
    post = b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (size, body[:size])
    events, rest = parse(
        kind, post + get(b"/after") + UPGRADE_AND_FRAMES + body, max_head_size=1000
    )
    events = merged(events)
    assert [h.path for h in heads(events)] == ["/big", "/after", "/chat"]
    assert events[1] == ("body", body[:size]) and rest == FRAMES + body


# -- malformed requests ---------------------------------------------------------------------------


G = b"GET / HTTP/1.1\r\nHost: x\r\n"
P = b"POST / HTTP/1.1\r\nHost: x\r\n"
SMUGGLED = b"\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n"
# fmt: off
CL, TE = P + b"Content-Length: ", P + b"Transfer-Encoding: "
MALFORMED = [
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # a TLS ClientHello
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),  # the HTTP/2 connection preface
    (b"hello world\r\n\r\n", 400), (b"get / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 400), (get(b"/%FF%FE"), 400),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505), (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400), (G + b"Host: b\r\n\r\n", 400),  # Host: none, two
    (b"GET / HTTP/1.1\nHost: x\n\n", 400), (G + b"X: a\r\n b\r\n\r\n", 400),  # LF, obs-fold
    (G + b"X : a\r\n\r\n", 400), (G + b"Bad Name: a\r\n\r\n", 400), (G + b": a\r\n\r\n", 400),
    (G + b"X: a\x00b\r\n\r\n", 400), (G + b"X: a\x7fb\r\n\r\n", 400),
    (upgrade_request(*WEBSOCKET_HEADERS, b"Content-Length: 2") + b"hi", 400),  # upgrade + body
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501),
    (CL + b"abc\r\n\r\n", 400), (CL + b"-1\r\n\r\n", 400), (CL + b"+3\r\n\r\nabc", 400),
    (CL + b"3, 3\r\n\r\nabc", 400), (CL + b"99999999999999999999\r\n\r\n", 400),
    (CL + b"3\r\nContent-Length: 3\r\n\r\nabc", 400), (CL + b"3\r\nContent-Length: 4\r\n\r\n", 400),
    (TE + b"gzip\r\n\r\n", 400), (TE + b"gzip, chunked\r\n\r\n", 501),  # RFC 9112 §6.3, §6.1
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (TE + b"chunked\r\n\r\nzz\r\n", 400), (TE + b"chunked\r\n\r\n3\r\nabcX", 400),  # bad chunks
    # request smuggling (RFC 9112 §6.1, §6.3)
    (CL + b"4\r\nTransfer-Encoding: chunked" + SMUGGLED, 400),
    (TE + b"chunked\r\nContent-Length: 4" + SMUGGLED, 400),
    (TE + b"chunked\r\nTransfer-Encoding: identity" + SMUGGLED, 400),
    (TE + b"identity\r\nTransfer-Encoding: chunked" + SMUGGLED, 501),
]
# fmt: on


@pytest.mark.parametrize(("data", "status"), MALFORMED)
def test_malformed_requests(kind: str, data: bytes, status: int) -> None:
    assert parse_error(kind, data).status == status


def test_valid_requests_before_a_malformed_one_are_delivered(kind: str) -> None:
    sink = Recorder()
    parser = create_parser(kind, sink)
    assert parser.feed(b"") is None
    with pytest.raises(HttpParseError):
        parser.feed(get(b"/ok") + b"garbage\r\n\r\n")
    assert parser.feed(get(b"/ignored")) is None  # a failed parser stays closed
    assert names(sink.events) == "head complete"


def test_exceptions_from_the_sink_propagate_unchanged(kind: str) -> None:
    class FailingSink(Recorder):
        def on_request_head(self, head: RequestHead) -> None:
            raise ZeroDivisionError(head.path)

    with pytest.raises(ZeroDivisionError, match="/x"):
        create_parser(kind, FailingSink()).feed(get(b"/x"))


def test_create_parser_kinds_and_missing_httptools(monkeypatch: pytest.MonkeyPatch) -> None:
    assert create_parser("auto", Recorder()).name == available_parsers()[0]
    with pytest.raises(ValueError, match="Unknown HTTP parser"):
        create_parser("picohttpparser", Recorder())
    monkeypatch.setitem(sys.modules, "httptools", None)
    monkeypatch.delitem(sys.modules, "asgiws.http.httptools_parser", raising=False)
    assert available_parsers() == ["h11"]
    assert create_parser("auto", Recorder()).name == "h11"
    with pytest.raises(ImportError, match=r"asgiws\[standard\]"):
        create_parser("httptools", Recorder())


# -- both adapters agree --------------------------------------------------------------------------

header_names = st.sampled_from([b"Accept", b"X-Trace-Id", b"cookie", b"User-Agent", b"X-A"])
header_values = st.text(string.ascii_letters + string.digits + " -_/;=,.", max_size=12)
paths = st.lists(st.text(string.ascii_letters + "é -~", min_size=1, max_size=6), max_size=3)


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({0, len(data), *(c for c in cuts if 0 < c < len(data))})
    return [data[a:b] for a, b in pairwise(bounds)]


def project(events: list[Event]) -> list[Event]:
    """Events with bodies joined and heads reduced to what the generator chose."""
    return [("head", *reduce(e[1])) if e[0] == "head" else e for e in merged(events)]


def reduce(head: RequestHead) -> tuple[Any, ...]:
    return head.path, head.query_string, head.headers, head.websocket_upgrade


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, list[Event]]:
    """One keep-alive request, and the projected events it must give."""
    path = "/" + "/".join(draw(paths))
    query = draw(st.sampled_from([b"", b"a=1", b"q=%20&x"]))
    target = quote(path).encode() + (b"?" + query if query else b"")
    headers = [(b"Host", b"example.com")]
    headers += draw(st.lists(st.tuples(header_names, header_values.map(str.encode)), max_size=4))
    body = draw(st.binary(max_size=40))
    payload = body
    if body and draw(st.booleans()):
        headers.append((b"Transfer-Encoding", b"chunked"))
        chunks = cut(body, draw(st.lists(st.integers(0, len(body)), max_size=3)))
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    elif body:
        headers.append((b"Content-Length", b"%d" % len(body)))
    data = b"%s %s HTTP/1.1\r\n" % (b"POST" if body else b"GET", target)
    data += b"".join(b"%s: %s\r\n" % header for header in headers) + b"\r\n" + payload
    head = ("head", path, query, [(n.lower(), v.strip(b" ")) for n, v in headers], False)
    return data, [head, *([("body", body)] if body else []), ("complete",)]


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[Event], bytes | None]:
    """Several pipelined requests, perhaps ending in a WebSocket upgrade, cut at random."""
    generated = draw(st.lists(requests(), min_size=1, max_size=4))
    data = b"".join(request for request, _ in generated)
    expected = [event for _, events in generated for event in events]
    after_upgrade = None
    if draw(st.booleans()):
        after_upgrade = draw(st.binary(max_size=20))
        data += UPGRADE_AND_FRAMES[: -len(FRAMES)] + after_upgrade
        lines = (b"Host: example.com", *WEBSOCKET_HEADERS)
        headers = [(n.lower(), v) for n, _, v in (line.partition(b": ") for line in lines)]
        expected += [("head", "/chat", b"", headers, True), ("complete",)]
    return cut(data, draw(st.lists(st.integers(1, len(data)), max_size=8))), expected, after_upgrade


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_random_pipelined_streams_give_identical_events(
    stream: tuple[list[bytes], list[Event], bytes | None],
) -> None:
    pieces, expected, after_upgrade = stream
    reference = feed_pieces("h11", [b"".join(pieces)])
    for kind in available_parsers():
        events, rest = feed_pieces(kind, pieces)
        assert project(events) == expected
        assert rest == after_upgrade
        assert merged(events) == merged(reference[0])  # whole RequestHead values too


@pytest.mark.parametrize(
    "data",
    [
        get(b"/a%20b?c", b"Connection: keep-alive, Upgrade", b"Upgrade: websocket") + FRAMES,
        upgrade_request(b"Connection: Upgrade", b"Upgrade: h2c", b"Content-Length: 3") + b"abc",
        CHUNKED_POST + get(b"/x", b"Expect: 100-continue", b"Connection: close"),
        get(b"/", b"X:   spaced   ", version=b"1.0") + get(b"/ignored"),
    ],
)
def test_both_adapters_give_identical_events(data: bytes) -> None:
    require("httptools")
    for chunk_size in (None, 1, 2, 5, 13):
        assert parse("httptools", data, chunk_size) == parse("h11", data, chunk_size)


# -- responses ----------------------------------------------------------------------------------

S = b"HTTP/1.1 101 Switching Protocols\r\n"


def test_serialize_response_head() -> None:
    head = serialize_response_head(101, [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")])
    assert head == S + b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    head = serialize_response_head(404, [("content-type", "text/plain")])
    assert head == b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\n\r\n"
    assert serialize_response_head(200, [], reason="Fine") == b"HTTP/1.1 200 Fine\r\n\r\n"
    assert serialize_response_head(599) == b"HTTP/1.1 599 \r\n\r\n"


# fmt: off
BAD_RESPONSE_HEADS: list[tuple[int, list[Any], str | None]] = [
    (200, [(b"X-Evil", b"a\r\nSet-Cookie: stolen=1")], None), (200, [(b"X", b"a\nb")], None),
    (200, [(b"X", b"a\x00b")], None), (200, [(b"X\r\nSet-Cookie", b"1")], None),
    (200, [(b"Bad Name", b"1")], None), (200, [(b"", b"1")], None), (200, [("X", "a\rb")], None),
    (200, [], "OK\r\nX: y"), (1000, [], None),
]
# fmt: on


@pytest.mark.parametrize(("status", "headers", "reason"), BAD_RESPONSE_HEADS)
def test_serialize_response_head_refuses_header_injection(
    status: int, headers: list[Any], reason: str | None
) -> None:
    with pytest.raises(ValueError):
        serialize_response_head(status, headers, reason=reason)


def test_serialize_response() -> None:
    ok = b"HTTP/1.1 200 OK\r\n"
    response = serialize_response(200, [(b"content-type", b"text/plain")], b"hi")
    assert response == ok + b"content-type: text/plain\r\ncontent-length: 2\r\n\r\nhi"
    response = serialize_response(200, [(b"Content-Length", b"2")], b"hi")
    assert response == ok + b"Content-Length: 2\r\n\r\nhi"
    assert serialize_response(204) == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert serialize_response(400) == b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
    with pytest.raises(ValueError):
        serialize_response(304, [], b"body")


HANDSHAKE_RESPONSE = S + (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)


def test_parse_response_head_is_incremental() -> None:
    for end in range(len(HANDSHAKE_RESPONSE)):
        assert parse_response_head(HANDSHAKE_RESPONSE[:end]) is None
    parsed = parse_response_head(bytearray(HANDSHAKE_RESPONSE + FRAMES))
    headers = [
        (b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ]  # fmt: skip
    assert parsed == (101, "Switching Protocols", headers, len(HANDSHAKE_RESPONSE))


def test_parse_response_head_round_trips_serialize() -> None:
    head = serialize_response_head(403, [(b"X-Reason", b"no  thanks"), (b"Empty", b"")])
    headers = [(b"x-reason", b"no  thanks"), (b"empty", b"")]
    assert parse_response_head(head) == (403, "Forbidden", headers, len(head))
    assert parse_response_head(b"HTTP/1.0 200\r\n\r\n") == (200, "", [], 16)


def response_error(data: bytes, **limits: int) -> int:
    with pytest.raises(HttpParseError) as info:
        parse_response_head(data, **limits)
    return info.value.status


# fmt: off
BAD_RESPONSES = [
    b"SSH-2.0-OpenSSH_9.6\r\n",  # refused before it is complete
    S[:-1] + b"Upgrade: websocket\n", b"HTTP/2 101 Switching Protocols\r\n\r\n",
    b"HTTP/1.1 1O1 Switching Protocols\r\n\r\n", b"HTTP/1.1 099 Too Low\r\n\r\n",
    b"HTTP/1.1 101\x00 Switching\r\n\r\n", S + b"Upgrade websocket\r\n\r\n",
    S + b"Upgrade: websocket\r\n continued\r\n\r\n", S + b"Bad Name: x\r\n\r\n",
    S + b"X: a\x01b\r\n\r\n",
]
# fmt: on


@pytest.mark.parametrize("data", BAD_RESPONSES)
def test_parse_response_head_malformed(data: bytes) -> None:
    assert response_error(data) == 400


def test_parse_response_head_limits() -> None:
    big = b"HTTP/1.1 101 OK\r\nX: " + b"a" * 200
    assert parse_response_head(big, max_head_size=300) is None
    assert response_error(big, max_head_size=100) == 431
    assert response_error(big + b"\r\n\r\n", max_head_size=100) == 431
    many = b"HTTP/1.1 101 OK\r\n" + b"X: 1\r\n" * 11 + b"\r\n"
    assert parse_response_head(many, max_headers=11) == (101, "OK", [(b"x", b"1")] * 11, len(many))
    assert response_error(many, max_headers=10) == 431
