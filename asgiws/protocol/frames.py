"""WebSocket frame constants, masking and frame building (RFC 6455 §5.2).

Parsing lives in :mod:`asgiws.protocol.connection`, inlined into the receive loop for speed;
this module holds what both directions share and what :func:`~asgiws.broadcast` needs to build a
frame once for many connections.
"""

from __future__ import annotations

import enum
import os
import struct

__all__ = [
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "Opcode",
    "apply_mask",
    "build_frame",
    "unmask_at",
    "unmask_chunks",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2); the others are reserved."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
DATA_OPCODES = frozenset((OP_CONT, OP_TEXT, OP_BINARY))
CONTROL_OPCODES = frozenset((OP_CLOSE, OP_PING, OP_PONG))
OPCODE_NAMES = {op.value: op.name for op in Opcode}

_pack_16 = struct.Struct("!BBH").pack
_pack_64 = struct.Struct("!BBQ").pack


def _apply_mask_python(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455 §5.3), as one big-int XOR."""
    n = len(data)
    if n == 0:
        return b""
    repeated = mask * ((n + 3) >> 2)
    if len(repeated) != n:
        repeated = repeated[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )


def _unmask_at_python(data: bytes | bytearray | memoryview, start: int, end: int) -> bytes:
    """``data[start:end]`` XOR the 4-byte key at ``data[start - 4:start]``."""
    if start < 4 or end < start or end > len(data):
        raise ValueError("need 4 key bytes before start and end <= len(data)")
    return _apply_mask_python(data[start:end], bytes(data[start - 4 : start]))


def _unmask_chunks_python(
    chunks: list[bytes | bytearray | memoryview], start: int, end: int
) -> bytes:
    """:func:`unmask_at` over the concatenation of ``chunks``."""
    return _unmask_at_python(b"".join(chunks), start, end)


try:  # the C speedup, built at install time when a compiler is present
    from .._speedups import apply_mask as _apply_mask_c  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the build
    _apply_mask_c = None
try:
    from .._speedups import unmask_at as _unmask_at_c  # type: ignore[import-not-found]
    from .._speedups import unmask_chunks as _unmask_chunks_c  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the build (or an older one)
    _unmask_at_c = _unmask_chunks_c = None

apply_mask = _apply_mask_c or _apply_mask_python
"""XOR ``data`` with ``mask`` repeated: masking and unmasking are the same operation."""

unmask_at = _unmask_at_c or _unmask_at_python
"""Unmask the payload ``data[start:end]`` of a frame whose key is the 4 bytes before it,
without copying either out first."""

unmask_chunks = _unmask_chunks_c or _unmask_chunks_python
""":func:`unmask_at` over the concatenation of a list of buffers, without joining them: a
large frame as it arrived, read by read."""


def build_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = False,
) -> bytes:
    """Serialize one frame: header (with a fresh random mask key when ``mask``) and payload.

    ``rsv`` is the RSV bits as they sit in the first byte (``0x40`` for RSV1).
    """
    first = (0x80 if fin else 0) | rsv | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 65536:
        header = _pack_16(first, mask_bit | 126, length)
    else:
        header = _pack_64(first, mask_bit | 127, length)
    if mask:
        # RFC 6455 §5.3: a fresh, unpredictable key for every frame.
        key = os.urandom(4)
        return header + key + apply_mask(payload, key)
    return header + payload
