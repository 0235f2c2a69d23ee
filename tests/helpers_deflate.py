"""Shared by the permessage-deflate unit tests: settings tables and an in-memory handshake."""

from __future__ import annotations

from typing import Any

from asgiws.protocol.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

CONT, TEXT, BINARY, PING = 0, 1, 2, 9
RSV1 = 0x40
TAIL = b"\x00\x00\xff\xff"
ALWAYS, NEVER = 0.0, None  # idle_interval: hibernate after every message / keep zlib state

NAMES = "server_no_context_takeover client_no_context_takeover server_max_window_bits"
NAMES += " client_max_window_bits"


def config(*values: Any, **more: Any) -> dict[str, Any]:
    """Factory settings: the four RFC 7692 parameters in order, then keywords."""
    return {**dict(zip(NAMES.split(), values, strict=False)), **more}


def negotiate(
    server: dict[str, Any] | None = None, client: dict[str, Any] | None = None
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """The (server, client) extensions of a handshake between two asgiws factories."""
    offer = ClientPerMessageDeflateFactory(**(client or {}))
    response, server_ext = ServerPerMessageDeflateFactory(**(server or {})).process_request_params(
        offer.get_request_params(), []
    )
    return server_ext, offer.process_response_params(response, [])


def summary(extension: Any) -> tuple[Any, ...]:
    """(remote nct, local nct, remote bits, local bits) of an asgiws or websockets extension."""
    names = "remote_no_context_takeover local_no_context_takeover remote_max_window_bits"
    return tuple(getattr(extension, name) for name in f"{names} local_max_window_bits".split())


def fresh(**kwargs: Any) -> PerMessageDeflate:
    """An extension with context takeover and 15-bit windows both ways."""
    return PerMessageDeflate(False, False, 15, 15, **kwargs)
