"""The h11 request parser adapter: the pure-Python fallback.

h11 is a full connection state machine that expects the server to send a response before it
parses the next request. This adapter only parses, so it runs one ``h11.Connection`` per
request and hands the bytes left after a request (``trailing_data``) to the next one.

To behave exactly like the httptools adapter, a few things h11 accepts are refused here as llhttp
refuses them (bare LF line endings, obsolete line folding, control characters in header values,
methods llhttp does not know), and the headers are read back from the raw head, because h11
rewrites some values (it merges repeated Content-Length headers and lower-cases
Transfer-Encoding).
"""

from __future__ import annotations

import re

import h11

from .parser import (
    DEFAULT_MAX_HEAD_SIZE,
    DEFAULT_MAX_HEADERS,
    HttpParseError,
    HttpParser,
    RequestHead,
    RequestSink,
    build_request_head,
    check_transfer_encoding,
)

__all__ = ["H11Parser"]

_OPEN, _CLOSED, _UPGRADED = 0, 1, 2

# The request methods llhttp accepts (CONNECT and PRI are refused later, as for httptools).
KNOWN_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH "
    b"SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY "
    b"SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY PRI".split()
)

# The blank line that ends a head, as h11 finds it.
_HEAD_END = re.compile(rb"\n\r?\n")
# RFC 9110 §5.5: field values are VCHAR, obs-text, SP and HTAB; no other control characters.
_INVALID_VALUE_CHAR = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class H11Parser(HttpParser):
    """Request parser on h11. See :class:`~asgiws.http.parser.HttpParser`."""

    __slots__ = (
        "_buffer",
        "_conn",
        "_head",
        "_max_head_size",
        "_max_headers",
        "_on_body",
        "_on_complete",
        "_on_head",
        "_state",
    )

    name = "h11"

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
        self._state = _OPEN
        self._conn = self._new_connection()
        # Bytes of the head being received (None once it is parsed, until the next request).
        self._buffer: bytearray | None = bytearray()
        self._head: RequestHead | None = None

    def _new_connection(self) -> h11.Connection:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_head_size)

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``; see :meth:`HttpParser.feed`."""
        if self._state != _OPEN:
            if self._state == _UPGRADED:
                raise RuntimeError("the connection was upgraded; feed the WebSocket protocol")
            return None
        if not data:  # h11 would take b"" for the end of the connection
            return None
        try:
            self._receive(data)
            return self._process()
        except HttpParseError:
            self._state = _CLOSED
            raise

    def _receive(self, data: bytes) -> None:
        buffer = self._buffer
        if buffer is not None:
            if not buffer:
                # RFC 9112 §2.2: ignore empty lines before a request-line (llhttp does too).
                data = bytes(data).lstrip(b"\r\n")
                if not data:
                    return
            buffer += data
        self._conn.receive_data(data)

    def _process(self) -> bytes | None:
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                if exc.error_status_hint == 501 and self._buffer is not None:
                    self._check_transfer_encoding(self._buffer)
                raise HttpParseError(exc.error_status_hint, str(exc)) from None
            if isinstance(event, h11.Data):
                if event.data:
                    self._on_body(bytes(event.data))
            elif isinstance(event, h11.Request):
                rest = self._on_request(event)
                if rest is not None:
                    return rest
            elif isinstance(event, h11.EndOfMessage):
                self._on_complete()
                assert self._head is not None
                if not self._head.keep_alive:
                    self._state = _CLOSED
                    return None
                # Start the next request on a fresh connection with the bytes already received.
                trailing, _ = self._conn.trailing_data
                self._conn = self._new_connection()
                self._buffer = bytearray()
                self._head = None
                if trailing:
                    self._receive(trailing)
            else:  # NEED_DATA; PAUSED cannot happen: a connection serves a single request
                return None

    @staticmethod
    def _check_transfer_encoding(buffer: bytearray) -> None:
        # h11 answers 501 to any Transfer-Encoding but "chunked"; decide as for httptools.
        head = bytes(buffer).partition(b"\r\n\r\n")[0]
        values = [
            line.partition(b":")[2]
            for line in head.split(b"\r\n")
            if line[:18].lower() == b"transfer-encoding:"
        ]
        if values:
            check_transfer_encoding(b",".join(values))

    def _on_request(self, event: h11.Request) -> bytes | None:
        buffer = self._buffer
        assert buffer is not None
        self._buffer = None
        end = _HEAD_END.search(buffer)
        assert end is not None
        raw_head = bytes(buffer[: end.end()])
        # llhttp requires CRLF line endings and refuses obsolete line folding (RFC 9112 §5.2).
        if raw_head.count(b"\n") != raw_head.count(b"\r\n"):
            raise HttpParseError(400, "Line ending without CR")
        if b"\n " in raw_head or b"\n\t" in raw_head:
            raise HttpParseError(400, "Obsolete line folding in headers")
        if event.method not in KNOWN_METHODS:
            raise HttpParseError(400, "Invalid or unsupported method")
        headers: list[tuple[bytes, bytes]] = []
        for line in raw_head[:-4].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            value = value.strip(b" \t")
            if _INVALID_VALUE_CHAR.search(value):
                raise HttpParseError(400, "Invalid header value char")
            headers.append((name.lower(), value))
        if len(headers) != len(event.headers):  # h11 merged repeated Content-Length headers
            raise HttpParseError(400, "Duplicate Content-Length")
        head = self._head = build_request_head(
            event.method.decode("ascii"),
            event.target,
            event.http_version.decode("ascii"),
            headers,
            max_head_size=self._max_head_size,
            max_headers=self._max_headers,
            received_size=len(raw_head),
        )
        self._on_head(head)
        if head.websocket_upgrade:
            self._on_complete()
            self._state = _UPGRADED
            return bytes(buffer[end.end() :])
        return None
