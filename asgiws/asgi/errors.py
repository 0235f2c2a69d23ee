"""Errors the ASGI adapter raises into applications."""

from __future__ import annotations

__all__ = ["ClientDisconnected"]


class ClientDisconnected(OSError):
    """``send()`` after the client went away: an HTTP response to a closed connection, or a
    message on a closed WebSocket (ASGI spec 2.4: an :exc:`OSError` subclass)."""
