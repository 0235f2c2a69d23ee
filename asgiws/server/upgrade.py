"""Steps of the server's opening handshake shared by the native server and the ASGI adapter.

Both servers run the same sequence on an upgrade request: the ``process_request`` hook (which
may answer with plain HTTP), the RFC 6455 checks (a bad request gets its 4xx before any user
code sees it), and, once the connection is accepted, the 101 answer. What differs is who
decides: the native server's options, or the ASGI application's ``websocket.accept``.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Awaitable, Callable
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


def permessage_deflate_factories(enabled: bool) -> list[ServerExtensionFactory]:
    """The server extension factories: permessage-deflate when ``enabled`` and available."""
    if not enabled:
        return []
    try:
        from ..protocol.extensions.permessage_deflate import enable_server_permessage_deflate
    except ImportError:  # pragma: no cover - permessage-deflate not built yet
        return []
    return list(enable_server_permessage_deflate(None))
