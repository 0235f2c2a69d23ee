"""WebSocket frame constants, masking and frame building (RFC 6455 §5.2).

Parsing lives in :mod:`asgiws.protocol.connection`, inlined into the receive loop for speed;
this module holds what both directions share and what :func:`~asgiws.broadcast` needs to build a
frame once for many connections.
"""

from __future__ import annotations

import enum
import os
import struct
from collections.abc import Callable

__all__ = [
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "LARGE_FRAME",
    "Opcode",
    "apply_mask",
    "build_frame",
    "payload_buffer",
    "payload_bytes",
    "unmask_at",
    "unmask_into",
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

LARGE_FRAME = 65536
"""Frames with at least this much payload are large: received read by read (a whole message
is unmasked into the buffer it is delivered in) and sent as header and payload apart, so that
neither way copies the payload into a growing or concatenated buffer."""

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


def _same_bytes(buffer: bytes | bytearray) -> bytes:
    return buffer  # type: ignore[return-value]  # payload_buffer() made bytes


def _payload_buffer_python(size: int) -> bytearray:
    """A buffer of ``size`` bytes for :func:`unmask_into` to fill."""
    return bytearray(size)


def _unmask_into_python(
    target: bytearray,
    offset: int,
    data: bytes | bytearray | memoryview,
    start: int,
    end: int,
    key: bytes | None,
) -> None:
    """Write ``data[start:end]`` XOR ``key`` (``None``: as is) into ``target[offset:]``; the
    key's phase is given by ``offset``, the position in the whole payload."""
    size = end - start
    if start < 0 or size < 0 or end > len(data) or offset < 0 or offset > len(target) - size:
        raise ValueError("data[start:end] does not fit target[offset:]")
    if key is not None and len(key) != 4:
        raise ValueError("key must contain 4 bytes")
    if key is None:
        target[offset : offset + size] = data[start:end]
    else:
        phase = offset & 3
        target[offset : offset + size] = _apply_mask_python(
            data[start:end], key[phase:] + key[:phase]
        )


try:  # the C speedup, built at install time when a compiler is present
    from .._speedups import apply_mask as _apply_mask_c  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the build
    _apply_mask_c = None
try:
    from .._speedups import unmask_at as _unmask_at_c  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the build (or an older one)
    _unmask_at_c = None
try:
    from .._speedups import payload_buffer as _payload_buffer_c  # type: ignore[import-not-found]
    from .._speedups import unmask_into as _unmask_into_c  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the build (or an older one)
    _payload_buffer_c = _unmask_into_c = None

apply_mask = _apply_mask_c or _apply_mask_python
"""XOR ``data`` with ``mask`` repeated: masking and unmasking are the same operation."""

unmask_at = _unmask_at_c or _unmask_at_python
"""Unmask the payload ``data[start:end]`` of a frame whose key is the 4 bytes before it,
without copying either out first."""

if _payload_buffer_c is not None and _unmask_into_c is not None:
    payload_buffer: Callable[[int], bytes | bytearray] = _payload_buffer_c
    unmask_into: Callable[..., None] = _unmask_into_c
    payload_bytes: Callable[[bytes | bytearray], bytes] = _same_bytes
else:  # pragma: no cover - depends on the build
    payload_buffer = _payload_buffer_python
    unmask_into = _unmask_into_python
    payload_bytes = bytes
"""A large frame's payload is unmasked straight into its final buffer as each read arrives:
``payload_buffer(n)`` makes the buffer, ``unmask_into(buffer, offset, data, start, end, key)``
fills part of it, and ``payload_bytes(buffer)`` turns the full buffer into the message's
``bytes`` (with the C speedup, the buffer already is that object: no copy at all)."""


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
