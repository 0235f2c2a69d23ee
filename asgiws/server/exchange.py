"""One request and its response on an :class:`~asgiws.server.http.HttpConnection`.

:class:`HttpExchange` holds what the server knows about one HTTP/1.1 request/response cycle:
the request head, the request body received but not yet read (with flow control: reading the
socket pauses while more than :data:`BODY_HIGH_WATER` bytes wait), and the response being
written (framing by Content-Length, chunked transfer-coding or connection close; HEAD; the
``Date`` and ``Server`` headers). It knows nothing of ASGI: the ASGI adapter
(:mod:`asgiws.asgi.http`) and the health routes (:mod:`asgiws.server.health`) drive it.

The response head is not written on its own when it can wait: with a Content-Length it goes
out with the first body chunk in one ``write`` (one system call for a small response), and a
head without a length waits at most one event-loop iteration, so that a single-chunk body can
still get a Content-Length instead of chunked framing.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate
from http import HTTPStatus
from time import time as _time
from typing import TYPE_CHECKING, Any

from ..http import RequestHead

if TYPE_CHECKING:
    from .http import HttpConnection

__all__ = ["BODY_HIGH_WATER", "STATUS_LINES", "HttpExchange", "ResponseError", "date_line"]

#: Unread request body above which the connection stops reading the socket.
BODY_HIGH_WATER = 65536

STATUS_LINES: dict[int, bytes] = {
    status.value: b"HTTP/1.1 %d %s" % (status.value, status.phrase.encode("ascii"))
    for status in HTTPStatus
}

# Header names the server looks at in a response; every other valid name maps to 0.
_CONTENT_LENGTH, _TRANSFER_ENCODING, _CONNECTION, _DATE, _SERVER = 1, 2, 3, 4, 5
_SPECIAL_NAMES = {
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"connection": _CONNECTION,
    b"date": _DATE,
    b"server": _SERVER,
}
# RFC 9110 §5.6.2: token characters; a header name is a token.
_TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Validated response header names, and which of the special ones each is (bounded cache).
_NAME_KINDS: dict[bytes, int] = {}
_NAME_CACHE_SIZE = 4096
# A checked response head: the status line and header lines joined, its Content-Length (-1 if
# none), and whether it is chunked and has its own date, server and "connection: close".
_CheckedHead = tuple[bytes, int, bool, bool, bool, bool]
# Checked heads by (status, *headers): most responses repeat one of a few heads. Emptied when
# full, so that heads that vary (a length, a cookie) cannot keep the common ones out for long.
_CHECKED_HEADS: dict[tuple[Any, ...], _CheckedHead] = {}
_CHECKED_HEADS_SIZE = 256
_CHECKED_HEAD_MAX = 2048

_SERVER_LINE = b"server: asgiws"
_CHUNKED_LINE = b"transfer-encoding: chunked"
_CLOSE_LINE = b"connection: close"
_KEEP_ALIVE_LINE = b"connection: keep-alive"
_LAST_CHUNK = b"0\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Above this size a body is written apart from the head instead of being copied after it.
_COPY_LIMIT = 16384

_date_second = 0
_date_line = b""
_server_date_line = b""


class ResponseError(RuntimeError):
    """The application's response breaks HTTP: bad status, header or length."""


def date_line() -> bytes:
    """``date: <IMF-fixdate>`` for now, rebuilt at most once per second (RFC 9110 §6.6.1)."""
    now = int(time.time())
    if now != _date_second:
        _update_date(now)
    return _date_line


def _update_date(now: int) -> None:
    global _date_second, _date_line, _server_date_line
    _date_line = b"date: " + formatdate(now, usegmt=True).encode("ascii")
    _server_date_line = _SERVER_LINE + b"\r\n" + _date_line
    _date_second = now


def _status_line(status: Any) -> bytes:
    line = STATUS_LINES.get(status)
    if line is None:
        if type(status) is not int or not 100 <= status <= 999:
            raise ResponseError(f"Invalid HTTP status code: {status!r}")
        line = b"HTTP/1.1 %d " % status
    return line


def _name_kind(name: Any) -> int:
    """Validate a response header name not seen before; return which special header it is."""
    if type(name) is not bytes:
        raise ResponseError(f"Header names must be bytes, not {type(name).__name__}: {name!r}")
    if not name or name.translate(None, _TOKEN_CHARS):
        raise ResponseError(f"Invalid HTTP header name: {name!r}")
    kind = _SPECIAL_NAMES.get(name.lower(), 0)
    if len(_NAME_KINDS) < _NAME_CACHE_SIZE:
        _NAME_KINDS[name] = kind
    return kind


def _check_head(status: Any, headers: Any) -> _CheckedHead:
    """Validate a response's status and headers: the status line and header lines as one
    block, and what the server must know of them (see :data:`_CheckedHead`)."""
    line = STATUS_LINES.get(status)
    lines = [line if line is not None else _status_line(status)]
    append = lines.append
    content_length = -1
    chunked = has_date = has_server = has_close = False
    kinds = _NAME_KINDS
    for name, value in headers:
        kind = kinds.get(name)
        if kind is None:
            kind = _name_kind(name)
        if kind:
            if kind == _CONTENT_LENGTH:
                if content_length >= 0 or not value.isdigit():
                    raise ResponseError(f"Invalid or repeated Content-Length: {value!r}")
                content_length = int(value)
            elif kind == _TRANSFER_ENCODING:
                if value.lower() != b"chunked":
                    raise ResponseError(f"Unsupported Transfer-Encoding: {value!r}")
                chunked = True
            elif kind == _CONNECTION:
                if b"close" in value.lower():
                    has_close = True
            elif kind == _DATE:
                has_date = True
            else:
                has_server = True
        append(name + b": " + value)
    if chunked and content_length >= 0:
        raise ResponseError("Both Content-Length and Transfer-Encoding in the response")
    block = b"\r\n".join(lines)
    # One check for every value: each line break must be one of ours (header injection).
    breaks = len(lines) - 1
    if block.count(b"\n") != breaks or block.count(b"\r") != breaks or b"\0" in block:
        raise ResponseError("Invalid HTTP header value: CR, LF or NUL")
    return block, content_length, chunked, has_date, has_server, has_close


def _chunk(body: bytes, more_body: bool) -> bytes:
    """``body`` in chunked transfer-coding, with the last chunk after it when not ``more_body``
    (RFC 9112 §7.1)."""
    if body:
        return b"%x\r\n%b\r\n%b" % (len(body), body, b"" if more_body else _LAST_CHUNK)
    return b"" if more_body else _LAST_CHUNK


class HttpExchange:
    """One request/response cycle on an :class:`~asgiws.server.http.HttpConnection`.

    Request side: :attr:`head`, :meth:`read_body`, :meth:`wait_closed`. Response side:
    :meth:`start_response`, :meth:`write`, :meth:`respond` (a whole response at once),
    :meth:`drain` (wait while the socket's write buffer is full), :meth:`abort`.
    """

    __slots__ = (
        "_body",
        "_chunked",
        "_has_close",
        "_head_lines",
        "_head_pending",
        "_no_body",
        "_remaining",
        "_waiter",
        "body_buffered",
        "body_done",
        "connection",
        "disconnected",
        "expect_continue",
        "head",
        "keep_alive",
        "request_complete",
        "response_complete",
        "response_started",
        "started_at",
        "status",
    )

    def __init__(self, connection: HttpConnection, head: RequestHead) -> None:
        self.connection = connection
        self.head = head
        #: The connection may serve another request after this one.
        self.keep_alive = head.keep_alive
        #: A ``100 Continue`` is owed before the body is read.
        self.expect_continue = head.expect_continue
        #: The request body has been received entirely (``on_request_complete``).
        self.request_complete = False
        #: :meth:`read_body` returned the last piece of the body.
        self.body_done = False
        #: The client went away before the response was complete.
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.status = 0
        self.started_at = 0.0
        self._body: list[bytes] | tuple[()] = ()  # a list once some body arrived
        #: Bytes of request body received and not read yet.
        self.body_buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._head_lines: list[bytes] | None = None
        self._head_pending = False
        self._has_close = False
        self._chunked = False
        self._no_body = False
        self._remaining = -1  # bytes still due by Content-Length; -1 when not framed by it

    # -- request side, fed by the connection -------------------------------------------------

    def on_body(self, chunk: bytes) -> None:
        if self.response_complete:
            return  # the answer is out: the rest of the body is read and dropped
        body = self._body
        if not body:
            body = self._body = []
        body.append(chunk)  # type: ignore[union-attr]
        self.body_buffered += len(chunk)
        if self.body_buffered > BODY_HIGH_WATER:
            self.connection.update_reading()
        self._wake()

    def on_disconnect(self) -> None:
        if not self.response_complete:
            self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = self.connection.loop.create_future()
        await waiter

    # -- request side, for the application ---------------------------------------------------

    async def read_body(self) -> tuple[bytes, bool] | None:
        """The body received so far and whether more follows; None if the client is gone.

        Waits until some body arrived or the request is complete. Sends the ``100 Continue``
        a client asked for first. After the last piece, see :meth:`wait_closed`.
        """
        if self.expect_continue:
            self.expect_continue = False
            if not self.request_complete and not self.response_started:
                self.connection.write(_CONTINUE)
        while not (self.body_buffered or self.request_complete):
            if self.disconnected or self.response_complete:
                return None
            await self._wait()
        if self.disconnected:
            return None
        body = self._body
        if not body:
            data = b""
        elif len(body) == 1:
            data = body[0]
            body.clear()
        else:
            data = b"".join(body)
            body.clear()
        if self.body_buffered > BODY_HIGH_WATER:
            self.body_buffered = 0
            self.connection.update_reading()
        else:
            self.body_buffered = 0
        more_body = not self.request_complete
        if not more_body:
            self.body_done = True
        return data, more_body

    async def wait_closed(self) -> None:
        """Wait until the client goes away or the response is complete."""
        while not (self.disconnected or self.response_complete):
            await self._wait()

    # -- response side -------------------------------------------------------------------------

    def start_response(self, status: int, headers: Any) -> None:
        """Begin the response with ``status`` and ``headers`` (pairs of bytes).

        The head waits for the first body chunk when its length is known, else for the next
        event-loop iteration at most. Raises :class:`ResponseError` when the status or a header
        is not valid HTTP (a CR, LF or NUL in a value would let it inject headers).
        """
        if self._start(status, headers):
            self.connection.loop.call_soon(self._flush_head)

    def _start(self, status: int, headers: Any) -> bool:
        """Check and keep the head; return True when its length is unknown."""
        if self.response_started:
            raise ResponseError("The response has already started")
        kind = type(headers)
        if kind is list or kind is tuple:
            key = (status, *headers)
            try:
                checked = _CHECKED_HEADS.get(key)
            except TypeError:  # unhashable: lists for pairs, bytearray values
                checked = _check_head(status, headers)
            else:
                if checked is None:
                    checked = _check_head(status, headers)
                    if len(checked[0]) <= _CHECKED_HEAD_MAX:
                        if len(_CHECKED_HEADS) >= _CHECKED_HEADS_SIZE:
                            _CHECKED_HEADS.clear()
                        _CHECKED_HEADS[key] = checked
        else:
            checked = _check_head(status, headers)
        block, content_length, chunked, has_date, has_server, has_close = checked
        connection = self.connection
        if connection.server_header and not has_server:
            if connection.date_header and not has_date:
                now = _time()
                if not _date_second <= now < _date_second + 1:
                    _update_date(int(now))
                lines = [block, _server_date_line]
            else:
                lines = [block, _SERVER_LINE]
        elif connection.date_header and not has_date:
            lines = [block, date_line()]
        else:
            lines = [block]
        if connection.extra_header_lines:
            lines.extend(connection.extra_header_lines)
        if has_close:
            self.keep_alive = False
        # RFC 9110 §10.1.1: answering without reading a body the client holds back until a
        # 100 Continue leaves the connection in an unknown state; close it after the response.
        if self.expect_continue and not self.request_complete:
            self.keep_alive = False
        self.status = status
        self.response_started = True
        self._head_lines = lines
        self._head_pending = True
        self._has_close = has_close
        self._chunked = chunked
        if status < 200 or status == 204 or status == 304 or self.head.method == "HEAD":
            # RFC 9110 §9.3.2, §15.3.5, §15.4.5: no content; headers as for a GET.
            self._no_body = True
            return False
        if content_length >= 0:
            self._remaining = content_length
            return False
        return not chunked

    def _finish_head(self, body_length: int) -> bytes:
        """The head, framed: ``body_length`` is the whole body's length if known, else -1."""
        lines = self._head_lines
        assert lines is not None
        self._head_lines = None
        self._head_pending = False
        if not (self._no_body or self._chunked or self._remaining >= 0):
            if body_length >= 0:
                lines.append(b"content-length: %d" % body_length)
                self._remaining = body_length
            elif self.head.http_version == "1.1":
                lines.append(_CHUNKED_LINE)
                self._chunked = True
            else:
                self.keep_alive = False  # HTTP/1.0 without a length: the close ends the body
        if not self.keep_alive or self.connection.closing:
            self.keep_alive = False
            if not self._has_close:
                lines.append(_CLOSE_LINE)
        elif self.head.http_version == "1.0":
            lines.append(_KEEP_ALIVE_LINE)
        lines.append(b"\r\n")
        return b"\r\n".join(lines)

    def _flush_head(self) -> None:
        connection = self.connection
        if self._head_pending and connection.writable:
            connection.transport.write(self._finish_head(-1))  # type: ignore[union-attr]

    def write(self, body: bytes, more_body: bool = False) -> None:
        """Write a piece of the response body; the last one when not ``more_body``.

        Raises :class:`ResponseError` when the body would not match the Content-Length.
        """
        if self.response_complete or not self.response_started:
            raise ResponseError("No response in progress")
        if self._head_pending:
            data = self._finish_head(-1 if more_body else len(body))
            if self._no_body:
                pass
            elif self._chunked:
                data += _chunk(body, more_body)
            else:
                remaining = self._remaining
                if remaining >= 0:
                    remaining -= len(body)
                    if remaining < 0 or (remaining and not more_body):
                        self._count(len(body), more_body)  # raises
                    self._remaining = remaining
                if len(body) <= _COPY_LIMIT:
                    data += body
                elif self.connection.writable:
                    self.connection.transport.write(data)  # type: ignore[union-attr]
                    data = body
        elif self._no_body:
            data = b""
        elif self._chunked:
            data = _chunk(body, more_body)
        else:
            if self._remaining >= 0:
                self._count(len(body), more_body)
            data = body
        connection = self.connection
        if data and connection.writable:
            connection.transport.write(data)  # type: ignore[union-attr]
        if not more_body:
            self._complete()

    def write_prepared(self, status: int, data: bytes) -> None:
        """Write a whole response the caller built, head and body, framed (health routes)."""
        if self.response_started:
            raise ResponseError("The response has already started")
        self.status = status
        self.response_started = True
        connection = self.connection
        if connection.writable:
            connection.transport.write(data)  # type: ignore[union-attr]
        self._complete()

    def _complete(self) -> None:
        # Wake a receive() waiting for the disconnect; the connection goes on with the next
        # request.
        self.response_complete = True
        if self.body_buffered:
            self._body.clear()  # type: ignore[union-attr]  # a list once body_buffered
            self.body_buffered = 0
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self.connection.exchange_done(self)

    def _count(self, length: int, more_body: bool) -> None:
        remaining = self._remaining - length
        if remaining < 0:
            raise ResponseError("Response content longer than Content-Length")
        if remaining and not more_body:
            raise ResponseError("Response content shorter than Content-Length")
        self._remaining = remaining

    def respond(self, status: int, headers: Any, body: bytes = b"") -> None:
        """Write a whole response; a Content-Length is added unless ``headers`` frame it."""
        self._start(status, headers)
        self.write(body)

    async def drain(self) -> None:
        """Wait while the socket's write buffer is above its high-water mark."""
        if self.connection.write_paused:
            await self.connection.drain()

    def abort(self) -> None:
        """Give up on the response: close the connection (the client sees it cut short)."""
        self.keep_alive = False
        self.connection.close()
