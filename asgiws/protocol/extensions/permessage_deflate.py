"""permessage-deflate (RFC 7692): negotiation for both roles and the per-message transform.

* **Compression bombs.** Incoming data is inflated in bounded steps (``_INPUT_STEP`` bytes in,
  ``_OUTPUT_STEP`` out per zlib call) and never past ``max_size + 1`` bytes: then
  :exc:`~asgiws.exceptions.PayloadTooBig` (close code 1009) is raised.
* **Idle memory.** zlib objects are created on a direction's first message and dropped at the
  end of a message when that direction looks idle (``idle_interval``). With context takeover,
  the last window of plain text (``2 ** window_bits`` bytes at most) is kept and handed back to
  zlib as a preset dictionary (``zdict``): the peer sees the stream it expects, and an idle
  connection holds at most 8 KiB with 12-bit windows instead of ~50 KiB of zlib state.
* **8-bit windows.** zlib cannot build a raw deflate compressor with an 8-bit window (it
  rejects ``wbits=-8`` since 1.2.9, madler/zlib#171) but inflates with one. When the peer asks
  for 8 bits on our side, we compress with 9: zlib never emits a distance over
  ``w_size - MIN_LOOKAHEAD`` = 512 - 262 = 250 bytes (``MAX_DIST`` in ``deflate.h``), which a
  256-byte window serves (RFC 7692 §7.1.2.1). A probe checks once per settings that the linked
  zlib keeps this promise, else we send stored blocks (level 0), without back-references. So
  8 is accepted, not declined, and a client whose server picks 8 need not fail the connection.
"""

from __future__ import annotations

import functools
import math
import random
import time
import types
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ...exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from ..headers import ExtensionParameter
from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = [
    "DEFAULT_COMPRESS_SETTINGS",
    "DEFAULT_SERVER_SETTINGS",
    "ClientPerMessageDeflateFactory",
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]

NAME = "permessage-deflate"
RSV1 = 0x40

#: zlib settings unless ``compress_settings`` overrides them. Level 6, zlib's default: on small
#: JSON messages level 9 saves < 1 % for ~10 % more CPU, level 1 costs ~20 % more bytes.
#: memLevel 5 (not 8) shrinks the hash table and pending buffer from 128 to 16 KiB per
#: compressor, with the same ratio on WebSocket-sized messages (websockets found so too).
DEFAULT_COMPRESS_SETTINGS: Mapping[str, int] = {"level": 6, "memLevel": 5}

# RFC 7692 §7.2.1: what a sync flush ends with; the sender removes it, the receiver adds it.
_TAIL = b"\x00\x00\xff\xff"
# RFC 7692 §7.1.2.1: "a decimal integer value without leading zeroes between 8 to 15".
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}
_ALLOWED_SETTINGS = frozenset({"level", "memLevel", "strategy"})
_INPUT_STEP, _OUTPUT_STEP = 64 * 1024, 256 * 1024  # at most, per zlib call: bytes in, out
_monotonic = time.monotonic  # tests replace it


def _keep_window(history: bytearray, data: bytes, window: int) -> bytearray:
    """``history + data``, of which at least the last ``window`` bytes and at most twice that."""
    if len(data) >= window:
        return bytearray(data[-window:])
    history += data
    if len(history) > 2 * window:
        del history[:-window]
    return history


def _compressobj(settings: Mapping[str, int], wbits: int, zdict: bytes = b"") -> Any:
    """A raw deflate compressor (negative ``wbits``), primed with ``zdict`` if given."""
    level, mem_level = settings.get("level", -1), settings.get("memLevel", zlib.DEF_MEM_LEVEL)
    args = (level, zlib.DEFLATED, -wbits, mem_level, settings.get("strategy", 0))
    return zlib.compressobj(*args, zdict) if zdict else zlib.compressobj(*args)


@functools.lru_cache(maxsize=16)
def _zlib_fits_256_byte_window(settings: tuple[tuple[str, int], ...]) -> bool:
    """Whether zlib with a 9-bit window and these settings keeps every distance within 256:
    blocks whose only matches lie 257 and 300 bytes back, compressed with ``wbits=-9``, are
    inflated one byte per call with ``wbits=-8``, so each reference must fit in the window."""
    rng = random.Random(7692)
    probe = rng.randbytes(300) * 4 + rng.randbytes(257) * 4 + b"ab" * 200
    compressor = _compressobj(dict(settings), 9)
    data = compressor.compress(probe) + compressor.flush(zlib.Z_SYNC_FLUSH)
    decompressor, output = zlib.decompressobj(wbits=-8), []
    try:
        while data:
            output.append(decompressor.decompress(data, 1))
            data = decompressor.unconsumed_tail
    except zlib.error:
        return False
    return b"".join(output) == probe


def _check_compress_settings(compress_settings: Mapping[str, Any] | None) -> Mapping[str, int]:
    """``compress_settings`` over the defaults, checked (ValueError) and shared, read-only."""
    settings = {**DEFAULT_COMPRESS_SETTINGS, **(compress_settings or {})}
    if set(settings) - _ALLOWED_SETTINGS or not all(type(v) is int for v in settings.values()):
        raise ValueError(f"compress_settings takes int level, memLevel, strategy: {settings}")
    return _checked_settings(tuple(sorted(settings.items())))


@functools.lru_cache(maxsize=64)
def _checked_settings(items: tuple[tuple[str, int], ...]) -> Mapping[str, int]:
    settings = dict(items)
    try:
        _compressobj(settings, 9)
    except ValueError as exc:
        raise ValueError(f"invalid compress_settings {settings}: {exc}") from None
    return types.MappingProxyType(settings)


class PerMessageDeflate(Extension):
    """permessage-deflate on one connection: compresses what we send, inflates what we receive.

    "local" parameters apply to what this side compresses, "remote" ones to what the peer
    compresses. ``compress_settings`` (``level``, ``memLevel``, ``strategy``) override
    :data:`DEFAULT_COMPRESS_SETTINGS`.

    ``idle_interval``: a direction whose message ends more than this many seconds after its
    previous one (or that sends its first) counts as idle, and its zlib object is dropped
    (hibernated) at the message's end; a busy direction keeps it, as recreating a compressor
    with its dictionary costs ~10 µs. ``0``: drop after every message; ``None``: never (as
    websockets does). :meth:`hibernate` drops them on demand, e.g. from a keepalive timer.
    """

    name = NAME
    rsv_bits = RSV1

    def __init__(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
        compress_settings: Mapping[str, Any] | None = None,
        *,
        idle_interval: float | None = 1.0,
    ) -> None:
        if not 8 <= remote_max_window_bits <= 15 or not 8 <= local_max_window_bits <= 15:
            raise ValueError("max window bits must be between 8 and 15")
        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self.idle_interval = idle_interval
        self._encoder: Any = None  # zlib objects, created on demand
        self._decoder: Any = None
        # With context takeover, the plain text last sent / received (at least a window of it)
        # to restore a dropped zlib object: RFC 7692 §7.2.3, the window outlives a message.
        self._sent = bytearray()
        self._received = bytearray()
        self._encoding = False  # inside an outgoing message
        self._decoding = False  # inside an incoming compressed message
        self._last_sent = self._last_received = -math.inf  # monotonic end of the last message
        self._last4 = b""  # the last 4 bytes of the compressed message being received

    def _idle(self, now: float, last: float) -> bool:
        return self.idle_interval is not None and now - last >= self.idle_interval

    def __repr__(self) -> str:
        names = "remote_no_context_takeover local_no_context_takeover"
        names += " remote_max_window_bits local_max_window_bits"
        return f"PerMessageDeflate({', '.join(f'{n}={getattr(self, n)}' for n in names.split())})"

    def _new_encoder(self) -> Any:
        settings = self.compress_settings
        wbits = self.local_max_window_bits
        if wbits == 8:
            # See the module docstring: a 9-bit zlib window never references beyond 250 bytes.
            wbits = 9
            if not _zlib_fits_256_byte_window(tuple(sorted(settings.items()))):
                settings = {**settings, "level": 0}
        return _compressobj(settings, wbits, bytes(self._sent[-1 << self.local_max_window_bits :]))

    def _new_decoder(self) -> Any:
        wbits = -self.remote_max_window_bits
        zdict = bytes(self._received[-1 << self.remote_max_window_bits :])
        return zlib.decompressobj(wbits, zdict) if zdict else zlib.decompressobj(wbits)

    def hibernate(self) -> None:
        """Drop the zlib objects now (a connection known to be idle); the next message recreates
        them with the same context. A direction inside a fragmented message keeps its own."""
        if not self._encoding:
            self._encoder = None
            self._sent = self._sent[-1 << self.local_max_window_bits :]
        if not self._decoding:
            self._decoder = None
            self._received = self._received[-1 << self.remote_max_window_bits :]

    @property
    def holds_zlib_state(self) -> bool:
        """Whether a zlib object is allocated now (for tests and memory measurements)."""
        return self._encoder is not None or self._decoder is not None

    def decode(
        self, opcode: int, payload: bytes, rsv: int, fin: bool, max_size: int | None
    ) -> bytes:
        """Inflate one frame of a compressed message; pass other frames through unchanged.
        Raises :exc:`PayloadTooBig` as soon as the message would exceed ``max_size`` bytes and
        :exc:`ProtocolError` for RSV1 on a continuation frame or data that does not inflate."""
        if opcode >= 0x8:
            return payload  # RFC 7692 §6.1: control frames are never compressed.
        if opcode == 0:
            if rsv & RSV1:
                # RFC 7692 §6.1: RSV1 is set on the first frame of a message only.
                raise ProtocolError("RSV1 set on a continuation frame")
            if not self._decoding:
                return payload
        else:
            if not rsv & RSV1:
                return payload  # RFC 7692 §6: an uncompressed message.
            self._decoding, self._last4 = True, b""
            if self._decoder is None or self.remote_no_context_takeover:
                self._decoder = self._new_decoder()
        try:
            data = self._inflate(payload, fin, max_size)
        except (PayloadTooBig, ProtocolError):
            self._decoder = None
            self._decoding = False
            raise
        if self.remote_no_context_takeover:
            if fin:
                self._decoding = False
                self._decoder = None
            return data
        window = 1 << self.remote_max_window_bits
        received = self._received = _keep_window(self._received, data, window)
        if fin:
            self._decoding = False
            now = _monotonic()
            # A peer may end a message with a final block (BFINAL): the stream is over, but
            # with context takeover the window carries over into a new stream.
            if self._decoder.eof or self._idle(now, self._last_received):
                self._decoder = None
                self._received = received[-window:]
            self._last_received = now
        return data

    def _inflate(self, payload: bytes, fin: bool, max_size: int | None) -> bytes:
        """Inflate in bounded steps: ``_INPUT_STEP`` bytes in and ``_OUTPUT_STEP`` out per
        zlib call at most, and never more than ``max_size + 1`` bytes in all."""
        # RFC 7692 §7.2.2: append 00 00 ff ff, unless the message ends with it already (from a
        # sender that flushed an earlier fragment): that would open a dangling stored block.
        last4 = (self._last4 + payload[-4:])[-4:]
        self._last4 = last4
        tail = _TAIL if fin and last4 != _TAIL else b""
        chunks: list[bytes] = []
        try:
            if fin and len(payload) <= _INPUT_STEP:  # a small final frame: one zlib call
                self._inflate_step(b"".join((payload, tail)), chunks, 0, max_size)
            else:
                view = memoryview(payload)
                produced = 0
                for start in range(0, len(view), _INPUT_STEP):
                    data = view[start : start + _INPUT_STEP]
                    produced = self._inflate_step(data, chunks, produced, max_size)
                if tail:
                    self._inflate_step(tail, chunks, produced, max_size)
        except zlib.error as exc:
            raise ProtocolError(f"invalid compressed data: {exc}") from None
        decoder = self._decoder
        # A final block (BFINAL) ends the stream: only the tail we appended may follow it.
        if decoder.eof and decoder.unused_data and not (fin and decoder.unused_data == _TAIL):
            raise ProtocolError("data after the final deflate block")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _inflate_step(
        self, data: bytes | memoryview, chunks: list[bytes], produced: int, max_size: int | None
    ) -> int:
        """Inflate ``data`` into ``chunks``; return the bytes produced in this message so far."""
        decoder = self._decoder
        while True:
            limit = _OUTPUT_STEP
            if max_size is not None and max_size - produced < limit:
                limit = max_size - produced + 1
            chunk = decoder.decompress(data, limit)
            produced += len(chunk)
            if max_size is not None and produced > max_size:
                raise PayloadTooBig(f"decompressed message over {max_size} bytes")
            chunks.append(chunk)
            # Under the limit, zlib used all the input it could and holds nothing back; at
            # the limit, it may hold more output even with no input left.
            if len(chunk) < limit:
                return produced
            data = decoder.unconsumed_tail

    def encode(self, opcode: int, payload: bytes, fin: bool) -> tuple[bytes, int]:
        """Compress one frame; return the payload and RSV1 on the first frame of a message."""
        if opcode >= 0x8:
            return payload, 0  # RFC 7692 §6.1: control frames are never compressed.
        if opcode != 0:
            self._encoding = True
            if self._encoder is None or self.local_no_context_takeover:
                self._encoder = self._new_encoder()
        elif self._encoder is None:
            self._encoder = self._new_encoder()
        encoder = self._encoder
        data = encoder.compress(payload) + encoder.flush(zlib.Z_SYNC_FLUSH)
        if fin:
            # RFC 7692 §7.2.1: remove the 00 00 ff ff a sync flush ends with. An empty
            # message becomes the single byte 0x00 (RFC 7692 §7.2.3.6).
            if data.endswith(_TAIL):
                data = data[:-4]
            if not data:
                data = b"\x00"
            self._encoding = False
        if self.local_no_context_takeover:
            if fin:
                self._encoder = None
        else:
            window = 1 << self.local_max_window_bits
            sent = self._sent = _keep_window(self._sent, payload, window)
            if fin:
                now = _monotonic()
                if self._idle(now, self._last_sent):
                    self._encoder = None
                    self._sent = sent[-window:]
                self._last_sent = now
        # RFC 7692 §6: RSV1 marks the first frame of a compressed message.
        return data, (RSV1 if opcode != 0 else 0)


# ---------------------------------------------------------------------------- negotiation

_WindowBits = int | Literal[True] | None
_PARAMETER_NAMES = (
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
)


def _parse_params(
    params: Sequence[ExtensionParameter], *, offer: bool
) -> tuple[bool, bool, int | None, _WindowBits]:
    """Read ``(server_no_context_takeover, client_no_context_takeover, server_max_window_bits,
    client_max_window_bits)``; ``client_max_window_bits`` is True when an offer gives it no value.

    RFC 7692 §7: unknown names, invalid values and duplicates make an offer one to decline and
    a response one to fail the connection for; both raise a :exc:`NegotiationError` subclass.
    """
    found: dict[str, str | None] = {}
    for name, value in params:
        if name not in _PARAMETER_NAMES:
            raise InvalidParameterName(name)
        if name in found:
            raise DuplicateParameter(name)
        if name.endswith("_no_context_takeover"):
            valid = value is None  # RFC 7692 §7.1.1.1, §7.1.1.2: no value
        elif value is None:
            valid = offer and name == "client_max_window_bits"  # RFC 7692 §7.1.2.2
        else:
            valid = value in _WINDOW_BITS
        if not valid:
            raise InvalidParameterValue(name, value)
        found[name] = value
    server_bits = _WINDOW_BITS.get(found.get("server_max_window_bits") or "")
    client_value = found.get("client_max_window_bits", "")
    client_bits: _WindowBits = True if client_value is None else _WINDOW_BITS.get(client_value)
    snct, cnct = "server_no_context_takeover" in found, "client_no_context_takeover" in found
    return snct, cnct, server_bits, client_bits


def _build_params(
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: int | None,
    client_max_window_bits: _WindowBits,
) -> list[ExtensionParameter]:
    params: list[ExtensionParameter] = []
    if server_no_context_takeover:
        params.append(("server_no_context_takeover", None))
    if client_no_context_takeover:
        params.append(("client_no_context_takeover", None))
    if server_max_window_bits is not None:
        params.append(("server_max_window_bits", str(server_max_window_bits)))
    if client_max_window_bits is not None:
        value = None if client_max_window_bits is True else str(client_max_window_bits)
        params.append(("client_max_window_bits", value))
    return params


def _check_window_bits(name: str, value: object, *, allow_true: bool = False) -> None:
    if value is None or (allow_true and value is True):
        return
    if type(value) is not int or not 8 <= value <= 15:
        raise ValueError(f"{name} must be between 8 and 15")


def _conflicts(accepted_extensions: Sequence[Extension]) -> str | None:  # why not accept
    for extension in accepted_extensions:
        if extension.name == NAME:
            return f"{NAME} is already accepted"
        if extension.rsv_bits & RSV1:
            # RFC 7692 §5: a PMCE cannot share RSV1 with another extension.
            return f"{extension.name} already uses RSV1"
    return None


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """Accepts or declines a client's permessage-deflate offers (RFC 7692 §7.1).

    ``server_no_context_takeover`` / ``client_no_context_takeover``: make that side reset its
    compression context after each message. ``server_max_window_bits`` /
    ``client_max_window_bits`` (8 to 15): cap the LZ77 window of that side's compressor; the
    client's cap applies only if the client offers ``client_max_window_bits``, and
    ``require_client_max_window_bits`` declines offers without it.
    """

    name = NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_settings: Mapping[str, Any] | None = None,
        require_client_max_window_bits: bool = False,
        *,
        idle_interval: float | None = 1.0,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits)
        _check_window_bits("client_max_window_bits", client_max_window_bits)
        if require_client_max_window_bits and client_max_window_bits is None:
            raise ValueError("require_client_max_window_bits needs client_max_window_bits")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self.require_client_max_window_bits = require_client_max_window_bits
        self.idle_interval = idle_interval

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """Accept one offer, or raise :exc:`NegotiationError` to decline it (RFC 7692 §7)."""
        conflict = _conflicts(accepted_extensions)
        if conflict:
            raise NegotiationError(f"declined {NAME}: {conflict}")
        server_nct, client_nct, server_bits, client_bits = _parse_params(params, offer=True)

        # RFC 7692 §7.1.1.1: the server may always add server_no_context_takeover.
        server_nct = server_nct or self.server_no_context_takeover
        # RFC 7692 §7.1.1.2: the server may always add client_no_context_takeover; it echoes
        # the client's own hint too, so that it need not keep an inflate context.
        client_nct = client_nct or self.client_no_context_takeover

        # RFC 7692 §7.1.2.1: answer with the offered value or a smaller one; a value may be
        # sent even when the offer had none.
        if self.server_max_window_bits is not None:
            server_bits = min(server_bits or 15, self.server_max_window_bits)

        # RFC 7692 §7.1.2.2: without client_max_window_bits in the offer, the response must
        # not contain it; with no value, any value 8-15; with a value, at most that value.
        if client_bits is None:
            if self.require_client_max_window_bits:
                raise NegotiationError(f"declined {NAME}: client_max_window_bits is required")
        elif client_bits is True:
            client_bits = self.client_max_window_bits
        elif self.client_max_window_bits is not None:
            client_bits = min(client_bits, self.client_max_window_bits)

        response = _build_params(server_nct, client_nct, server_bits, client_bits)
        extension = PerMessageDeflate(  # remote = client, local = server
            client_nct, server_nct, client_bits or 15, server_bits or 15,
            self.compress_settings, idle_interval=self.idle_interval,
        )  # fmt: skip
        return response, extension


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """Offers permessage-deflate and checks the server's answer (RFC 7692 §7.1).

    The parameters mean what they mean for :class:`ServerPerMessageDeflateFactory`;
    ``client_max_window_bits=True`` (the default, as browsers do) offers the parameter with no
    value: the client accepts any window the server picks for the client's compressor.
    """

    name = NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | Literal[True] | None = True,
        compress_settings: Mapping[str, Any] | None = None,
        *,
        idle_interval: float | None = 1.0,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits)
        _check_window_bits("client_max_window_bits", client_max_window_bits, allow_true=True)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self.idle_interval = idle_interval

    def get_request_params(self) -> list[ExtensionParameter]:
        """The offer: ``permessage-deflate; client_max_window_bits`` with the defaults."""
        return _build_params(
            self.server_no_context_takeover,
            self.client_no_context_takeover,
            self.server_max_window_bits,
            self.client_max_window_bits,
        )

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> PerMessageDeflate:
        """Check the server's answer; raise :exc:`NegotiationError` to fail the connection."""
        conflict = _conflicts(accepted_extensions)
        if conflict:
            raise NegotiationError(f"invalid {NAME} response: {conflict}")
        server_nct, client_nct, server_bits, client_bits = _parse_params(params, offer=False)

        # RFC 7692 §7.1.1.1: the server accepts server_no_context_takeover by echoing it.
        if self.server_no_context_takeover and not server_nct:
            raise NegotiationError(f"invalid {NAME} response: no server_no_context_takeover")
        # RFC 7692 §7.1.1.2: our own hint binds us even if the server did not echo it.
        client_nct = client_nct or self.client_no_context_takeover

        # RFC 7692 §7.1.2.1: an offered value is accepted with the same or a smaller one.
        offered = self.server_max_window_bits
        if offered is not None and (server_bits is None or server_bits > offered):
            raise NegotiationError(f"invalid {NAME} response: server_max_window_bits too large")

        # RFC 7692 §7.1.2.2: only if offered, and at most the offered value (which binds us
        # when the server leaves it out).
        client_offer = self.client_max_window_bits
        if client_bits is not None:
            if client_offer is None:
                raise NegotiationError(
                    f"invalid {NAME} response: unexpected client_max_window_bits"
                )
            if client_offer is not True and client_bits > client_offer:
                raise NegotiationError(f"invalid {NAME} response: client_max_window_bits too large")
        elif client_offer is not True:
            client_bits = client_offer
        assert client_bits is not True

        return PerMessageDeflate(  # remote = server, local = client
            server_nct, client_nct, server_bits or 15, client_bits or 15,
            self.compress_settings, idle_interval=self.idle_interval,
        )  # fmt: skip


# ------------------------------------------------------------------------------ defaults

#: The server's defaults: 4 KiB windows on both sides keep per-connection memory small.
DEFAULT_SERVER_SETTINGS: Mapping[str, Any] = {
    "server_max_window_bits": 12,
    "client_max_window_bits": 12,
}


def enable_server_permessage_deflate(
    extensions: Sequence[ServerExtensionFactory] | None, **settings: Any
) -> list[ServerExtensionFactory]:
    """Add a :class:`ServerPerMessageDeflateFactory` unless one is already there.

    ``settings`` are its keyword arguments, over :data:`DEFAULT_SERVER_SETTINGS`
    (``compression="deflate"`` uses this).
    """
    result = list(extensions or ())
    if not any(factory.name == NAME for factory in result):
        result.append(ServerPerMessageDeflateFactory(**{**DEFAULT_SERVER_SETTINGS, **settings}))
    return result


def enable_client_permessage_deflate(
    extensions: Sequence[ClientExtensionFactory] | None, **settings: Any
) -> list[ClientExtensionFactory]:
    """Add a :class:`ClientPerMessageDeflateFactory` unless one is already there.

    ``settings`` are its keyword arguments; the default offer is
    ``permessage-deflate; client_max_window_bits``.
    """
    result = list(extensions or ())
    if not any(factory.name == NAME for factory in result):
        result.append(ClientPerMessageDeflateFactory(**settings))
    return result
