"""How a message travels through Redis: one type byte, then the payload.

``t`` + UTF-8 text is a text message, ``b`` + bytes a binary one. The byte keeps text and
binary apart (Redis only knows bytes) and stays readable in ``redis-cli MONITOR``; any other
program can publish to asgiws clients with ``PUBLISH asgiws:<channel> "thello"``.
"""

from __future__ import annotations

__all__ = ["BINARY", "TEXT", "decode_message", "encode_message"]

TEXT = b"t"
BINARY = b"b"


def encode_message(message: str | bytes | bytearray | memoryview) -> bytes:
    """The Redis payload of ``message``: ``str`` becomes text, bytes-like binary."""
    if isinstance(message, str):
        return TEXT + message.encode()
    if isinstance(message, (bytes, bytearray, memoryview)):
        return BINARY + bytes(message)
    raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")


def decode_message(payload: bytes) -> str | bytes:
    """The message carried by ``payload``; :class:`ValueError` when it is not one of ours
    (no known type byte, or text that is not UTF-8)."""
    kind = payload[:1]
    if kind == TEXT:
        try:
            return payload[1:].decode()
        except UnicodeDecodeError as exc:
            raise ValueError(f"text message is not valid UTF-8: {exc}") from None
    if kind == BINARY:
        return payload[1:]
    raise ValueError(f"unknown message type byte {kind!r}")
