"""Steps of the server's opening handshake shared by the native server and the ASGI adapter.

Both servers run the same sequence on an upgrade request: the ``process_request`` hook (which
may answer with plain HTTP), the RFC 6455 checks (a bad request gets its 4xx before any user
code sees it), and, once the connection is accepted, the 101 answer. What differs is who
decides: the native server's options, or the ASGI application's ``websocket.accept``.
"""

from __future__ import annotations

import binascii
import hashlib
import http
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..datastructures import Headers, HeadersLike
from ..exceptions import AbortHandshake, InvalidHandshake, InvalidVersion
from ..http.response import serialize_response_head
from ..protocol import handshake
from ..protocol.extensions.base import ServerExtensionFactory

__all__ = [
    "HttpAnswer",
    "encode_headers",
    "handshake_failure",
    "permessage_deflate_factories",
    "run_process_request",
    "switching_protocols",
    "switching_protocols_head",
]

HttpAnswer = tuple[int, HeadersLike, bytes]
"""A plain HTTP answer to an upgrade request: ``(status, headers, body)``."""

HOOK_FAILED_BODY = b"Failed to open a WebSocket connection.\nSee server log for more information.\n"


async def run_process_request(
    call: Callable[[], Awaitable[Any]], logger: logging.Logger | logging.LoggerAdapter[Any]
) -> HttpAnswer | None:
    """Await a ``process_request`` hook call; return its HTTP answer, or None to go on.

    The hook may return ``(status, headers, body)`` or a :class:`handshake.Response`, or raise
    :exc:`AbortHandshake`. Any other exception is logged and answered with 500.
    """
    try:
        answer = await call()
    except AbortHandshake as exc:
        return int(exc.status), exc.headers, exc.body
    except Exception:
        logger.error("process_request hook failed", exc_info=True)
        return 500, Headers(), HOOK_FAILED_BODY
    if answer is None:
        return None
    if isinstance(answer, handshake.Response):
        return answer.status_code, answer.headers, answer.body
    status, headers, body = answer
    return int(status), headers, body.encode() if isinstance(body, str) else body


def handshake_failure(exc: InvalidHandshake) -> HttpAnswer:
    """The HTTP answer to a request that failed the RFC 6455 checks."""
    headers = Headers()
    if isinstance(exc, InvalidVersion):
        headers["Sec-WebSocket-Version"] = "13"  # RFC 6455 §4.4
    elif getattr(exc, "status", None) == http.HTTPStatus.UPGRADE_REQUIRED:
        headers["Upgrade"] = "websocket"
    status = int(getattr(exc, "status", http.HTTPStatus.BAD_REQUEST))
    return status, headers, f"Failed to open a WebSocket connection: {exc}.\n".encode()


def encode_headers(headers: HeadersLike) -> list[tuple[bytes, bytes]]:
    """Any headers a hook may return (Headers, mapping, pairs) as latin-1 byte pairs."""
    if headers is None:
        return []
    if isinstance(headers, Headers):
        items: Any = headers.raw_items()
    elif hasattr(headers, "items"):
        items = headers.items()
    else:
        items = headers
    return [
        (
            name.encode("latin-1") if isinstance(name, str) else bytes(name),
            value.encode("latin-1") if isinstance(value, str) else bytes(value),
        )
        for name, value in items
    ]


def switching_protocols(response_headers: Headers) -> bytes:
    """The 101 Switching Protocols response head for ``response_headers``."""
    return serialize_response_head(
        101,
        [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response_headers.raw_items()],
    )


_SWITCHING_PROTOCOLS = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: "
)
_GUID = handshake.GUID.encode()
# RFC 9110 §5.6.2: the characters of a token (a header name).
_TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Server header values seen, as their response line (or None when the value is not valid).
_SERVER_LINES: dict[str, bytes | None] = {}


def _line(name: bytes, value: str) -> bytes | None:
    """``name: value`` and CRLF, or None when ``value`` would not serialize as it is."""
    try:
        encoded = value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    if b"\r" in encoded or b"\n" in encoded or b"\0" in encoded:
        return None
    return name + encoded + b"\r\n"


def switching_protocols_head(
    key: str,
    subprotocol: str | None,
    extensions: str | None,
    server_header: str | None,
    more: Sequence[tuple[bytes, bytes]] = (),
) -> bytes:
    """The 101 response head for these handshake results, built directly.

    The same bytes as ``switching_protocols(handshake.build_response_headers(key, ...))`` with
    the ``more`` header pairs added after, and the same errors for what cannot be sent (that
    takes the slow path).
    """
    parts = [
        _SWITCHING_PROTOCOLS,
        binascii.b2a_base64(hashlib.sha1(key.encode() + _GUID).digest(), newline=False),
        b"\r\n",
    ]
    if extensions is not None:
        line = _line(b"Sec-WebSocket-Extensions: ", extensions)
        if line is None:
            return _slow_switching_protocols(key, subprotocol, extensions, server_header, more)
        parts.append(line)
    if subprotocol is not None:
        line = _line(b"Sec-WebSocket-Protocol: ", subprotocol)
        if line is None:
            return _slow_switching_protocols(key, subprotocol, extensions, server_header, more)
        parts.append(line)
    if server_header:
        line = _SERVER_LINES.get(server_header)
        if line is None:
            line = _line(b"Server: ", server_header)
            if line is None:
                return _slow_switching_protocols(key, subprotocol, extensions, server_header, more)
            if len(_SERVER_LINES) < 64:
                _SERVER_LINES[server_header] = line
        parts.append(line)
    for name, value in more:
        if (
            type(name) is not bytes
            or type(value) is not bytes
            or not name
            or name.translate(None, _TOKEN_CHARS)
            or b"\r" in value
            or b"\n" in value
            or b"\0" in value
        ):
            return _slow_switching_protocols(key, subprotocol, extensions, server_header, more)
        parts.append(name + b": " + value + b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def _slow_switching_protocols(
    key: str,
    subprotocol: str | None,
    extensions: str | None,
    server_header: str | None,
    more: Sequence[tuple[bytes, bytes]] = (),
) -> bytes:
    headers = handshake.build_response_headers(
        key, subprotocol=subprotocol, extensions=extensions, server_header=server_header
    )
    for name, value in more:
        headers[name.decode("latin-1")] = value.decode("latin-1")
    return switching_protocols(headers)


def permessage_deflate_factories(enabled: bool) -> list[ServerExtensionFactory]:
    """The server extension factories: permessage-deflate when ``enabled`` and available."""
    if not enabled:
        return []
    try:
        from ..protocol.extensions.permessage_deflate import enable_server_permessage_deflate
    except ImportError:  # pragma: no cover - permessage-deflate not built yet
        return []
    return list(enable_server_permessage_deflate(None))
