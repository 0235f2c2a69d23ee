"""The sending half of :class:`~asgiws.protocol.connection.Connection`: calls in, frames out.

A mixin, so that the engine stays one class while receiving and sending have a module each.
"""

from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING

from ..exceptions import ProtocolError
from .close import Close, is_valid_close_code
from .events import State
from .extensions.base import Extension
from .frames import LARGE_FRAME, build_frame

__all__ = ["SendingMixin"]

_OPEN = State.OPEN
_pack_16 = struct.Struct("!BBH").pack
_pack_64 = struct.Struct("!BBQ").pack


# The 2-byte headers of unmasked single-frame text and binary messages under 126 bytes.
_SHORT_HEADERS = {
    first: [bytes((first, length)) for length in range(126)] for first in (0x81, 0x82)
}


def _unmasked_frame(first: int, payload: bytes | bytearray | memoryview) -> bytes:
    """A single unmasked frame with no RSV bits: the server's common case, header inline."""
    length = len(payload)
    if length < 126:
        return _SHORT_HEADERS[first][length] + payload
    if length < 65536:
        return _pack_16(first, 126, length) + payload
    return _pack_64(first, 127, length) + payload


class SendingMixin:
    """``send_*``: each returns the bytes to write, and moves the state when it must."""

    if not TYPE_CHECKING:  # (mypy would hold the mixin's own code to an empty __slots__)
        __slots__ = ()  # the attributes are slots of the class that mixes it in

    # Set by Connection.
    close_rcvd_then_sent: bool | None
    close_sent: Close | None
    debug: bool
    extensions: list[Extension]
    logger: logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]
    state: State
    _fast_send: bool
    _mask_out: bool
    _output: list[bytes]
    _send_opcode: int

    if TYPE_CHECKING:  # Connection defines it

        def _log_frame(
            self,
            direction: str,
            opcode: int,
            payload: bytes | bytearray | memoryview,
            fin: int | bool,
        ) -> None: ...

    def send_text(self, data: str | bytes | bytearray | memoryview, fin: bool = True) -> bytes:
        """Return the frame(s) of a text message, or of its first fragment when not ``fin``.

        ``data`` may already be UTF-8 ``bytes``.
        """
        payload = data.encode() if isinstance(data, str) else data
        if fin and self._fast_send and self.state is _OPEN and not self._send_opcode:
            return _unmasked_frame(0x81, payload)
        return self._send_data(0x1, payload, fin)

    def send_binary(self, data: bytes | bytearray | memoryview, fin: bool = True) -> bytes:
        """Return the frame of a binary message, or of its first fragment when not ``fin``."""
        if fin and self._fast_send and self.state is _OPEN and not self._send_opcode:
            return _unmasked_frame(0x82, data)
        return self._send_data(0x2, data, fin)

    def send_message_parts(
        self, data: str | bytes | bytearray | memoryview
    ) -> list[bytes | bytearray | memoryview]:
        """:meth:`send_text` (for ``str``) or :meth:`send_binary`, as a list of buffers to
        write in order: a large unmasked frame comes as its header and the payload itself,
        so that the payload is not copied behind the header."""
        payload = data.encode() if isinstance(data, str) else data
        if (
            len(payload) >= LARGE_FRAME
            and self._fast_send
            and self.state is _OPEN
            and not self._send_opcode
        ):
            first = 0x81 if isinstance(data, str) else 0x82
            length = len(payload)
            if length < 65536:
                return [_pack_16(first, 126, length), payload]
            return [_pack_64(first, 127, length), payload]
        if isinstance(data, str):
            return [self.send_text(payload)]
        return [self.send_binary(payload)]

    def send_continuation(self, data: bytes | bytearray | memoryview | str, fin: bool) -> bytes:
        """Return the frame of the next fragment of the message in progress."""
        if not self._send_opcode:
            raise ProtocolError("no fragmented message in progress")
        payload = data.encode() if isinstance(data, str) else data
        return self._send_data(0x0, payload, fin)

    def _send_data(self, opcode: int, payload: bytes | bytearray | memoryview, fin: bool) -> bytes:
        if self.state is not State.OPEN:
            raise ProtocolError(f"cannot send a message in state {self.state.name}")
        if opcode:
            if self._send_opcode:
                raise ProtocolError("a fragmented message is in progress")
            if not fin:
                self._send_opcode = opcode
        elif fin:
            self._send_opcode = 0
        return self._frame(opcode, payload, fin)

    def send_ping(self, data: bytes = b"") -> bytes:
        """Return a ping frame."""
        return self._control_frame(0x9, data, "ping")

    def send_pong(self, data: bytes = b"") -> bytes:
        """Return a pong frame (an unsolicited pong is a valid heartbeat, RFC 6455 §5.5.3)."""
        return self._control_frame(0xA, data, "pong")

    def _control_frame(self, opcode: int, data: bytes, name: str) -> bytes:
        if self.state is not State.OPEN:
            raise ProtocolError(f"cannot send a {name} in state {self.state.name}")
        if len(data) > 125:
            raise ProtocolError("control frame payloads are at most 125 bytes")  # RFC 6455 §5.5
        return self._frame(opcode, data)

    def send_close(self, code: int | None = None, reason: str = "") -> bytes:
        """Start the close handshake: return the close frame (empty payload when ``code`` is
        None) and move to CLOSING. Call only once."""
        if self.close_sent is not None:
            raise ProtocolError("close frame already sent")
        if code is not None and not is_valid_close_code(code):
            # RFC 6455 §7.4: 1005, 1006, 1015 and unassigned codes never go on the wire.
            raise ProtocolError(f"invalid close code {code}")
        close = Close(1005, "") if code is None else Close(code, reason)
        if len(close.serialize()) > 125:
            raise ProtocolError("close reason over 123 bytes")
        self.close_rcvd_then_sent = False
        self.state = State.CLOSING
        self.close_sent = close
        return self._frame(0x8, close.serialize())

    def _send_close_frame(self, close: Close) -> None:
        self.close_sent = close
        self._output.append(self._frame(0x8, close.serialize()))

    def _frame(
        self, opcode: int, payload: bytes | bytearray | memoryview, fin: bool = True
    ) -> bytes:
        rsv = 0
        if self.debug:
            self._log_frame(">", opcode, payload, fin)
        if opcode < 0x8 and self.extensions:
            for extension in self.extensions:
                payload, bits = extension.encode(opcode, bytes(payload), fin)
                rsv |= bits
        return build_frame(opcode, payload, fin, rsv, self._mask_out)
