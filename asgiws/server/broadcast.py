"""``broadcast()``: one message to many connections, encoded once, never blocking."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

from ..protocol import State, build_frame
from .connection import WebSocketCommonProtocol

__all__ = ["broadcast"]

logger = logging.getLogger("asgiws.server")


def broadcast(
    websockets: Iterable[WebSocketCommonProtocol],
    message: str | bytes | bytearray | memoryview,
    raise_exceptions: bool = False,
) -> None:
    """Send ``message`` to every open connection in ``websockets``, synchronously.

    The frame is encoded once and written to each server-side connection without extensions;
    a connection with per-connection state (a client's mask, a compression context) gets its
    own encoding. Connections that are not open are skipped. A connection whose write buffer is
    already over its ``write_limit`` (a slow or stuck client) is skipped with a warning, so that
    one slow peer cannot make a broadcast grow memory without bound; so is a connection in the
    middle of sending a fragmented message. With ``raise_exceptions``, the skips are collected
    and raised at the end as an :class:`ExceptionGroup` (Python 3.11+), as websockets does.
    """
    if raise_exceptions and sys.version_info < (3, 11):
        # ExceptionGroup is new in Python 3.11; websockets refuses the same way.
        raise ValueError("raise_exceptions requires at least Python 3.11")
    if isinstance(message, str):
        opcode = 0x1
        payload: bytes | bytearray | memoryview = message.encode()
    elif isinstance(message, (bytes, bytearray, memoryview)):
        opcode = 0x2
        payload = message
    else:
        raise TypeError("data must be str or bytes-like")
    shared_frame: bytes | None = None
    errors: list[Exception] = []
    for websocket in websockets:
        engine = websocket.engine
        if engine is None or engine.state is not State.OPEN or websocket._lost:
            continue
        transport: Any = websocket.transport
        if engine._send_opcode:
            websocket.logger.warning("skipped broadcast: sending a fragmented message")
            if raise_exceptions:
                errors.append(RuntimeError("sending a fragmented message"))
            continue
        if transport.get_write_buffer_size() > websocket.write_limit:
            websocket.logger.warning(
                "skipped broadcast: write buffer over write_limit (%d bytes)",
                transport.get_write_buffer_size(),
            )
            if raise_exceptions:
                errors.append(BufferError("write buffer over write_limit"))
            continue
        if engine.extensions or websocket.is_client or engine.debug:
            transport.write(engine._frame(opcode, payload))
        else:
            if shared_frame is None:
                shared_frame = build_frame(opcode, payload)
            transport.write(shared_frame)
    if errors:
        raise ExceptionGroup("skipped broadcast", errors)  # type: ignore[name-defined]  # noqa: F821
