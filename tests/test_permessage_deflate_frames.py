"""permessage-deflate (RFC 7692) frames: round trips, RSV1, empty messages, context takeover,
idle hibernation, 8-bit windows, compression bombs, and a hypothesis round trip.

Cross-checked against an independent implementation, ``websockets``'s permessage-deflate, as the
peer that inflates what we deflate and vice versa. Negotiation is in
``test_permessage_deflate_unit.py``.
"""

from __future__ import annotations

import itertools
import os
import random
import sys
import tracemalloc
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from helpers_deflate import (
    ALWAYS,
    BINARY,
    CONT,
    NEVER,
    PING,
    RSV1,
    TAIL,
    TEXT,
    config,
    fresh,
    negotiate,
    summary,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.extensions import permessage_deflate as ws_pmd
from websockets.frames import Frame, Opcode

from asgiws.exceptions import PayloadTooBig, ProtocolError
from asgiws.protocol.extensions import permessage_deflate as pmd
from asgiws.protocol.extensions.permessage_deflate import PerMessageDeflate


def split(message: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted({min(cut, len(message)) for cut in cuts}), len(message)]
    return [message[a:b] for a, b in itertools.pairwise(bounds)]


def send(
    sender: PerMessageDeflate,
    receiver: PerMessageDeflate,
    message: bytes,
    cuts: Sequence[int] = (),
    max_size: int | None = 2**24,
) -> bytes:
    """Encode ``message`` in fragments on one side, decode it on the other, check RSV1."""
    fragments = split(message, cuts)
    out = []
    for index, fragment in enumerate(fragments):
        opcode = BINARY if index == 0 else CONT
        fin = index == len(fragments) - 1
        payload, rsv = sender.encode(opcode, fragment, fin)
        assert rsv == (RSV1 if index == 0 else 0)  # RFC 7692 §6: RSV1 on the first frame only
        left = None if max_size is None else max_size - sum(map(len, out))
        out.append(receiver.decode(opcode, payload, rsv, fin, left))
    return b"".join(out)


def peak_memory(function: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class StrictInflater:
    """Inflates messages one output byte per call, so every back-reference must fit in the
    window (zlib otherwise also serves references from the current call's output buffer)."""

    def __init__(self, window_bits: int, no_context_takeover: bool = True) -> None:
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.decoder: Any = None

    def message(self, payload: bytes) -> bytes:
        if self.decoder is None or self.no_context_takeover:
            self.decoder = zlib.decompressobj(-self.window_bits)
        out, data = [], payload + TAIL
        while data:
            out.append(self.decoder.decompress(data, 1))
            data = self.decoder.unconsumed_tail
        return b"".join(out)


MESSAGES = [
    b"",
    b"a",
    b'{"type": "update", "id": 1, "values": [1, 2, 3]}' * 3,
    b'{"type": "update", "id": 2, "values": [1, 2, 3]}' * 3,
    os.urandom(3000),
    b"",
    bytes(range(256)) * 400,  # 100 KiB, longer than every window
    b"hello " * 1000,
]


# ------------------------------------------------------------------------- frames, both ways

SETTINGS = [
    (snct, cnct, bits, interval)
    for snct, cnct in itertools.product((False, True), repeat=2)
    for bits in (8, 9, 12, 15)
    for interval in (ALWAYS, NEVER)
]


@pytest.mark.parametrize(("snct", "cnct", "bits", "interval"), SETTINGS)
def test_round_trip_both_ways(snct: bool, cnct: bool, bits: int, interval: float | None):
    server, client = negotiate(
        config(snct, cnct, bits, bits, idle_interval=interval), {"idle_interval": interval}
    )
    assert summary(server) == (cnct, snct, bits, bits)
    assert summary(client) == (snct, cnct, bits, bits)
    for message, cuts in itertools.product(MESSAGES, ([], [1], [0, 5, 5, 4000])):
        assert send(server, client, message, cuts) == message
        assert send(client, server, message, cuts) == message
    for extension, peer in ((server, client), (client, server)):
        # Idle: zlib state only for context takeover kept warm on purpose.
        both_reset = extension.local_no_context_takeover and extension.remote_no_context_takeover
        assert extension.holds_zlib_state == (interval is NEVER and not both_reset)
        extension.hibernate()
        assert not extension.holds_zlib_state
        assert send(extension, peer, MESSAGES[2]) == MESSAGES[2]


def test_busy_directions_stay_warm_idle_ones_hibernate(monkeypatch: pytest.MonkeyPatch):
    now = [1000.0]
    monkeypatch.setattr(pmd, "_monotonic", lambda: now[0])
    server, client = negotiate()  # idle_interval=1.0
    message = MESSAGES[2]
    send(server, client, message)  # a first message counts as idle
    assert not server.holds_zlib_state and not client.holds_zlib_state
    now[0] += 0.5
    send(server, client, message)  # busy: 0.5 s after the previous one
    assert server._encoder is not None and client._decoder is not None
    send(client, server, message)  # the other direction's first message
    assert client._encoder is None and server._decoder is None
    now[0] += 0.5
    assert len(server.encode(TEXT, message, True)[0]) < 10  # warm, with its context
    now[0] += 30
    send(server, client, message)  # 30 s later: hibernated again
    assert not server.holds_zlib_state and not client.holds_zlib_state
    # idle_interval=None keeps zlib state from the first message on.
    server, client = negotiate({"idle_interval": NEVER}, {"idle_interval": NEVER})
    send(server, client, message)
    assert server._encoder is not None and client._decoder is not None


def ws_extension(ours: PerMessageDeflate) -> ws_pmd.PerMessageDeflate:
    """websockets' extension for the peer of ``ours`` (local and remote swapped)."""
    return ws_pmd.PerMessageDeflate(
        ours.local_no_context_takeover,
        ours.remote_no_context_takeover,
        ours.local_max_window_bits,
        max(ours.remote_max_window_bits, 9),  # websockets cannot compress with 8 bits
    )


@pytest.mark.parametrize(("snct", "cnct", "bits", "interval"), SETTINGS)
def test_interoperates_with_websockets(snct: bool, cnct: bool, bits: int, interval: float | None):
    ours = PerMessageDeflate(snct, cnct, max(bits, 9), bits, idle_interval=interval)
    theirs = ws_extension(ours)
    for message, cuts in itertools.product(MESSAGES, ([], [1, 2000])):
        fragments = split(message, cuts)
        received = []  # what we compress, websockets inflates ...
        for index, fragment in enumerate(fragments):
            fin = index == len(fragments) - 1
            payload, rsv = ours.encode(BINARY if index == 0 else CONT, fragment, fin)
            frame = Frame(Opcode.BINARY if index == 0 else Opcode.CONT, payload, fin, bool(rsv))
            received.append(theirs.decode(frame, max_size=None).data)
        assert b"".join(received) == message
        received = []  # ... and what websockets compresses, we inflate.
        for index, fragment in enumerate(fragments):
            fin = index == len(fragments) - 1
            opcode = Opcode.BINARY if index == 0 else Opcode.CONT
            frame = theirs.encode(Frame(opcode, fragment, fin))
            assert frame.rsv1 == (index == 0)
            received.append(ours.decode(opcode, frame.data, RSV1 * frame.rsv1, fin, None))
        assert b"".join(received) == message


def test_eight_bit_window_never_references_beyond_256_bytes():
    # RFC 7692 §7.1.2.1: we promised a 256-byte window; a 9-bit zlib window keeps it.
    rng = random.Random(8)
    for takeover in (False, True):
        sender = PerMessageDeflate(False, not takeover, 15, 8)
        peer = StrictInflater(8, no_context_takeover=not takeover)
        for period in (200, 250, 256, 257, 300, 511):
            message = rng.randbytes(period) * 6
            assert peer.message(sender.encode(BINARY, message, True)[0]) == message
    # The strict inflater does catch a reference 300 bytes back, as a 10-bit window makes.
    far = zlib.compressobj(6, zlib.DEFLATED, -10)
    data = far.compress(rng.randbytes(300) * 6) + far.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(zlib.error):
        StrictInflater(8).message(data[:-4])


def test_empty_messages():
    sender, receiver = fresh(), fresh()
    # RFC 7692 §7.2.3.6: an empty message compresses to the single byte 0x00.
    assert sender.encode(TEXT, b"", True) == (b"\x00", RSV1)
    assert sender.encode(TEXT, b"x", True)[1] == RSV1
    assert sender.encode(TEXT, b"", True) == (b"\x00", RSV1)  # also with a context
    assert receiver.decode(TEXT, b"\x00", RSV1, True, 0) == b""
    theirs = ws_pmd.PerMessageDeflate(False, False, 15, 15)
    assert theirs.decode(Frame(Opcode.TEXT, b"\x00", True, True)).data == b""
    # An empty final fragment: 0x00 from us; a zero-length one from a peer whose previous
    # fragment ended with 00 00 ff ff gets no second tail, which would break the next message.
    sender, receiver = negotiate({"idle_interval": NEVER}, {"idle_interval": NEVER})
    first, rsv = sender.encode(TEXT, b"abc", False)
    assert sender.encode(CONT, b"", True) == (b"\x00", 0)
    assert receiver.decode(TEXT, first, rsv, False, 10) == b"abc"
    assert receiver.decode(CONT, b"\x00", 0, True, 7) == b""
    first, rsv = sender.encode(TEXT, b"abc", False)
    assert receiver.decode(TEXT, first, rsv, False, 10) == b"abc"
    assert receiver.decode(CONT, b"", 0, True, 7) == b""
    sender.encode(CONT, b"", True)
    assert send(sender, receiver, b"next") == b"next"


def test_rsv1_rules_and_uncompressed_messages():
    sender, receiver = negotiate()
    first, rsv = sender.encode(TEXT, b"hello", False)
    assert rsv == RSV1
    assert receiver.decode(TEXT, first, rsv, False, 100) == b"hello"
    with pytest.raises(ProtocolError):  # RFC 7692 §6.1
        receiver.decode(CONT, b"\x00", RSV1, True, 100)
    # Uncompressed messages (RSV1 clear) pass through, fragmented or not, and leave the
    # compression context alone.
    sender, receiver = negotiate({"idle_interval": NEVER}, {"idle_interval": NEVER})
    context = b"context " * 10
    assert send(sender, receiver, context) == context
    assert receiver.decode(TEXT, b"plain", 0, False, 100) == b"plain"
    assert receiver.decode(CONT, b" text", 0, True, 95) == b" text"
    payload, rsv = sender.encode(BINARY, context, True)
    assert len(payload) < 10
    assert receiver.decode(BINARY, payload, rsv, True, None) == context
    with pytest.raises(ProtocolError):
        receiver.decode(CONT, b"x", RSV1, True, 100)
    # Control frames are never compressed.
    assert sender.encode(PING, b"ping", True) == (b"ping", 0)
    assert receiver.decode(PING, b"ping", 0, True, 100) == b"ping"


def test_invalid_compressed_data():
    receiver = fresh()
    with pytest.raises(ProtocolError):
        receiver.decode(BINARY, b"\xff\xff\xff\xff", RSV1, True, 100)
    assert not receiver.holds_zlib_state
    final = zlib.compressobj(6, zlib.DEFLATED, -15)  # data after a final block (BFINAL)
    data = final.compress(b"done") + final.flush(zlib.Z_FINISH)
    with pytest.raises(ProtocolError):
        receiver.decode(BINARY, data + b"\x00junk", RSV1, True, 100)


def test_final_block_then_context_takeover():
    # A peer may end a message with BFINAL; the window still carries over (RFC 7692 §7.2.3).
    receiver = fresh(idle_interval=NEVER)
    message = b"the same text again and again "
    first = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = first.compress(message) + first.flush(zlib.Z_FINISH)
    assert receiver.decode(BINARY, data, RSV1, True, None) == message
    second = zlib.compressobj(6, zlib.DEFLATED, -15, 8, 0, message)
    data = second.compress(message) + second.flush(zlib.Z_SYNC_FLUSH)
    assert len(data) < 10  # a back-reference into the previous message
    assert receiver.decode(BINARY, data[:-4], RSV1, True, None) == message


def test_context_takeover_survives_hibernation():
    server, client = negotiate(
        config(False, False, 12, 12, idle_interval=ALWAYS), {"idle_interval": ALWAYS}
    )
    message = b'{"event": "price", "symbol": "ACME", "bid": 101.25, "ask": 101.5}'
    sizes = []
    for _ in range(3):
        payload, rsv = server.encode(TEXT, message, True)
        assert not server.holds_zlib_state  # hibernated after the message ...
        sizes.append(len(payload))
        assert client.decode(TEXT, payload, rsv, True, None) == message
        assert not client.holds_zlib_state
    assert sizes[1] < sizes[0] // 3  # ... yet the window carried over
    no_takeover, _ = negotiate({"server_no_context_takeover": True})
    assert [len(no_takeover.encode(TEXT, message, True)[0]) for _ in range(2)] == [sizes[0]] * 2


def test_window_history_stays_small():
    server, client = negotiate({"idle_interval": NEVER}, {"idle_interval": NEVER})
    for message in (os.urandom(1 << 20), os.urandom(3000), b"x" * 5000):
        assert send(server, client, message, [100]) == message
        for history in (server._sent, client._received):
            assert len(history) <= 2 << 15 and sys.getsizeof(history) < 3 << 15


def test_compress_settings_are_used():
    assert len(fresh(compress_settings={"level": 0}).encode(BINARY, b"a" * 999, True)[0]) > 999
    best = fresh(compress_settings={"level": 9, "memLevel": 1})
    assert len(best.encode(BINARY, b"a" * 999, True)[0]) < 20


# ------------------------------------------------------------------------ compression bombs


def zero_bomb(mebibytes: int) -> bytes:
    """A deflate stream of ``mebibytes`` MiB of zeros (~1 KiB per MiB), without its tail."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    first = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    again = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return (first + again * (mebibytes - 1))[:-4]


def test_one_gibibyte_bomb_stops_at_max_size_with_bounded_memory():
    bomb = zero_bomb(1024)  # ~1 MiB on the wire, 1 GiB inflated
    receiver = fresh()

    def inflate() -> None:
        with pytest.raises(PayloadTooBig):
            receiver.decode(BINARY, bomb, RSV1, True, 1 << 20)

    assert peak_memory(inflate) < 2 << 20  # measured: ~1.5 MiB
    assert not receiver.holds_zlib_state


def test_small_frame_bomb_and_exact_limits():
    bomb = zero_bomb(1)  # 1 KiB -> 1 MiB
    assert len(bomb) < 1100
    assert zlib.decompressobj(-15).decompress(zero_bomb(4) + TAIL) == bytes(4 << 20)
    for max_size in (64 << 10, (1 << 20) - 1):
        with pytest.raises(PayloadTooBig):
            fresh().decode(BINARY, bomb, RSV1, True, max_size)
    for max_size in (1 << 20, None):
        assert len(fresh().decode(BINARY, bomb, RSV1, True, max_size)) == 1 << 20

    def inflate() -> None:
        with pytest.raises(PayloadTooBig):
            fresh().decode(BINARY, bomb, RSV1, True, 1000)

    assert peak_memory(inflate) < 100_000  # zlib's own 32 KiB window and state: no big step


def test_fragmented_bomb_uses_the_remaining_budget():
    bomb = zero_bomb(4) + TAIL  # non-final fragments, cut anywhere
    receiver = fresh()
    max_size = (3 << 20) + 5
    produced = 0
    with pytest.raises(PayloadTooBig):
        for index, start in enumerate(range(0, len(bomb), 1024)):
            opcode, rsv = (BINARY, RSV1) if index == 0 else (CONT, 0)
            chunk = bomb[start : start + 1024]
            produced += len(receiver.decode(opcode, chunk, rsv, False, max_size - produced))
    assert 2 << 20 < produced <= max_size


@pytest.mark.parametrize(("input_step", "output_step"), [(1, 1), (3, 7), (64, 258), (1000, 259)])
def test_tiny_inflate_steps(monkeypatch: pytest.MonkeyPatch, input_step: int, output_step: int):
    monkeypatch.setattr(pmd, "_INPUT_STEP", input_step)
    monkeypatch.setattr(pmd, "_OUTPUT_STEP", output_step)
    sender, receiver = negotiate()
    for message in [*MESSAGES[:5], b"a" * 5000, zlib.compress(b"x") * 300]:
        assert send(sender, receiver, message, [2000], max_size=len(message)) == message
    with pytest.raises(PayloadTooBig):
        send(sender, receiver, b"b" * 5000, max_size=4999)


def test_each_frame_yields_all_it_can(monkeypatch: pytest.MonkeyPatch):
    # A peer may cut compressed data anywhere; each frame still yields every byte it can,
    # even when a step ends inside a match copy with all the input consumed.
    monkeypatch.setattr(pmd, "_OUTPUT_STEP", 7)
    message = b"abcabcabc" * 200 + random.Random(1).randbytes(50) + b"z" * 300
    payload, _ = fresh().encode(BINARY, message, True)
    receiver, reference = fresh(), zlib.decompressobj(-15)
    received = expected = b""
    for index in range(len(payload)):
        opcode, rsv = (BINARY, RSV1) if index == 0 else (CONT, 0)
        fin = index == len(payload) - 1
        received += receiver.decode(opcode, payload[index : index + 1], rsv, fin, None)
        expected += reference.decompress(payload[index : index + 1] + (TAIL if fin else b""))
        assert received == expected
    assert received == message


# ------------------------------------------------------------------------------ hypothesis

message_strategy = st.one_of(
    st.binary(max_size=600),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=40), st.integers(1, 80)),
)
fragments_strategy = st.lists(st.integers(0, 3000), max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(st.tuples(message_strategy, fragments_strategy), max_size=6),
    snct=st.booleans(),
    cnct=st.booleans(),
    bits=st.integers(8, 15),
    interval=st.sampled_from([ALWAYS, NEVER, 1.0]),
)
def test_round_trip_property(
    messages: list[tuple[bytes, list[int]]], snct: bool, cnct: bool, bits: int, interval: Any
):
    server, client = negotiate(
        config(snct, cnct, bits, bits, idle_interval=interval), {"idle_interval": interval}
    )
    ours, _ = negotiate(
        config(snct, cnct, bits, bits, idle_interval=interval)
    )  # a stream to independent peers
    theirs = ws_extension(ours)
    strict = StrictInflater(bits, no_context_takeover=snct)
    for message, cuts in messages:
        assert send(server, client, message, cuts) == message
        assert send(client, server, message, cuts) == message
        payload, rsv = ours.encode(BINARY, message, True)
        assert theirs.decode(Frame(Opcode.BINARY, payload, True, bool(rsv))).data == message
        if bits <= 9:
            assert strict.message(payload) == message
