"""The httptools (llhttp) request parser adapter: the fast default.

llhttp does the byte-level work in C; this module only gathers the request line and headers,
hands them to :func:`~asgiws.http.parser.build_request_head` once per request, and forwards body
chunks. Three llhttp behaviours need care:

* llhttp has no size limits, so the head bytes are counted here.
* llhttp treats every request with ``Connection: upgrade`` plus an ``Upgrade`` header (and every
  CONNECT) as a protocol switch: it skips the body, reports the message complete and pauses.
  For a WebSocket upgrade that is what we want. Any other upgrade (``h2c``...) is an ordinary
  request to us, so parsing resumes on a fresh llhttp parser, and a body the switch skipped is
  parsed by that parser behind a synthetic head that only declares its framing.
* llhttp refuses data after a request that closes the connection; we stop at that request
  ourselves, because a client may legitimately have pipelined more before seeing the close.

A request read alone, whole, between requests, without a body, that keeps the connection open
and asks for no upgrade is remembered by its bytes once seen twice (bounded, per pair of
limits): when the same bytes arrive again between requests, its head is delivered again, a
fresh copy, without llhttp or the checks. Same bytes from the same state, same events.
"""

from __future__ import annotations

from typing import Any

import httptools

from .parser import (
    DEFAULT_MAX_HEAD_SIZE,
    DEFAULT_MAX_HEADERS,
    HttpParseError,
    HttpParser,
    RequestHead,
    RequestSink,
    _build_request_head,
)

__all__ = ["HttptoolsParser"]

_OPEN, _CLOSED, _UPGRADED = 0, 1, 2

_METHOD_NAMES: dict[bytes, str] = {}
# get_http_version() makes a new str each time: share the two that matter.
_VERSIONS = {"1.1": "1.1", "1.0": "1.0"}


# Request bytes -> the fields of their RequestHead (headers as a tuple), per (max_head_size,
# max_headers); emptied when full, so that requests that vary cannot keep the repeated out.
_REPEATED_HEADS: dict[tuple[int, int], dict[bytes, tuple[Any, ...]]] = {}
# Requests seen once: only those seen twice are remembered, so that requests that never repeat
# cost a set entry (no head kept alive for the garbage collector to walk).
_SEEN_ONCE: set[bytes] = set()
_REPEATED_SIZE = 256
_REPEATED_MAX = 1024


class _StopParsing(Exception):
    """Raised from a callback to stop llhttp after a request that closes the connection."""


def _method_name(method: bytes) -> str:
    name = _METHOD_NAMES.get(method)
    if name is None:
        name = _METHOD_NAMES[method] = method.decode("ascii")
    return name


def _translate_error(exc: httptools.HttpParserError) -> HttpParseError:
    """Map an llhttp error to the status we answer with."""
    message = str(exc)
    if "HTTP version" in message:
        return HttpParseError(505, message)
    if "PRI" in message:  # the HTTP/2 connection preface "PRI * HTTP/2.0"
        return HttpParseError(400, "HTTP/2 is not supported")
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        return HttpParseError(400, "Invalid or unsupported method")
    return HttpParseError(400, message or "Malformed request")


class HttptoolsParser(HttpParser):
    """Request parser on httptools (llhttp). See :class:`~asgiws.http.parser.HttpParser`."""

    __slots__ = (
        "_deferred_body",
        "_feed_size",
        "_head",
        "_head_first_feed_size",
        "_head_headers",
        "_head_seen",
        "_headers",
        "_heads",
        "_in_head",
        "_max_head_size",
        "_max_headers",
        "_on_body",
        "_on_complete",
        "_on_head",
        "_parser",
        "_repeated",
        "_state",
        "_synthetic",
        "_url",
        "at_message_start",
    )

    name = "httptools"

    # httptools looks every callback up with getattr(): these say "none" without an
    # AttributeError (two of them per connection).
    on_chunk_header = None
    on_chunk_complete = None

    def __init__(
        self,
        sink: RequestSink,
        *,
        max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
        max_headers: int = DEFAULT_MAX_HEADERS,
    ) -> None:
        self._on_head = sink.on_request_head
        self._on_body = sink.on_request_body
        self._on_complete = sink.on_request_complete
        self._max_head_size = max_head_size
        self._max_headers = max_headers
        self._parser = httptools.HttpRequestParser(self)
        self._state = _OPEN
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head: RequestHead | None = None
        self._in_head = False
        self._head_seen = 0  # bytes fed after the one where the current head began
        self._head_first_feed_size = 0
        self._feed_size = 0
        self._synthetic = False  # the next head is ours, declaring a skipped body's framing
        self._deferred_body = False  # llhttp skipped this request's body (non-WebSocket upgrade)
        self._heads = 0  # heads parsed by llhttp, to tell a feed that held exactly one
        self._head_headers: tuple[tuple[bytes, bytes], ...] = ()  # as parsed, before the sink
        self._repeated = _REPEATED_HEADS.setdefault((max_head_size, max_headers), {})
        self.at_message_start = True

    # -- input ---------------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``; see :meth:`HttpParser.feed`."""
        if self._state != _OPEN:
            if self._state == _UPGRADED:
                raise RuntimeError("the connection was upgraded; feed the WebSocket protocol")
            return None
        try:
            if self.at_message_start and type(data) is bytes and len(data) <= _REPEATED_MAX:
                fields = self._repeated.get(data)
                if fields is not None:
                    self._replay(fields)
                    return None
                heads = self._heads
                if len(data) <= self._max_head_size:
                    rest = self._feed(data)
                else:
                    rest = self._feed_in_slices(data)
                if rest is None and self._heads == heads + 1 and self.at_message_start:
                    if data in _SEEN_ONCE:
                        self._remember(data)
                    else:
                        if len(_SEEN_ONCE) >= _REPEATED_SIZE:
                            _SEEN_ONCE.clear()
                        _SEEN_ONCE.add(data)
                return rest
            if len(data) <= self._max_head_size:
                return self._feed(data)
            return self._feed_in_slices(data)
        except HttpParseError:
            self._state = _CLOSED
            raise

    def _replay(self, fields: tuple[Any, ...]) -> None:
        # The events llhttp and the callbacks below would give for these bytes again.
        head = RequestHead(*fields)
        head.headers = list(fields[6])  # the application may change its own list
        self._head = head
        self.at_message_start = False
        self._on_head(head)
        self.at_message_start = True
        self._on_complete()

    def _remember(self, data: bytes) -> None:
        head = self._head
        assert head is not None
        if (
            self._state != _OPEN
            or not head.keep_alive
            or head.has_body
            or head.websocket_upgrade
            or any(name == b"upgrade" for name, _ in self._head_headers)  # llhttp's own switch
        ):
            return
        repeated = self._repeated
        if len(repeated) >= _REPEATED_SIZE:
            repeated.clear()
        repeated[data] = (
            head.method,
            head.raw_target,
            head.path,
            head.raw_path,
            head.query_string,
            head.http_version,
            self._head_headers,
            head.keep_alive,
            head.websocket_upgrade,
            head.expect_continue,
            head.content_length,
            head.chunked,
        )

    def _feed_in_slices(self, data: bytes) -> bytes | None:
        # Feed big reads in slices so that an unfinished head is caught after at most
        # 2 * max_head_size bytes, not after the whole read.
        limit = self._max_head_size
        view = memoryview(data)
        for start in range(0, len(data), limit):
            rest = self._feed(view[start : start + limit])
            if rest is not None:
                return rest + bytes(view[start + limit :])
            if self._state != _OPEN:
                return None
        return None

    def _feed(self, data: bytes | memoryview) -> bytes | None:
        self._feed_size = size = len(data)
        if self._in_head:
            self._head_seen += size
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            return self._after_upgrade(data[exc.args[0] :])
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _StopParsing):
                self._state = _CLOSED
                return None
            if cause is not None:  # our HttpParseError, or an exception from the sink
                raise cause from None
            raise HttpParseError(400, str(exc) or "Malformed request") from None
        except httptools.HttpParserError as exc:
            raise _translate_error(exc) from None
        if self._in_head and self._head_seen > self._max_head_size:
            raise HttpParseError(431, "Request head too large")
        return None

    def _after_upgrade(self, rest: bytes | memoryview) -> bytes | None:
        head = self._head
        assert head is not None
        if head.websocket_upgrade:
            self._state = _UPGRADED
            return bytes(rest)
        # Not a WebSocket upgrade: llhttp now considers the connection switched, so continue
        # on a fresh parser.
        self._parser = httptools.HttpRequestParser(self)
        if self._deferred_body:
            self._deferred_body = False
            self._synthetic = True
            if head.chunked:
                self._parser.feed_data(b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            else:
                self._parser.feed_data(
                    b"PUT / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (head.content_length or 0)
                )
        return self._feed(rest) if rest else None

    # -- llhttp callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.at_message_start = False
        self._in_head = True
        self._head_seen = 0
        self._head_first_feed_size = self._feed_size

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_head:  # trailers of a chunked body arrive here too; they are dropped
            # llhttp strips leading whitespace only (RFC 9112 §5.1: OWS on both sides).
            self._headers.append((name.lower(), value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        self._in_head = False
        headers, self._headers = self._headers, []
        url, self._url = self._url, b""
        if self._synthetic:
            self._synthetic = False
            return
        self._heads += 1
        parser = self._parser
        method = parser.get_method()
        version = parser.get_http_version()
        head = _build_request_head(
            _METHOD_NAMES.get(method) or _method_name(method),
            url,
            _VERSIONS.get(version, version),
            headers,
            self._max_head_size,
            self._max_headers,
            # The head lies within the feed it began in and the ones after.
            self._head_first_feed_size + self._head_seen,
        )
        if parser.should_upgrade():
            if not head.websocket_upgrade and head.has_body:
                self._deferred_body = True
        elif head.websocket_upgrade:
            # We see an upgrade that llhttp does not; it would parse the frames as HTTP.
            raise HttpParseError(400, "Unrecognized Connection header")
        self._head = head
        self._head_headers = tuple(headers)
        self._on_head(head)

    def on_body(self, body: bytes) -> None:
        self._on_body(body)

    def on_message_complete(self) -> None:
        if self._deferred_body:  # llhttp skipped the body; the synthetic message carries it
            return
        self.at_message_start = True
        self._on_complete()
        head = self._head
        if not head.keep_alive and not head.websocket_upgrade:  # type: ignore[union-attr]
            raise _StopParsing
