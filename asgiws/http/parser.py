"""The HTTP/1.1 request parser interface shared by the httptools and h11 adapters.

An adapter turns request bytes into three events delivered to a :class:`RequestSink`:
``on_request_head(RequestHead)``, ``on_request_body(bytes)`` (zero or more times, as the body
arrives) and ``on_request_complete()``. Both adapters build their :class:`RequestHead` with
:func:`build_request_head`, so every rule that is ours rather than the underlying library's
(keep-alive, WebSocket upgrade detection, framing checks against request smuggling, limits,
percent-decoding) lives here, once.

Errors a client can cause raise :class:`HttpParseError`, which carries the status to answer with.
"""

from __future__ import annotations

import abc
from collections.abc import Container
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

__all__ = [
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEAD_SIZE",
    "HttpParseError",
    "HttpParser",
    "RequestHead",
    "RequestSink",
    "available_parsers",
    "build_request_head",
    "check_transfer_encoding",
    "create_parser",
]

DEFAULT_MAX_HEAD_SIZE = 65536
DEFAULT_MAX_HEADERS = 100

# Largest Content-Length accepted; llhttp rejects anything above 2**64 - 1 on its own.
MAX_CONTENT_LENGTH = 2**63 - 1


@dataclass(slots=True)
class RequestHead:
    """The request line and headers of one HTTP/1.x request, as both adapters deliver it.

    ``headers`` keeps the order and the duplicates of the request, with names lower-cased and
    values as sent (optional whitespace around them removed).
    """

    method: str
    raw_target: bytes
    path: str
    raw_path: bytes
    query_string: bytes
    http_version: str
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    websocket_upgrade: bool
    expect_continue: bool
    content_length: int | None = None
    chunked: bool = False

    @property
    def has_body(self) -> bool:
        """Whether body events may follow the head (chunked, or a non-zero Content-Length)."""
        return self.chunked or bool(self.content_length)


class HttpParseError(Exception):
    """The client sent a request we cannot serve; answer with :attr:`status` and close.

    ``status`` is 400 for malformed requests, 431 for a head too large or with too many headers,
    501 for an unsupported transfer coding or method, 505 for an HTTP version other than 1.0/1.1.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


class RequestSink(Protocol):
    """What a parser reports to: usually the connection's ``asyncio.Protocol``."""

    def on_request_head(self, head: RequestHead) -> None:
        """A complete request head was parsed."""

    def on_request_body(self, chunk: bytes) -> None:
        """A piece of the request body arrived (never empty)."""

    def on_request_complete(self) -> None:
        """The request (head and body) is complete."""


class HttpParser(abc.ABC):
    """A request parser adapter: bytes in, :class:`RequestSink` calls out.

    One instance parses one connection. :meth:`feed` delivers every event it can, in order,
    including those of several pipelined requests.

    * After a request that does not keep the connection alive (``Connection: close``, HTTP/1.0
      without ``keep-alive``) completes, further input is ignored: the server closes after the
      response.
    * When a head is a WebSocket upgrade, :meth:`feed` calls ``on_request_head`` and
      ``on_request_complete``, stops, and returns the bytes that followed the head (frames the
      client sent right after the handshake). The parser must not be fed again.
    """

    __slots__ = ()

    #: Name used by :func:`create_parser` ("httptools" or "h11").
    name: str = ""
    #: True when the parser is between requests: everything fed so far is parsed, and the
    #: next byte would begin a request. An adapter that cannot tell leaves it False.
    at_message_start: bool = False

    @abc.abstractmethod
    def __init__(
        self,
        sink: RequestSink,
        *,
        max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
        max_headers: int = DEFAULT_MAX_HEADERS,
    ) -> None:
        """Parse requests for ``sink``; heads over the limits raise :class:`HttpParseError` 431."""

    @abc.abstractmethod
    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``, calling the sink for each event in order.

        Returns the bytes that followed a WebSocket upgrade head (``b""`` if none) once such a
        head has been parsed, else ``None``. Raises :class:`HttpParseError` on malformed input.
        """


def _tokens(value: bytes) -> set[bytes]:
    """The lower-cased tokens of a comma-separated header value (RFC 9110 §5.6.1)."""
    return {token.strip(b" \t").lower() for token in value.split(b",")}


def _split_target(raw_target: bytes) -> tuple[bytes, bytes]:
    """Split a request-target into (raw path, query string) (RFC 9112 §3.2)."""
    if raw_target.startswith(b"/"):  # origin-form, by far the most common
        if b"#" in raw_target:  # a fragment is not part of a request-target; drop it
            raw_target = raw_target.partition(b"#")[0]
        raw_path, _, query_string = raw_target.partition(b"?")
        return raw_path, query_string
    if raw_target == b"*":  # asterisk-form (OPTIONS *)
        return b"*", b""
    # absolute-form: scheme "://" authority [path-abempty] ["?" query]
    scheme_end = raw_target.find(b"://")
    if scheme_end <= 0:
        raise HttpParseError(400, "Invalid request target")
    start = scheme_end + 3
    slash, question = raw_target.find(b"/", start), raw_target.find(b"?", start)
    if question >= 0 and (slash < 0 or question < slash):
        return _split_target(b"/" + raw_target[question:])
    return _split_target(raw_target[slash:] if slash >= 0 else b"/")


def check_transfer_encoding(value: bytes) -> None:
    """Raise :class:`HttpParseError` unless a Transfer-Encoding value is just ``chunked``."""
    codings = [coding.strip(b" \t").lower() for coding in value.split(b",")]
    if codings[-1] != b"chunked":  # RFC 9112 §6.3: the body length cannot be determined
        raise HttpParseError(400, "Transfer-Encoding does not end with chunked")
    if len(codings) > 1:  # RFC 9112 §6.1: a transfer coding we do not understand
        raise HttpParseError(501, "Only Transfer-Encoding: chunked is supported")


_SPECIAL_HEADERS = frozenset(
    {b"connection", b"upgrade", b"content-length", b"transfer-encoding", b"host", b"expect"}
)


def build_request_head(
    method: str,
    raw_target: bytes,
    http_version: str,
    headers: list[tuple[bytes, bytes]],
    *,
    max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
    max_headers: int = DEFAULT_MAX_HEADERS,
    received_size: int | None = None,
) -> RequestHead:
    """Validate a parsed request line and headers and build its :class:`RequestHead`.

    Shared by the adapters so they agree on every decision. ``headers`` must already have
    lower-cased names and stripped values.

    The size checked against ``max_head_size`` is that of the head written compactly
    (``METHOD target HTTP/x.y``, then ``name:value`` lines, each ending in CRLF, then CRLF),
    so that it depends neither on the parser nor on the client's whitespace. It is never more
    than the bytes received: an adapter that knows an upper bound of those passes it as
    ``received_size`` to skip the count when the head is clearly small enough.
    """
    return _build_request_head(
        method, raw_target, http_version, headers, max_head_size, max_headers, received_size
    )


def _build_request_head(
    method: str,
    raw_target: bytes,
    http_version: str,
    headers: list[tuple[bytes, bytes]],
    max_head_size: int,
    max_headers: int,
    received_size: int | None,
) -> RequestHead:
    # build_request_head with positional arguments: the adapters call this once per request.
    if len(headers) > max_headers:
        raise HttpParseError(431, "Too many request headers")
    if received_size is None or received_size > max_head_size:
        head_size = len(method) + len(raw_target) + 14 + 3 * len(headers)
        head_size += sum(map(len, chain.from_iterable(headers)))
        if head_size > max_head_size:
            raise HttpParseError(431, "Request head too large")
    if method == "PRI":
        raise HttpParseError(400, "HTTP/2 is not supported")
    http_11 = http_version == "1.1"
    if not http_11 and http_version != "1.0":
        raise HttpParseError(505, "HTTP version not supported")
    if method == "CONNECT":
        raise HttpParseError(501, "CONNECT is not supported")

    connection = upgrade = content_length_value = transfer_encoding = expect = None
    host_count = 0
    special = _SPECIAL_HEADERS
    for name, value in headers:
        if name in special:
            if name == b"host":
                host_count += 1
            elif name == b"connection":
                connection = value if connection is None else connection + b"," + value
            elif name == b"upgrade":
                upgrade = value if upgrade is None else upgrade + b"," + value
            elif name == b"content-length":
                if content_length_value is not None:
                    raise HttpParseError(400, "Duplicate Content-Length")
                content_length_value = value
            elif name == b"transfer-encoding":
                if transfer_encoding is None:
                    transfer_encoding = value
                else:
                    transfer_encoding = transfer_encoding + b"," + value
            else:
                expect = value if expect is None else expect + b"," + value

    # RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
    if host_count != 1 and (host_count > 1 or http_11):
        raise HttpParseError(400, "Missing or duplicate Host header")

    content_length: int | None = None
    if content_length_value is not None:
        # RFC 9112 §6.3: an invalid Content-Length is an unrecoverable framing error.
        if not content_length_value.isdigit():
            raise HttpParseError(400, "Invalid Content-Length")
        content_length = int(content_length_value)
        if content_length > MAX_CONTENT_LENGTH:
            raise HttpParseError(400, "Content-Length too large")
    chunked = False
    if transfer_encoding is not None:
        # RFC 9112 §6.1 and §6.3: a message with both is a smuggling attempt; HTTP/1.0 has no
        # transfer codings.
        if content_length is not None:
            raise HttpParseError(400, "Both Transfer-Encoding and Content-Length")
        if not http_11:
            raise HttpParseError(400, "Transfer-Encoding in an HTTP/1.0 request")
        check_transfer_encoding(transfer_encoding)
        chunked = True

    if connection is None:
        keep_alive = http_11
        websocket_upgrade = False
    else:
        connection_tokens: Container[bytes]
        if b"," in connection:
            connection_tokens = _tokens(connection)
        else:  # a single token, as almost always
            connection_tokens = (connection.strip(b" \t").lower(),)
        keep_alive = b"close" not in connection_tokens and (
            http_11 or b"keep-alive" in connection_tokens
        )
        websocket_upgrade = (
            method == "GET"
            and upgrade is not None
            and b"upgrade" in connection_tokens
            and b"websocket" in _tokens(upgrade)
        )
        if websocket_upgrade and (chunked or content_length):
            raise HttpParseError(400, "WebSocket upgrade request with a body")

    # RFC 9110 §10.1.1: a server MUST ignore a 100-continue expectation in an HTTP/1.0 request.
    expect_continue = expect is not None and http_11 and b"100-continue" in _tokens(expect)

    if raw_target.startswith(b"/") and b"#" not in raw_target:
        # origin-form without a fragment, by far the most common (_split_target otherwise)
        raw_path, _, query_string = raw_target.partition(b"?")
    else:
        raw_path, query_string = _split_target(raw_target)
    try:
        if b"%" in raw_path:
            path = unquote_to_bytes(raw_path).decode("utf-8")
        else:
            path = raw_path.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpParseError(400, "Request path is not valid UTF-8")

    return RequestHead(
        method,
        raw_target,
        path,
        raw_path,
        query_string,
        http_version,
        headers,
        keep_alive,
        websocket_upgrade,
        expect_continue,
        content_length,
        chunked,
    )


def _httptools_available() -> bool:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return False
    return True


def available_parsers() -> list[str]:
    """The parser kinds usable here, fastest first: ``["httptools", "h11"]`` or ``["h11"]``."""
    return ["httptools", "h11"] if _httptools_available() else ["h11"]


def create_parser(kind: str, sink: RequestSink, **limits: Any) -> HttpParser:
    """Create the request parser named ``kind`` for ``sink``.

    ``kind`` is ``"auto"`` (httptools when installed, else h11), ``"httptools"`` or ``"h11"``;
    ``limits`` are ``max_head_size`` and ``max_headers``. Raises :exc:`ImportError` when
    httptools is asked for and not installed, :exc:`ValueError` for an unknown kind.
    """
    return _find_parser_class(kind)(sink, **limits)


_PARSER_CLASSES: dict[str, type[HttpParser]] = {}


def parser_class(kind: str) -> type[HttpParser]:
    """The parser class :func:`create_parser` would use for ``kind``, looked up once per kind
    (servers create one parser per connection)."""
    cls = _PARSER_CLASSES.get(kind)
    if cls is None:
        cls = _PARSER_CLASSES[kind] = _find_parser_class(kind)
    return cls


def _find_parser_class(kind: str) -> type[HttpParser]:
    if kind == "auto":
        kind = available_parsers()[0]
    if kind == "httptools":
        try:
            from .httptools_parser import HttptoolsParser
        except ImportError as exc:
            raise ImportError(
                "The httptools HTTP parser is not installed: "
                "pip install 'asgiws[standard]', or use the h11 parser"
            ) from exc
        return HttptoolsParser
    if kind == "h11":
        from .h11_parser import H11Parser

        return H11Parser
    raise ValueError(f"Unknown HTTP parser {kind!r}: expected 'auto', 'httptools' or 'h11'")
