"""Writing HTTP/1.1 response heads (server side) and reading one (client side of the handshake)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus

from .parser import DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADERS, HttpParseError

__all__ = ["parse_response_head", "serialize_response", "serialize_response_head"]

HeaderPairs = Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]]

_STATUS_LINES: dict[int, bytes] = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode("ascii"))
    for status in HTTPStatus
}

# RFC 9110 §5.1: field-name = token.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Characters that would end a header line or a status line early (header injection).
_LINE_BREAKING = re.compile(rb"[\r\n\x00]")
# RFC 9110 §5.5: a field value is VCHAR, obs-text, SP and HTAB; no other control characters.
_INVALID_VALUE_CHAR = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3})(?: ([^\r\n]*))?")

# Statuses whose responses never carry a body or a Content-Length (RFC 9110 §8.6, §15.4.5).
_NO_CONTENT_LENGTH = frozenset({204, 304})


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else value


def _status_line(status: int, reason: str | None) -> bytes:
    if reason is None:
        line = _STATUS_LINES.get(status)
        if line is not None:
            return line
        reason = ""
    if not 100 <= status <= 999:
        raise ValueError(f"Invalid HTTP status code: {status!r}")
    encoded = reason.encode("latin-1")
    if _LINE_BREAKING.search(encoded):
        raise ValueError(f"Invalid character in reason phrase: {reason!r}")
    return b"HTTP/1.1 %d %s\r\n" % (status, encoded)


def serialize_response_head(
    status: int, headers: HeaderPairs = (), *, reason: str | None = None
) -> bytes:
    """Return ``HTTP/1.1 <status> <reason>\\r\\n``, the header lines and the blank line.

    ``headers`` are ``(name, value)`` pairs of bytes (ASGI style) or of str (encoded as latin-1),
    written in order and as given. ``reason`` defaults to the standard phrase of ``status``.

    Raises :exc:`ValueError` for a name that is not a token or a value containing CR, LF or NUL,
    which would let a caller's data inject headers or a second response.
    """
    parts = [_status_line(status, reason)]
    append = parts.append
    for name, value in headers:
        name_bytes, value_bytes = _as_bytes(name), _as_bytes(value)
        if _TOKEN.fullmatch(name_bytes) is None:
            raise ValueError(f"Invalid header name: {name!r}")
        if _LINE_BREAKING.search(value_bytes):
            raise ValueError(f"Invalid header value for {name!r}: {value!r}")
        append(name_bytes)
        append(b": ")
        append(value_bytes)
        append(b"\r\n")
    append(b"\r\n")
    return b"".join(parts)


def serialize_response(status: int, headers: HeaderPairs = (), body: bytes = b"") -> bytes:
    """Return a whole response: its head, with ``Content-Length`` added when absent, and body.

    No Content-Length is added to a 1xx, 204 or 304 response, which cannot have a body, nor when
    the headers declare a ``Transfer-Encoding``.
    """
    header_list = [(_as_bytes(name), _as_bytes(value)) for name, value in headers]
    no_body = status < 200 or status in _NO_CONTENT_LENGTH
    if no_body and body:
        raise ValueError(f"A {status} response cannot have a body")
    names = {name.lower() for name, _ in header_list}
    if not no_body and b"content-length" not in names and b"transfer-encoding" not in names:
        header_list.append((b"content-length", b"%d" % len(body)))
    return serialize_response_head(status, header_list) + body


def parse_response_head(
    buffer: bytes | bytearray,
    *,
    max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
    max_headers: int = DEFAULT_MAX_HEADERS,
) -> tuple[int, str, list[tuple[bytes, bytes]], int] | None:
    """Parse the response head at the start of ``buffer`` (the client side of a handshake).

    Returns ``(status, reason, headers, consumed)``, where ``headers`` has lower-cased names and
    stripped values in order, and ``consumed`` is the length of the head: the bytes after it
    (WebSocket frames the server sent right away) are ``buffer[consumed:]``. Returns ``None``
    while the head is incomplete. Raises :class:`HttpParseError` with status 400 when the head is
    malformed and 431 when it exceeds ``max_head_size`` bytes or ``max_headers`` headers.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        # Incomplete; fail early on what can already be seen to be wrong.
        if len(buffer) > max_head_size:
            raise HttpParseError(431, "Response head too large")
        prefix = bytes(buffer[:5])
        if prefix != b"HTTP/"[: len(prefix)]:
            raise HttpParseError(400, "Not an HTTP response")
        if buffer.count(b"\n") != buffer.count(b"\r\n"):
            raise HttpParseError(400, "Line ending without CR")
        return None
    consumed = end + 4
    if consumed > max_head_size:
        raise HttpParseError(431, "Response head too large")
    head = bytes(buffer[:end])
    if head.count(b"\n") != head.count(b"\r\n"):
        raise HttpParseError(400, "Line ending without CR")
    status_line, *lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(status_line)
    if match is None:
        raise HttpParseError(400, f"Invalid status line: {status_line[:100]!r}")
    status = int(match.group(2))
    if status < 100:
        raise HttpParseError(400, f"Invalid status code: {status}")
    reason_bytes = match.group(3) or b""
    if _INVALID_VALUE_CHAR.search(reason_bytes):
        raise HttpParseError(400, "Invalid character in reason phrase")
    if len(lines) > max_headers:
        raise HttpParseError(431, "Too many response headers")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(name) is None:
            # RFC 9112 §5.2 obsolete line folding starts with whitespace and ends up here too.
            raise HttpParseError(400, f"Invalid header line: {line[:100]!r}")
        value = value.strip(b" \t")
        if _INVALID_VALUE_CHAR.search(value):
            raise HttpParseError(400, f"Invalid header value: {line[:100]!r}")
        headers.append((name.lower(), value))
    return status, reason_bytes.decode("latin-1"), headers, consumed
