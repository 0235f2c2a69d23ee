"""The sans-I/O WebSocket engine (RFC 6455): bytes in, events out; calls in, bytes out.

One class serves both roles; :class:`Role` decides the masking rules. The engine never touches
a socket or an event loop: the asyncio layer feeds it with :meth:`Connection.receive_data`, writes
what :meth:`Connection.data_to_send` and the ``send_*`` methods return, and reads the events.

Events, in the order frames arrive:

* a complete data message, as the message itself: ``str`` (text) or ``bytes`` (binary);
* :class:`PingReceived`, :class:`PongReceived` (a pong answering the ping is already queued);
* :class:`CloseReceived`: the peer's close frame (the echo is already queued);
* :class:`ConnectionFailed`: the peer broke the protocol; a close frame with the RFC's code is
  queued, and the engine ignores every later byte (RFC 6455 §7.1.7).
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Sequence

from ..exceptions import PayloadTooBig, ProtocolError
from .close import Close
from .events import (
    CloseReceived,
    ConnectionFailed,
    Event,
    PingReceived,
    PongReceived,
    Role,
    State,
)
from .extensions.base import Extension
from .frames import (
    LARGE_FRAME,
    OPCODE_NAMES,
    payload_buffer,
    payload_bytes,
    unmask_at,
    unmask_into,
)
from .sending import SendingMixin

__all__ = [
    "CloseReceived",
    "Connection",
    "ConnectionFailed",
    "Event",
    "PingReceived",
    "PongReceived",
    "Role",
    "State",
]

_utf8_decoder = codecs.getincrementaldecoder("utf-8")

# The buffer of a large message is made when its header arrives, sized by the header, so only up
# to this size (and max_size): a bigger frame's announced length is not trusted with memory
# before its bytes arrive, and it is kept read by read like the others.
_PREALLOCATE_MAX = 16 * 2**20


class Connection(SendingMixin):
    """A WebSocket connection's protocol state after the opening handshake.

    :param role: :attr:`Role.SERVER` requires masked frames from the peer and sends unmasked ones;
        :attr:`Role.CLIENT` the reverse, with a fresh mask key for every frame.
    :param max_size: the largest incoming message in bytes (after decompression); ``None`` for
        no limit. Checked as each frame header arrives, before any payload is buffered.
    :param extensions: negotiated extensions, in the order of the handshake response.
    :param logger: frames are logged at DEBUG on this logger (``"<"`` in, ``">"`` out).
    """

    __slots__ = (
        "_allowed_rsv",
        "_buffer",
        "_chunks",
        "_chunks_header",
        "_chunks_need",
        "_chunks_size",
        "_decoder",
        "_discard",
        "_expect_masked",
        "_fast_limit",
        "_fast_send",
        "_mask_bit",
        "_mask_out",
        "_message_opcode",
        "_message_parts",
        "_message_size",
        "_message_text",
        "_output",
        "_payload",
        "_payload_filled",
        "_payload_first",
        "_payload_key",
        "_send_opcode",
        "close_rcvd",
        "close_rcvd_then_sent",
        "close_sent",
        "debug",
        "eof_received",
        "extensions",
        "failure",
        "logger",
        "max_size",
        "role",
        "state",
    )

    def __init__(
        self,
        role: Role,
        *,
        max_size: int | None = 2**20,
        extensions: Sequence[Extension] = (),
        logger: logging.Logger | logging.LoggerAdapter | None = None,  # type: ignore[type-arg]
    ) -> None:
        self.role = role
        self.max_size = max_size
        self.extensions = list(extensions)
        self.logger = logger if logger is not None else logging.getLogger("asgiws.protocol")
        self.debug = self.logger.isEnabledFor(logging.DEBUG)
        self.state = State.OPEN
        # Close handshake bookkeeping.
        self.close_rcvd: Close | None = None
        self.close_sent: Close | None = None
        self.close_rcvd_then_sent: bool | None = None
        self.eof_received = False
        self.failure: Exception | None = None
        # RSV bits the negotiated extensions may set.
        self._allowed_rsv = 0
        for extension in self.extensions:
            self._allowed_rsv |= extension.rsv_bits
        self._mask_out = role is Role.CLIENT
        self._expect_masked = role is Role.SERVER
        self._mask_bit = 0x80 if role is Role.SERVER else 0
        # Frames up to this size take receive_data's fast path (-1: none do, because extensions
        # or frame logging need the general path).
        if self.extensions or self.debug:
            self._fast_limit = -1
        else:
            self._fast_limit = max_size if max_size is not None else 1 << 63
        self._fast_send = not self.extensions and not self.debug and role is Role.SERVER
        # Receiving: the bytes of an incomplete frame (a bytearray while there are some).
        self._buffer: bytes | bytearray = b""
        # A large frame still arriving: its reads so far (the first one starts with its
        # header), their total size, the size of the whole frame and of its header.
        self._chunks: list[bytes] | None = None
        self._chunks_size = 0
        self._chunks_need = 0
        self._chunks_header = 0
        # A large single-frame message still arriving: the buffer it is unmasked into, how much
        # of it is filled, its first header byte (0x81 text, 0x82 binary) and its masking key.
        self._payload: bytes | bytearray | None = None
        self._payload_filled = 0
        self._payload_first = 0
        self._payload_key: bytes | None = None
        self._discard = False  # after a failure or the peer's close: ignore every byte
        self._message_opcode = 0  # opcode of the fragmented message in progress, 0 if none
        # The fragments of that message (lists while one is in progress).
        self._message_parts: list[bytes] | tuple[()] = ()
        self._message_text: list[str] | tuple[()] = ()
        self._message_size = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        self._output: list[bytes] = []
        # Sending: opcode of the outgoing fragmented message in progress, 0 if none.
        self._send_opcode = 0

    # ----------------------------------------------------------------------------- receiving

    def receive_data(self, data: bytes | bytearray) -> list[Event]:
        """Feed bytes from the peer; return the events they complete.

        Anything to write back (pongs, the close echo, a failure's close frame) is then waiting
        in :meth:`data_to_send`.
        """
        if self._discard or not data:
            return []
        if self._payload is not None:
            return self._large_payload_received(data)
        if self._chunks is not None:
            self._chunks.append(data)  # type: ignore[arg-type]
            self._chunks_size += len(data)
            if self._chunks_size < self._chunks_need:
                return []
            return self._large_frame_complete()
        buffer = self._buffer
        if not buffer and not self._message_opcode:
            # The most common read of all: exactly one whole short text or binary frame.
            first = data[0]
            if first == 0x81 or first == 0x82:
                mask_bit = self._mask_bit
                length = len(data) - (6 if mask_bit else 2)
                if (
                    0 <= length < 126
                    and data[1] == mask_bit | length
                    and length <= self._fast_limit
                ):
                    payload = unmask_at(data, 6, length + 6) if mask_bit else bytes(data[2:])
                    if first == 0x82:
                        return [payload]
                    try:
                        return [payload.decode()]
                    except UnicodeDecodeError:
                        pass  # the general path below fails the connection with 1007
        events: list[Event] = []
        if buffer:
            buffer += data
            view: bytes | bytearray = buffer
        else:
            view = data
        pos = 0
        end = len(view)
        mask_bit = self._mask_bit
        fast_limit = self._fast_limit
        try:
            while end - pos >= 2:
                first = view[pos]
                second = view[pos + 1]
                length = second & 0x7F
                header = 2
                if length == 126:
                    if end - pos < 4:
                        break
                    length = (view[pos + 2] << 8) | view[pos + 3]
                    header = 4
                elif length == 127:
                    if end - pos < 10:
                        break
                    length = int.from_bytes(view[pos + 2 : pos + 10], "big")
                    header = 10
                    if length >> 63:
                        raise ProtocolError("frame length has the most significant bit set")
                masked = second & 0x80
                if masked:
                    header += 4
                if (
                    (first == 0x81 or first == 0x82)
                    and masked == mask_bit
                    and length <= fast_limit
                    and not self._message_opcode
                ):
                    # Fast path: a whole text or binary message in one frame, which passed
                    # every check of _check_frame (FIN, no RSV, masking, size, no fragments).
                    if end - pos < header + length:
                        if length > _PREALLOCATE_MAX:
                            pos = self._large_frame_started(view, pos, end, header, length)
                        elif length >= LARGE_FRAME and end - pos >= header:
                            pos = self._large_payload_started(view, pos, end, header, length)
                        break
                    start = pos + header
                    pos = start + length
                    payload = unmask_at(view, start, pos) if masked else bytes(view[start:pos])
                    events.append(payload.decode() if first == 0x81 else payload)
                    continue
                opcode = first & 0x0F
                rsv = first & 0x70
                fin = first & 0x80
                self._check_frame(opcode, rsv, fin, masked, length)
                if end - pos < header + length:
                    # Wait for the rest of the frame.
                    if length >= LARGE_FRAME:
                        pos = self._large_frame_started(view, pos, end, header, length)
                    break
                start = pos + header
                pos = start + length
                payload = unmask_at(view, start, pos) if masked else bytes(view[start:pos])
                if opcode < 0x8:
                    event = self._receive_data_frame(opcode, payload, rsv, fin)
                    if event is not None:
                        events.append(event)
                else:
                    if self.debug:
                        self._log_frame("<", opcode, payload, fin)
                    events.append(self._receive_control_frame(opcode, payload))
                    if self._discard:
                        break
        except ProtocolError as exc:
            events.append(self._fail(1002, str(exc), exc))
        except UnicodeDecodeError as exc:
            events.append(self._fail(1007, "invalid UTF-8", exc))
        except PayloadTooBig as exc:
            events.append(self._fail(1009, str(exc), exc))
        if self._discard:
            self._buffer = b""
        elif view is buffer:
            if pos == end:
                self._buffer = b""  # let the memory go: an idle connection keeps none
            else:
                del buffer[:pos]  # type: ignore[union-attr]
        elif pos < end:
            self._buffer = bytearray(view[pos:])
        return events

    def _large_frame_started(
        self, view: bytes | bytearray, pos: int, end: int, header: int, length: int
    ) -> int:
        """Keep the start of a large frame (its header checked) as the first of its reads;
        return the new parse position (all of ``view`` consumed)."""
        first = view if pos == 0 and type(view) is bytes else bytes(view[pos:end])
        self._chunks = [first]
        self._chunks_size = end - pos
        self._chunks_need = header + length
        self._chunks_header = header
        return end

    def _large_frame_complete(self) -> list[Event]:
        """The large frame in :attr:`_chunks` has arrived (and maybe more after it): parse it
        through the general path, whole."""
        chunks = self._chunks
        assert chunks is not None
        self._chunks = None
        return self.receive_data(b"".join(chunks))

    def _large_payload_started(
        self, view: bytes | bytearray, pos: int, end: int, header: int, length: int
    ) -> int:
        """A large whole message in one frame begins (its header complete and checked): make
        the buffer it will be delivered in and unmask what came so far into it; return the new
        parse position (all of ``view`` consumed)."""
        start = pos + header
        key = bytes(view[start - 4 : start]) if view[pos + 1] & 0x80 else None
        payload = payload_buffer(length)
        if end > start:
            unmask_into(payload, 0, view, start, end, key)
        self._payload = payload
        self._payload_filled = end - start
        self._payload_first = view[pos]
        self._payload_key = key
        return end

    def _large_payload_received(self, data: bytes | bytearray) -> list[Event]:
        """The next read of the message :meth:`_large_payload_started` began, unmasked into
        place while it is still in the cache; the message once the last byte is in."""
        payload = self._payload
        assert payload is not None
        filled = self._payload_filled
        need = len(payload) - filled
        size = len(data)
        if size < need:
            unmask_into(payload, filled, data, 0, size, self._payload_key)
            self._payload_filled = filled + size
            return []
        unmask_into(payload, filled, data, 0, need, self._payload_key)
        self._payload = None
        message = payload_bytes(payload)
        if self._payload_first == 0x81:
            try:
                events: list[Event] = [message.decode()]
            except UnicodeDecodeError as exc:
                return [self._fail(1007, "invalid UTF-8", exc)]
        else:
            events = [message]
        if size > need:
            events.extend(self.receive_data(data[need:]))
        return events

    def _check_frame(self, opcode: int, rsv: int, fin: int, masked: int, length: int) -> None:
        """Validate a frame header as soon as it is complete, before its payload is buffered."""
        if rsv & ~self._allowed_rsv:
            # RFC 6455 §5.2: non-zero RSV bits need a negotiated extension that defines them.
            raise ProtocolError("reserved bits must be 0")
        if bool(masked) is not self._expect_masked:
            # RFC 6455 §5.1: clients mask every frame; servers mask none.
            raise ProtocolError("incorrect masking")
        if opcode >= 0x8:
            if opcode > 0xA:
                raise ProtocolError(f"invalid opcode {opcode:#x}")
            # RFC 6455 §5.5: control frames are short and never fragmented.
            if length > 125:
                raise ProtocolError("control frame too long")
            if not fin:
                raise ProtocolError("fragmented control frame")
            if rsv:
                raise ProtocolError("reserved bits must be 0 on a control frame")
            return
        if opcode > 0x2:
            raise ProtocolError(f"invalid opcode {opcode:#x}")
        if opcode == 0:
            if not self._message_opcode:
                raise ProtocolError("unexpected continuation frame")
        elif self._message_opcode:
            # RFC 6455 §5.4: a new message cannot start inside a fragmented one.
            raise ProtocolError(f"expected a continuation frame, got {OPCODE_NAMES[opcode]}")
        max_size = self.max_size
        if max_size is not None:
            limit = max_size - self._message_size
            if rsv:
                # Compressed: the wire size of a legitimate message is at most the message's
                # size plus deflate's small overhead; the decoded size is checked while inflating.
                limit += (max_size >> 6) + 64
            if length > limit:
                raise PayloadTooBig(
                    f"over size limit ({self._message_size + length} > {max_size} bytes)"
                )

    def _receive_data_frame(self, opcode: int, payload: bytes, rsv: int, fin: int) -> Event | None:
        # RFC 6455 §9.1: extensions apply in the response's order when sending, so incoming
        # data is undone in the reverse order.
        for extension in reversed(self.extensions):
            remaining = None if self.max_size is None else self.max_size - self._message_size
            payload = extension.decode(opcode, payload, rsv, bool(fin), remaining)
        if self.debug:
            # Logged as the application sees it: after decompression.
            self._log_frame("<", opcode, payload, fin)
        if opcode:
            if fin:
                # The common case: a whole message in one frame.
                if self.max_size is not None and len(payload) > self.max_size:
                    raise PayloadTooBig(f"over size limit ({len(payload)} > {self.max_size} bytes)")
                return payload.decode() if opcode == 1 else payload
            self._message_opcode = opcode
            self._message_size = 0
            if opcode == 1:
                self._decoder = _utf8_decoder()
                self._message_text = []
            else:
                self._message_parts = []
        self._message_size += len(payload)
        if self.max_size is not None and self._message_size > self.max_size:
            raise PayloadTooBig(f"over size limit ({self._message_size} > {self.max_size} bytes)")
        if self._message_opcode == 1:
            # RFC 6455 §8.1: fail fast on the first invalid byte, not at the message's end.
            assert self._decoder is not None
            self._message_text.append(self._decoder.decode(payload, bool(fin)))  # type: ignore[union-attr]
            if not fin:
                # CPython's decoder holds back ED A0..ED BF (a UTF-16 surrogate, never valid
                # UTF-8, RFC 3629 §3) until a third byte arrives: fail on this fragment instead.
                pending = self._decoder.getstate()[0]
                if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                    raise UnicodeDecodeError("utf-8", pending, 0, 2, "invalid continuation byte")
        else:
            self._message_parts.append(payload)  # type: ignore[union-attr]
        if not fin:
            return None
        message: str | bytes
        if self._message_opcode == 1:
            message = "".join(self._message_text)
            self._message_text = ()
            self._decoder = None
        else:
            message = b"".join(self._message_parts)
            self._message_parts = ()
        self._message_opcode = 0
        self._message_size = 0
        return message

    def _receive_control_frame(self, opcode: int, payload: bytes) -> Event:
        if opcode == 0x9:
            if self.close_sent is None:
                # RFC 6455 §5.5.2: answer a ping with a pong carrying the same data.
                self._output.append(self._frame(0xA, payload))
            return PingReceived(payload)
        if opcode == 0xA:
            return PongReceived(payload)
        close = Close.parse(payload)
        self.close_rcvd = close
        if self.close_sent is None:
            # RFC 6455 §5.5.1: echo the close; reply with the status code received.
            self.close_rcvd_then_sent = True
            self._send_close_frame(close)
        self.state = State.CLOSING
        self._discard = True  # RFC 6455 §5.5.1: nothing may follow a close frame
        return CloseReceived(close)

    def _fail(self, code: int, reason: str, error: Exception) -> ConnectionFailed:
        """_Fail the WebSocket Connection_ (RFC 6455 §7.1.7): send a close frame, stop reading."""
        self.failure = error
        # A close reason fits in 123 bytes (RFC 6455 §5.5); cut on a character boundary.
        close = Close(code, reason.encode()[:123].decode(errors="ignore"))
        if self.close_sent is None:
            self.close_rcvd_then_sent = False
            self._send_close_frame(close)
        else:
            close = self.close_sent
        self.state = State.CLOSING
        self._discard = True
        self._chunks = None
        self._payload = None
        self._reset_message()
        self.logger.debug("! failing connection with code %d: %s", code, reason)
        return ConnectionFailed(close, error)

    def _reset_message(self) -> None:
        self._message_opcode = 0
        self._message_parts = ()
        self._message_text = ()
        self._message_size = 0
        self._decoder = None

    def receive_eof(self) -> None:
        """The peer closed its end of the TCP connection."""
        self.eof_received = True
        self._discard = True
        self._chunks = None
        self._payload = None
        self.state = State.CLOSED

    def data_to_send(self) -> list[bytes]:
        """Take the bytes queued while receiving (pongs, close echoes)."""
        output = self._output
        if output:
            self._output = []
        return output

    # ------------------------------------------------------------------------------- helpers

    @property
    def close_handshake_done(self) -> bool:
        """Both close frames were exchanged."""
        return self.close_rcvd is not None and self.close_sent is not None

    def _log_frame(
        self, direction: str, opcode: int, payload: bytes | bytearray | memoryview, fin: int | bool
    ) -> None:
        name = OPCODE_NAMES.get(opcode, str(opcode))
        if opcode == 0x1:
            shown = repr(bytes(payload[:75]).decode(errors="replace"))
        elif opcode == 0x8 and len(payload) >= 2:
            shown = str(
                Close(
                    int.from_bytes(payload[:2], "big"), bytes(payload[2:]).decode(errors="replace")
                )
            )
        else:
            shown = bytes(payload[:24]).hex(" ")
        suffix = "" if fin else " [continued]"
        self.logger.debug("%s %s %s [%d bytes]%s", direction, name, shown, len(payload), suffix)
