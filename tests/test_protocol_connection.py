"""The sans-I/O engine, rule by rule (RFC 6455 §5, §7, §8), in both roles.

The peer's frames are built by hand (``peer_frame``) so that every invalid combination of bits
can be sent; what the engine writes back is parsed by ``read_frames``, which also checks the
masking rule of the engine's role. No sockets, no event loop.
"""

from __future__ import annotations

import logging

import pytest
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side as WsSide

from asgiws.exceptions import PayloadTooBig, ProtocolError
from asgiws.protocol import (
    Close,
    CloseReceived,
    Connection,
    ConnectionFailed,
    PingReceived,
    PongReceived,
    Role,
    State,
)
from asgiws.protocol.extensions.base import Extension

KEY = bytes.fromhex("37fa213d")

# --------------------------------------------------------------------------------- helpers


def raw_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """One frame, bit by bit as RFC 6455 §5.2 draws it; ``length`` overrides the real length."""
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload) if length is None else length
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        header = bytes((first, mask_bit | n))
    elif n < 65536:
        header = bytes((first, mask_bit | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((first, mask_bit | 127)) + n.to_bytes(8, "big")
    if mask is None:
        return header + payload
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def peer_frame(role: Role, opcode: int, payload: bytes = b"", **kwargs) -> bytes:
    """A frame as the peer of an engine in ``role`` must send it: masked by a client."""
    kwargs.setdefault("mask", KEY if role is Role.SERVER else None)
    return raw_frame(opcode, payload, **kwargs)


def read_frames(data: bytes | list[bytes], role: Role) -> list[tuple[bool, int, int, bytes]]:
    """Parse frames the engine in ``role`` wrote: ``(fin, rsv, opcode, payload)`` each."""
    if isinstance(data, list):
        data = b"".join(data)
    frames = []
    pos = 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        n = second & 0x7F
        pos += 2
        if n == 126:
            n = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
        elif n == 127:
            n = int.from_bytes(data[pos : pos + 8], "big")
            pos += 8
        masked = bool(second & 0x80)
        assert masked is (role is Role.CLIENT), "clients mask every frame, servers none"
        if masked:
            key = data[pos : pos + 4]
            pos += 4
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[pos : pos + n]))
        else:
            payload = data[pos : pos + n]
        pos += n
        frames.append((bool(first & 0x80), first & 0x70, first & 0x0F, payload))
    assert pos == len(data)
    return frames


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


def assert_failed(events: list, code: int, reason: str | None = None) -> ConnectionFailed:
    """The last event is a failure with ``code``, and nothing before it failed."""
    assert events, "expected a ConnectionFailed event"
    failed = events[-1]
    assert isinstance(failed, ConnectionFailed), events
    assert not any(isinstance(event, ConnectionFailed) for event in events[:-1])
    assert failed.close.code == code, failed
    if reason is not None:
        assert failed.close.reason == reason
    return failed


@pytest.fixture(params=[Role.SERVER, Role.CLIENT], ids=["server", "client"])
def role(request: pytest.FixtureRequest) -> Role:
    return request.param


def fails_with(role: Role, data: bytes, code: int, **kwargs) -> ConnectionFailed:
    """Feed ``data`` to a fresh engine; it must fail with ``code`` and send that close frame."""
    engine = Connection(role, **kwargs)
    failed = assert_failed(engine.receive_data(data), code)
    assert read_frames(engine.data_to_send(), role) == [
        (True, 0, 0x8, close_payload(code, failed.close.reason))
    ]
    assert engine.state is State.CLOSING
    assert engine.close_sent == failed.close
    assert engine.close_rcvd is None
    assert engine.close_rcvd_then_sent is False
    assert engine.failure is failed.error
    # RFC 6455 §7.1.7: once failed, the engine reads nothing more.
    assert engine.receive_data(peer_frame(role, 0x1, b"late")) == []
    assert engine.data_to_send() == []
    return failed


# ------------------------------------------------------------------------------ messages


def test_initial_state(role: Role) -> None:
    engine = Connection(role)
    assert engine.state is State.OPEN
    assert engine.role is role
    assert engine.max_size == 2**20
    assert engine.close_sent is None and engine.close_rcvd is None
    assert not engine.close_handshake_done
    assert engine.data_to_send() == []
    assert engine.receive_data(b"") == []


def test_text_message(role: Role) -> None:
    engine = Connection(role)
    assert engine.receive_data(peer_frame(role, 0x1, "café ☕".encode())) == ["café ☕"]
    assert engine.data_to_send() == []


def test_binary_message(role: Role) -> None:
    engine = Connection(role)
    assert engine.receive_data(peer_frame(role, 0x2, b"\x00\xff\x80")) == [b"\x00\xff\x80"]


def test_empty_messages(role: Role) -> None:
    engine = Connection(role)
    data = peer_frame(role, 0x1) + peer_frame(role, 0x2)
    events = engine.receive_data(data)
    assert events == ["", b""]
    assert type(events[0]) is str and type(events[1]) is bytes


def test_several_messages_in_one_chunk(role: Role) -> None:
    engine = Connection(role)
    data = b"".join(peer_frame(role, 0x1, str(i).encode()) for i in range(10))
    assert engine.receive_data(data) == [str(i) for i in range(10)]


def test_bytearray_input(role: Role) -> None:
    engine = Connection(role)
    assert engine.receive_data(bytearray(peer_frame(role, 0x2, b"ab"))) == [b"ab"]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 65537])
def test_length_boundaries(role: Role, size: int) -> None:
    # RFC 6455 §5.2: 7-bit lengths up to 125, 16-bit up to 65535, 64-bit beyond.
    payload = bytes(i % 256 for i in range(size))
    data = peer_frame(role, 0x2, payload)
    header = 2 if size < 126 else 4 if size < 65536 else 10
    assert len(data) == header + (4 if role is Role.SERVER else 0) + size
    engine = Connection(role, max_size=None)
    # Everything but the last byte: the engine waits.
    assert engine.receive_data(data[:-1]) == []
    assert engine.receive_data(data[-1:]) == [payload]


def test_byte_by_byte(role: Role) -> None:
    engine = Connection(role)
    data = (
        peer_frame(role, 0x1, b"hello", fin=False)
        + peer_frame(role, 0x9, b"p")
        + peer_frame(role, 0x0, b" world")
        + peer_frame(role, 0x2, b"x" * 300)
    )
    events = []
    for i in range(len(data)):
        events += engine.receive_data(data[i : i + 1])
    assert [type(e) for e in events] == [PingReceived, str, bytes]
    assert events[1] == "hello world"
    assert events[2] == b"x" * 300


@pytest.mark.parametrize("size", [126, 65536])
def test_extended_length_header_arriving_byte_by_byte(role: Role, size: int) -> None:
    data = peer_frame(role, 0x2, b"z" * size)
    header = 4 if size == 126 else 10
    engine = Connection(role, max_size=None)
    for i in range(header + 3):
        assert engine.receive_data(data[i : i + 1]) == []
    assert engine.receive_data(data[header + 3 :]) == [b"z" * size]


def test_64_bit_length_with_top_bit_set_fails(role: Role) -> None:
    # RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
    data = bytes((0x82, (0x80 if role is Role.SERVER else 0) | 127)) + b"\x80" + b"\x00" * 7
    failed = fails_with(role, data, 1002, max_size=None)
    assert isinstance(failed.error, ProtocolError)


# ------------------------------------------------------------------------------- framing


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_fail_1002(role: Role, opcode: int) -> None:
    failed = fails_with(role, peer_frame(role, opcode, b"x"), 1002)
    assert failed.close.reason == f"invalid opcode {opcode:#x}"


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
@pytest.mark.parametrize("opcode", [0x1, 0x2, 0x9, 0xA, 0x8])
def test_rsv_bits_without_extension_fail_1002(role: Role, rsv: int, opcode: int) -> None:
    # RFC 6455 §5.2: RSV bits must be 0 unless an extension defines them.
    failed = fails_with(role, peer_frame(role, opcode, b"", rsv=rsv), 1002)
    assert failed.close.reason == "reserved bits must be 0"


def test_rsv_bits_on_continuation_fail_1002(role: Role) -> None:
    data = peer_frame(role, 0x1, b"a", fin=False) + peer_frame(role, 0x0, b"b", rsv=0x40)
    fails_with(role, data, 1002)


def test_unmasked_frame_to_server_fails_1002() -> None:
    # RFC 6455 §5.1: a server must close the connection on an unmasked frame.
    failed = fails_with(Role.SERVER, raw_frame(0x1, b"hi"), 1002)
    assert failed.close.reason == "incorrect masking"


def test_masked_frame_to_client_fails_1002() -> None:
    # RFC 6455 §5.1: a client must close the connection on a masked frame.
    failed = fails_with(Role.CLIENT, raw_frame(0x1, b"hi", mask=KEY), 1002)
    assert failed.close.reason == "incorrect masking"


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_masking_rule_applies_to_control_frames(opcode: int) -> None:
    fails_with(Role.SERVER, raw_frame(opcode), 1002)
    fails_with(Role.CLIENT, raw_frame(opcode, mask=KEY), 1002)


def test_server_sends_unmasked_frames_exact_bytes() -> None:
    server = Connection(Role.SERVER)
    assert server.send_text("hi") == b"\x81\x02hi"
    assert server.send_binary(b"\x00\x01") == b"\x82\x02\x00\x01"
    assert server.send_ping(b"p") == b"\x89\x01p"
    assert server.send_pong(b"") == b"\x8a\x00"
    assert server.send_text(b"raw") == b"\x81\x03raw"
    assert server.send_binary(bytearray(b"ba")) == b"\x82\x02ba"
    assert server.send_binary(memoryview(b"mv")) == b"\x82\x02mv"
    assert server.send_close(1000, "bye") == b"\x88\x05\x03\xe8bye"


def test_client_masks_every_frame_with_a_fresh_key() -> None:
    client = Connection(Role.CLIENT)
    frames = [client.send_text("hello") for _ in range(16)]
    for frame in frames:
        assert frame[0] == 0x81 and frame[1] == 0x80 | 5
        assert read_frames(frame, Role.CLIENT) == [(True, 0, 0x1, b"hello")]
    assert len({frame[2:6] for frame in frames}) > 1, "a fresh mask key per frame"
    assert read_frames(client.send_ping(b"p"), Role.CLIENT) == [(True, 0, 0x9, b"p")]
    assert read_frames(client.send_close(1000), Role.CLIENT) == [(True, 0, 0x8, b"\x03\xe8")]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_sent_frames_length_encodings(role: Role, size: int) -> None:
    engine = Connection(role)
    frame = engine.send_binary(b"\x07" * size)
    assert read_frames(frame, role) == [(True, 0, 0x2, b"\x07" * size)]
    length_byte = frame[1] & 0x7F
    assert length_byte == (size if size < 126 else 126 if size < 65536 else 127)


# ------------------------------------------------------------------------ control frames


def test_ping_is_answered_with_pong_exact_bytes() -> None:
    server = Connection(Role.SERVER)
    [event] = server.receive_data(raw_frame(0x9, b"hello", mask=KEY))
    assert isinstance(event, PingReceived) and event.data == b"hello"
    assert repr(event) == "PingReceived(b'hello')"
    # RFC 6455 §5.5.2/§5.5.3: the pong carries the ping's application data.
    assert server.data_to_send() == [b"\x8a\x05hello"]
    assert server.data_to_send() == []


def test_client_pong_is_masked() -> None:
    client = Connection(Role.CLIENT)
    [event] = client.receive_data(raw_frame(0x9, b"hello"))
    assert isinstance(event, PingReceived)
    [pong] = client.data_to_send()
    assert pong[:2] == b"\x8a\x85"
    assert read_frames(pong, Role.CLIENT) == [(True, 0, 0xA, b"hello")]


@pytest.mark.parametrize("size", [0, 1, 125])
def test_ping_up_to_125_bytes(role: Role, size: int) -> None:
    engine = Connection(role)
    payload = b"\x01" * size
    [event] = engine.receive_data(peer_frame(role, 0x9, payload))
    assert event.data == payload
    assert read_frames(engine.data_to_send(), role) == [(True, 0, 0xA, payload)]


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
@pytest.mark.parametrize("size", [126, 65536])
def test_control_frame_over_125_bytes_fails_1002(role: Role, opcode: int, size: int) -> None:
    # RFC 6455 §5.5: control frames have a payload of 125 bytes or less.
    payload = b"\x03\xe8" + b"a" * (size - 2)
    failed = fails_with(role, peer_frame(role, opcode, payload), 1002)
    assert failed.close.reason == "control frame too long"


def test_control_frame_too_long_fails_on_header(role: Role) -> None:
    header = peer_frame(role, 0x9, b"a" * 126)[:4]
    engine = Connection(role)
    assert_failed(engine.receive_data(header), 1002, "control frame too long")


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_fragmented_control_frame_fails_1002(role: Role, opcode: int) -> None:
    # RFC 6455 §5.5: control frames must not be fragmented.
    failed = fails_with(role, peer_frame(role, opcode, b"", fin=False), 1002)
    assert failed.close.reason == "fragmented control frame"


def test_unsolicited_pong_is_accepted(role: Role) -> None:
    # RFC 6455 §5.5.3: a pong may be sent unsolicited, as a heartbeat; no answer expected.
    engine = Connection(role)
    [event] = engine.receive_data(peer_frame(role, 0xA, b"beat"))
    assert isinstance(event, PongReceived) and event.data == b"beat"
    assert repr(event) == "PongReceived(b'beat')"
    assert engine.data_to_send() == []
    assert engine.state is State.OPEN


def test_control_frames_between_fragments(role: Role) -> None:
    # RFC 6455 §5.4: control frames may be injected in the middle of a fragmented message.
    engine = Connection(role)
    data = (
        peer_frame(role, 0x1, b"Hel", fin=False)
        + peer_frame(role, 0x9, b"1")
        + peer_frame(role, 0x0, b"l", fin=False)
        + peer_frame(role, 0xA, b"2")
        + peer_frame(role, 0x9, b"3")
        + peer_frame(role, 0x0, b"o", fin=True)
    )
    events = engine.receive_data(data)
    assert [type(e) for e in events] == [PingReceived, PongReceived, PingReceived, str]
    assert [e.data for e in events[:3]] == [b"1", b"2", b"3"]
    assert events[3] == "Hello"
    assert read_frames(engine.data_to_send(), role) == [
        (True, 0, 0xA, b"1"),
        (True, 0, 0xA, b"3"),
    ]


def test_close_between_fragments_ends_the_message(role: Role) -> None:
    engine = Connection(role)
    data = peer_frame(role, 0x2, b"part", fin=False) + peer_frame(role, 0x8, close_payload(1001))
    [event] = engine.receive_data(data)
    assert isinstance(event, CloseReceived) and event.close == Close(1001)


# ------------------------------------------------------------------------- fragmentation


def test_fragmented_text_reassembled(role: Role) -> None:
    engine = Connection(role)
    assert engine.receive_data(peer_frame(role, 0x1, b"Hel", fin=False)) == []
    assert engine.receive_data(peer_frame(role, 0x0, b"", fin=False)) == []
    assert engine.receive_data(peer_frame(role, 0x0, b"lo ", fin=False)) == []
    assert engine.receive_data(peer_frame(role, 0x0, b"there", fin=True)) == ["Hello there"]
    # The next message starts afresh.
    assert engine.receive_data(peer_frame(role, 0x1, b"again")) == ["again"]


def test_fragmented_binary_reassembled(role: Role) -> None:
    engine = Connection(role)
    data = b"".join(
        peer_frame(role, 0x2 if i == 0 else 0x0, bytes([i]) * 3, fin=i == 9) for i in range(10)
    )
    assert engine.receive_data(data) == [b"".join(bytes([i]) * 3 for i in range(10))]


def test_fragmented_message_of_empty_fragments(role: Role) -> None:
    engine = Connection(role)
    data = peer_frame(role, 0x1, fin=False) + peer_frame(role, 0x0, fin=True)
    assert engine.receive_data(data) == [""]


def test_continuation_without_start_fails_1002(role: Role) -> None:
    failed = fails_with(role, peer_frame(role, 0x0, b"x"), 1002)
    assert failed.close.reason == "unexpected continuation frame"


def test_continuation_after_finished_message_fails_1002(role: Role) -> None:
    data = peer_frame(role, 0x1, b"a") + peer_frame(role, 0x0, b"b")
    engine = Connection(role)
    events = engine.receive_data(data)
    assert events[0] == "a"
    assert_failed(events, 1002, "unexpected continuation frame")


@pytest.mark.parametrize(("first", "second"), [(0x1, 0x1), (0x1, 0x2), (0x2, 0x1), (0x2, 0x2)])
@pytest.mark.parametrize("second_fin", [True, False])
def test_new_data_frame_inside_fragmented_message_fails_1002(
    role: Role, first: int, second: int, second_fin: bool
) -> None:
    # RFC 6455 §5.4: fragments of one message must not be interleaved with another.
    data = peer_frame(role, first, b"a", fin=False) + peer_frame(role, second, b"b", fin=second_fin)
    failed = fails_with(role, data, 1002)
    name = {0x1: "TEXT", 0x2: "BINARY"}[second]
    assert failed.close.reason == f"expected a continuation frame, got {name}"


def test_outgoing_text_fragmentation(role: Role) -> None:
    engine = Connection(role)
    frames = [
        engine.send_text("ab", fin=False),
        engine.send_continuation("cé", fin=False),
        engine.send_continuation(b"", fin=False),
        engine.send_continuation(b"ef", fin=True),
    ]
    assert read_frames(frames, role) == [
        (False, 0, 0x1, b"ab"),
        (False, 0, 0x0, "cé".encode()),
        (False, 0, 0x0, b""),
        (True, 0, 0x0, b"ef"),
    ]
    # The peer engine reassembles it.
    peer = Connection(Role.CLIENT if role is Role.SERVER else Role.SERVER)
    assert peer.receive_data(b"".join(frames)) == ["abcéef"]


def test_outgoing_binary_fragmentation(role: Role) -> None:
    engine = Connection(role)
    frames = [
        engine.send_binary(b"\x00", fin=False),
        engine.send_ping(b"between"),
        engine.send_continuation(bytearray(b"\x01"), fin=False),
        engine.send_continuation(memoryview(b"\x02"), fin=True),
    ]
    assert [frame[:3] for frame in read_frames(frames, role)] == [
        (False, 0, 0x2),
        (True, 0, 0x9),
        (False, 0, 0x0),
        (True, 0, 0x0),
    ]
    peer = Connection(Role.CLIENT if role is Role.SERVER else Role.SERVER)
    events = peer.receive_data(b"".join(frames))
    assert isinstance(events[0], PingReceived)
    assert events[1] == b"\x00\x01\x02"


def test_send_continuation_without_a_message_in_progress(role: Role) -> None:
    engine = Connection(role)
    with pytest.raises(ProtocolError, match="no fragmented message in progress"):
        engine.send_continuation(b"x", fin=True)
    engine.send_text("a", fin=False)
    engine.send_continuation("b", fin=True)
    with pytest.raises(ProtocolError, match="no fragmented message in progress"):
        engine.send_continuation("c", fin=True)


def test_new_message_while_fragmented_message_in_progress(role: Role) -> None:
    engine = Connection(role)
    engine.send_binary(b"a", fin=False)
    with pytest.raises(ProtocolError, match="a fragmented message is in progress"):
        engine.send_text("b")
    with pytest.raises(ProtocolError, match="a fragmented message is in progress"):
        engine.send_binary(b"b", fin=False)
    engine.send_continuation(b"c", fin=True)
    assert read_frames(engine.send_text("next"), role) == [(True, 0, 0x1, b"next")]


# ---------------------------------------------------------------------------------- UTF-8


@pytest.mark.parametrize(
    "payload",
    [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"abc\xe2\x82", b"\x80"],
)
def test_invalid_utf8_text_fails_1007(role: Role, payload: bytes) -> None:
    # RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection with 1007.
    failed = fails_with(role, peer_frame(role, 0x1, payload), 1007)
    assert failed.close.reason == "invalid UTF-8"
    assert isinstance(failed.error, UnicodeDecodeError)


def test_invalid_utf8_fails_fast_in_fragmented_message(role: Role) -> None:
    # The failure comes with the fragment holding the bad byte, before the final fragment.
    engine = Connection(role)
    assert engine.receive_data(peer_frame(role, 0x1, "κόσμε".encode(), fin=False)) == []
    events = engine.receive_data(peer_frame(role, 0x0, b"\xf4\x90\x80\x80", fin=False))
    assert_failed(events, 1007, "invalid UTF-8")
    assert read_frames(engine.data_to_send(), role) == [
        (True, 0, 0x8, close_payload(1007, "invalid UTF-8"))
    ]
    assert engine.receive_data(peer_frame(role, 0x0, b"edited", fin=True)) == []


@pytest.mark.parametrize(
    "fragment",
    [
        b"\xf4\x90",  # above U+10FFFF
        b"\xe0\x80",  # overlong
        b"\xc0",  # never valid
        b"\xf5",
        b"\xed\xa0",  # a UTF-16 surrogate, CPython's decoder would wait for a third byte
        b"\xed\xbf",
        b"ok\xed\xa0",
    ],
)
def test_invalid_utf8_prefix_at_end_of_fragment_fails_at_once(role: Role, fragment: bytes) -> None:
    engine = Connection(role)
    events = engine.receive_data(peer_frame(role, 0x1, fragment, fin=False))
    assert_failed(events, 1007)


def test_invalid_utf8_spread_over_fragments_fails_at_first_bad_byte(role: Role) -> None:
    # 0xED is a fine start; the surrogate only shows with 0xA0 in the next fragment.
    engine = Connection(role)
    assert engine.receive_data(peer_frame(role, 0x1, b"a\xed", fin=False)) == []
    assert_failed(engine.receive_data(peer_frame(role, 0x0, b"\xa0", fin=False)), 1007)


def test_valid_utf8_surrogate_neighbours_across_fragments(role: Role) -> None:
    # ED 9F BF is U+D7FF, the last character before the surrogates: valid.
    engine = Connection(role)
    assert engine.receive_data(peer_frame(role, 0x1, b"\xed\x9f", fin=False)) == []
    assert engine.receive_data(peer_frame(role, 0x0, b"\xbf", fin=True)) == ["\ud7ff"]


@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_multibyte_character_split_across_fragments(role: Role, char: str) -> None:
    encoded = char.encode()
    for split in range(1, len(encoded)):
        engine = Connection(role)
        head, tail = encoded[:split], encoded[split:]
        assert engine.receive_data(peer_frame(role, 0x1, b"<" + head, fin=False)) == []
        assert engine.receive_data(peer_frame(role, 0x0, tail + b">", fin=True)) == [f"<{char}>"]


def test_character_split_over_one_byte_fragments(role: Role) -> None:
    engine = Connection(role)
    encoded = "😀".encode()
    data = b"".join(
        peer_frame(role, 0x1 if i == 0 else 0x0, bytes([b]), fin=i == 3)
        for i, b in enumerate(encoded)
    )
    assert engine.receive_data(data) == ["😀"]


def test_truncated_character_at_message_end_fails_1007(role: Role) -> None:
    data = peer_frame(role, 0x1, b"ab\xf0\x9f", fin=False) + peer_frame(role, 0x0, b"\x98")
    fails_with(role, data, 1007)


def test_binary_messages_are_not_utf8_checked(role: Role) -> None:
    engine = Connection(role)
    data = peer_frame(role, 0x2, b"\xff", fin=False) + peer_frame(role, 0x0, b"\xed\xa0")
    assert engine.receive_data(data) == [b"\xff\xed\xa0"]


def test_invalid_utf8_close_reason_fails_1007(role: Role) -> None:
    failed = fails_with(role, peer_frame(role, 0x8, b"\x03\xe8\xff"), 1007)
    assert isinstance(failed.error, UnicodeDecodeError)


# --------------------------------------------------------------------------------- close


@pytest.mark.parametrize(
    "code",
    [
        1000,
        1001,
        1002,
        1003,
        1007,
        1008,
        1009,
        1010,
        1011,
        1012,
        1013,
        1014,
        3000,
        3999,
        4000,
        4999,
    ],
)
def test_valid_close_codes_are_echoed(role: Role, code: int) -> None:
    engine = Connection(role)
    [event] = engine.receive_data(peer_frame(role, 0x8, close_payload(code, "why")))
    assert isinstance(event, CloseReceived)
    assert event.close == Close(code, "why")
    # RFC 6455 §5.5.1: the answer echoes the status code received.
    assert read_frames(engine.data_to_send(), role) == [(True, 0, 0x8, close_payload(code, "why"))]
    assert engine.state is State.CLOSING
    assert engine.close_rcvd == Close(code, "why")
    assert engine.close_sent == Close(code, "why")
    assert engine.close_rcvd_then_sent is True
    assert engine.close_handshake_done


def test_close_echo_exact_bytes() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(raw_frame(0x8, b"\x03\xe8bye", mask=KEY))
    assert server.data_to_send() == [b"\x88\x05\x03\xe8bye"]


def test_empty_close_is_1005_and_echoed_empty(role: Role) -> None:
    engine = Connection(role)
    [event] = engine.receive_data(peer_frame(role, 0x8))
    assert event.close == Close(1005, "")
    assert repr(event) == "CloseReceived(Close(code=1005, reason=''))"
    assert read_frames(engine.data_to_send(), role) == [(True, 0, 0x8, b"")]


def test_close_with_one_byte_payload_fails_1002(role: Role) -> None:
    # RFC 6455 §5.5.1: a close body starts with a 2-byte status code.
    failed = fails_with(role, peer_frame(role, 0x8, b"\x03"), 1002)
    assert failed.close.reason == "close frame with a 1-byte payload"


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_invalid_close_codes_fail_1002(role: Role, code: int) -> None:
    failed = fails_with(role, peer_frame(role, 0x8, close_payload(code, "r")), 1002)
    assert failed.close.reason == f"invalid close code {code}"


def test_bytes_after_close_are_ignored(role: Role) -> None:
    # RFC 6455 §5.5.1: an endpoint must not send data frames after its close frame.
    engine = Connection(role)
    data = peer_frame(role, 0x8, close_payload(1000)) + peer_frame(role, 0x1, b"ignored")
    [event] = engine.receive_data(data + b"\xff\xff garbage")
    assert isinstance(event, CloseReceived)
    engine.data_to_send()
    assert engine.receive_data(peer_frame(role, 0x9, b"ping")) == []
    assert engine.data_to_send() == []


def test_we_close_first_then_peer_answers(role: Role) -> None:
    engine = Connection(role)
    frame = engine.send_close(1000, "done")
    assert read_frames(frame, role) == [(True, 0, 0x8, close_payload(1000, "done"))]
    assert engine.state is State.CLOSING
    assert engine.close_sent == Close(1000, "done")
    assert engine.close_rcvd_then_sent is False
    assert not engine.close_handshake_done
    # Data the peer sent before it saw our close still arrives (RFC 6455 §1.4).
    assert engine.receive_data(peer_frame(role, 0x1, b"in flight")) == ["in flight"]
    [event] = engine.receive_data(peer_frame(role, 0x8, close_payload(1000)))
    assert isinstance(event, CloseReceived) and event.close == Close(1000)
    assert engine.data_to_send() == [], "no second close frame"
    assert engine.close_rcvd_then_sent is False
    assert engine.close_handshake_done


def test_no_pong_after_we_sent_close(role: Role) -> None:
    engine = Connection(role)
    engine.send_close(1001)
    [event] = engine.receive_data(peer_frame(role, 0x9, b"late ping"))
    assert isinstance(event, PingReceived)
    assert engine.data_to_send() == []


def test_send_close_without_code_sends_empty_payload(role: Role) -> None:
    engine = Connection(role)
    assert read_frames(engine.send_close(), role) == [(True, 0, 0x8, b"")]
    assert engine.close_sent == Close(1005, "")


def test_send_close_exact_bytes() -> None:
    assert Connection(Role.SERVER).send_close() == b"\x88\x00"
    assert Connection(Role.SERVER).send_close(4000, "é") == b"\x88\x04\x0f\xa0\xc3\xa9"


def test_send_close_twice_raises(role: Role) -> None:
    engine = Connection(role)
    engine.send_close(1000)
    with pytest.raises(ProtocolError, match="close frame already sent"):
        engine.send_close(1000)


def test_send_close_after_echo_raises(role: Role) -> None:
    engine = Connection(role)
    engine.receive_data(peer_frame(role, 0x8, close_payload(1000)))
    with pytest.raises(ProtocolError, match="close frame already sent"):
        engine.send_close(1000)


def test_send_close_reason_limit(role: Role) -> None:
    engine = Connection(role)
    with pytest.raises(ProtocolError, match="over 123 bytes"):
        engine.send_close(1000, "x" * 124)
    assert engine.state is State.OPEN and engine.close_sent is None
    frame = engine.send_close(1000, "x" * 123)
    assert read_frames(frame, role) == [(True, 0, 0x8, close_payload(1000, "x" * 123))]


@pytest.mark.parametrize("method", ["send_text", "send_binary", "send_ping", "send_pong"])
def test_sending_after_close_raises(role: Role, method: str) -> None:
    engine = Connection(role)
    engine.send_close(1000)
    argument = "x" if method == "send_text" else b"x"
    with pytest.raises(ProtocolError, match="in state CLOSING"):
        getattr(engine, method)(argument)


def test_sending_after_close_received_raises(role: Role) -> None:
    engine = Connection(role)
    engine.receive_data(peer_frame(role, 0x8, close_payload(1000)))
    with pytest.raises(ProtocolError, match="in state CLOSING"):
        engine.send_text("x")


def test_failure_after_we_sent_close_sends_no_second_close(role: Role) -> None:
    engine = Connection(role)
    engine.send_close(1000, "bye")
    events = engine.receive_data(peer_frame(role, 0x3))
    failed = assert_failed(events, 1000)
    assert failed.close == Close(1000, "bye"), "the close frame that was sent"
    assert isinstance(failed.error, ProtocolError)
    assert engine.data_to_send() == []
    assert engine.close_rcvd_then_sent is False


def test_events_before_a_failure_are_kept(role: Role) -> None:
    engine = Connection(role)
    data = peer_frame(role, 0x1, b"one") + peer_frame(role, 0x9, b"p") + peer_frame(role, 0x4)
    events = engine.receive_data(data)
    assert events[0] == "one"
    assert isinstance(events[1], PingReceived) and events[1].data == b"p"
    assert_failed(events, 1002)
    frames = read_frames(engine.data_to_send(), role)
    assert [f[2] for f in frames] == [0xA, 0x8]


def test_connection_failed_repr(role: Role) -> None:
    [failed] = Connection(role).receive_data(peer_frame(role, 0x0))
    assert repr(failed).startswith(
        "ConnectionFailed(Close(code=1002, reason='unexpected continuation frame'), ProtocolError("
    )


def test_receive_eof(role: Role) -> None:
    engine = Connection(role)
    engine.receive_data(peer_frame(role, 0x1, b"partial", fin=False))
    engine.receive_eof()
    assert engine.eof_received
    assert engine.state is State.CLOSED
    assert engine.receive_data(peer_frame(role, 0x0, b"rest")) == []


# -------------------------------------------------------------------------------- limits


def test_max_size_exact_limit_is_accepted(role: Role) -> None:
    engine = Connection(role, max_size=100)
    assert engine.receive_data(peer_frame(role, 0x2, b"x" * 100)) == [b"x" * 100]


def test_max_size_exceeded_fails_1009(role: Role) -> None:
    failed = fails_with(role, peer_frame(role, 0x2, b"x" * 101), 1009, max_size=100)
    assert isinstance(failed.error, PayloadTooBig)
    assert failed.close.reason == "over size limit (101 > 100 bytes)"


@pytest.mark.parametrize("length", [126, 65536, 2**40, 2**63 - 1])
def test_max_size_checked_on_header_alone(role: Role, length: int) -> None:
    # Only the header of a huge frame: the failure comes before any payload is buffered.
    header = peer_frame(role, 0x2, b"", length=length)
    engine = Connection(role, max_size=125)
    assert_failed(engine.receive_data(header), 1009)
    assert read_frames(engine.data_to_send(), role)[0][2] == 0x8
    assert engine._buffer == b""


def test_max_size_checked_without_mask_key(role: Role) -> None:
    # The 64-bit length is known after 10 bytes: the mask key is not awaited.
    header = peer_frame(role, 0x1, b"", length=2**40)[:10]
    engine = Connection(role, max_size=2**20)
    assert_failed(engine.receive_data(header), 1009)


def test_max_size_of_fragmented_message(role: Role) -> None:
    engine = Connection(role, max_size=10)
    assert engine.receive_data(peer_frame(role, 0x1, b"123456", fin=False)) == []
    assert engine.receive_data(peer_frame(role, 0x0, b"", fin=False)) == []
    # Just the next fragment's header: 6 + 5 > 10.
    events = engine.receive_data(peer_frame(role, 0x0, b"78901", fin=True)[:2])
    failed = assert_failed(events, 1009)
    assert failed.close.reason == "over size limit (11 > 10 bytes)"


def test_max_size_of_fragmented_message_exact(role: Role) -> None:
    engine = Connection(role, max_size=10)
    data = peer_frame(role, 0x2, b"12345", fin=False) + peer_frame(role, 0x0, b"67890")
    assert engine.receive_data(data) == [b"1234567890"]
    # The count restarts with each message.
    assert engine.receive_data(data) == [b"1234567890"]


def test_control_frames_do_not_count_toward_max_size(role: Role) -> None:
    engine = Connection(role, max_size=4)
    data = (
        peer_frame(role, 0x2, b"12", fin=False)
        + peer_frame(role, 0x9, b"a" * 100)
        + peer_frame(role, 0x0, b"34")
    )
    events = engine.receive_data(data)
    assert events[1] == b"1234"


def test_max_size_none_is_unlimited(role: Role) -> None:
    engine = Connection(role, max_size=None)
    payload = b"y" * (2**20 + 1)
    assert engine.receive_data(peer_frame(role, 0x2, payload)) == [payload]
    # A huge header just waits for its payload.
    assert engine.receive_data(peer_frame(role, 0x2, b"", length=2**40)) == []
    assert engine.state is State.OPEN


def test_default_max_size_is_one_mebibyte(role: Role) -> None:
    engine = Connection(role)
    assert_failed(engine.receive_data(peer_frame(role, 0x2, b"", length=2**20 + 1)), 1009)


# ---------------------------------------------------------------------------- extensions


class ReverseExtension(Extension):
    """A test extension: reverses each data frame's payload and marks it with RSV1."""

    name = "x-reverse"
    rsv_bits = 0x40

    def __init__(self) -> None:
        self.decoded: list[tuple[int, bytes, int, bool, int | None]] = []
        self.encoded: list[tuple[int, bytes, bool]] = []

    def decode(
        self, opcode: int, payload: bytes, rsv: int, fin: bool, max_size: int | None
    ) -> bytes:
        self.decoded.append((opcode, payload, rsv, fin, max_size))
        return payload[::-1] if rsv & 0x40 else payload

    def encode(self, opcode: int, payload: bytes, fin: bool) -> tuple[bytes, int]:
        self.encoded.append((opcode, payload, fin))
        return payload[::-1], 0x40


class SuffixExtension(Extension):
    """A test extension without RSV bits: appends ``!`` to each data frame, strips it back."""

    name = "x-suffix"

    def decode(
        self, opcode: int, payload: bytes, rsv: int, fin: bool, max_size: int | None
    ) -> bytes:
        if not payload.endswith(b"!"):
            raise ProtocolError("missing suffix")
        return payload[:-1]

    def encode(self, opcode: int, payload: bytes, fin: bool) -> tuple[bytes, int]:
        return payload + b"!", 0


class DoubleExtension(Extension):
    """A test extension that doubles the payload on the way in (an "inflater")."""

    name = "x-double"
    rsv_bits = 0x20

    def decode(
        self, opcode: int, payload: bytes, rsv: int, fin: bool, max_size: int | None
    ) -> bytes:
        return payload * 2

    def encode(self, opcode: int, payload: bytes, fin: bool) -> tuple[bytes, int]:
        return payload, 0


class FailingExtension(Extension):
    name = "x-fail"

    def decode(
        self, opcode: int, payload: bytes, rsv: int, fin: bool, max_size: int | None
    ) -> bytes:
        raise ProtocolError("é" * 100)

    def encode(self, opcode: int, payload: bytes, fin: bool) -> tuple[bytes, int]:
        return payload, 0


def test_extension_base_class_is_abstract() -> None:
    extension = Extension()
    assert (extension.name, extension.rsv_bits) == ("", 0)
    with pytest.raises(NotImplementedError):
        extension.decode(0x1, b"", 0, True, None)
    with pytest.raises(NotImplementedError):
        extension.encode(0x1, b"", True)


def test_extension_makes_its_rsv_bit_acceptable_and_decodes(role: Role) -> None:
    extension = ReverseExtension()
    engine = Connection(role, extensions=[extension], max_size=1000)
    events = engine.receive_data(
        peer_frame(role, 0x1, b"olleh", rsv=0x40)
        + peer_frame(role, 0x2, b"\x02\x01", rsv=0x40, fin=False)
        + peer_frame(role, 0x0, b"\x04\x03", rsv=0x40, fin=True)
        + peer_frame(role, 0x1, b"plain")
    )
    assert events == ["hello", b"\x01\x02\x03\x04", "plain"]
    assert extension.decoded == [
        (0x1, b"olleh", 0x40, True, 1000),
        (0x2, b"\x02\x01", 0x40, False, 1000),
        (0x0, b"\x04\x03", 0x40, True, 998),
        (0x1, b"plain", 0, True, 1000),
    ]


def test_extension_encodes_outgoing_data_frames_only(role: Role) -> None:
    extension = ReverseExtension()
    engine = Connection(role, extensions=[extension])
    frames = [
        engine.send_text("abc"),
        engine.send_binary(b"\x01\x02", fin=False),
        engine.send_continuation(b"\x03\x04", fin=True),
        engine.send_ping(b"ping"),
        engine.send_pong(b"pong"),
        engine.send_close(1000, "bye"),
    ]
    assert read_frames(frames, role) == [
        (True, 0x40, 0x1, b"cba"),
        (False, 0x40, 0x2, b"\x02\x01"),
        (True, 0x40, 0x0, b"\x04\x03"),
        # RFC 6455 §5.5: control frames never pass through extensions.
        (True, 0, 0x9, b"ping"),
        (True, 0, 0xA, b"pong"),
        (True, 0, 0x8, close_payload(1000, "bye")),
    ]
    assert extension.encoded == [
        (0x1, b"abc", True),
        (0x2, b"\x01\x02", False),
        (0x0, b"\x03\x04", True),
    ]
    if role is Role.SERVER:
        assert frames[0] == b"\xc1\x03cba"


def test_extension_round_trip_between_engines(role: Role) -> None:
    sender = Connection(role, extensions=[ReverseExtension()])
    peer_role = Role.CLIENT if role is Role.SERVER else Role.SERVER
    receiver = Connection(peer_role, extensions=[ReverseExtension()])
    data = sender.send_text("héllo", fin=False) + sender.send_continuation(" wörld", fin=True)
    assert receiver.receive_data(data) == ["héllo wörld"]


def test_extension_does_not_allow_other_rsv_bits(role: Role) -> None:
    fails_with(role, peer_frame(role, 0x1, b"x", rsv=0x20), 1002, extensions=[ReverseExtension()])
    fails_with(role, peer_frame(role, 0x1, b"x", rsv=0x60), 1002, extensions=[ReverseExtension()])


def test_extension_does_not_allow_rsv_on_control_frames(role: Role) -> None:
    failed = fails_with(
        role, peer_frame(role, 0x9, b"x", rsv=0x40), 1002, extensions=[ReverseExtension()]
    )
    assert failed.close.reason == "reserved bits must be 0 on a control frame"


def test_extensions_apply_in_response_order_and_undo_in_reverse() -> None:
    # RFC 6455 §9.1: the order of operations is the order listed in the handshake response.
    server = Connection(Role.SERVER, extensions=[ReverseExtension(), SuffixExtension()])
    assert server.send_text("abc") == b"\xc1\x04cba!"
    client = Connection(Role.CLIENT, extensions=[ReverseExtension(), SuffixExtension()])
    assert client.receive_data(b"\xc1\x04cba!") == ["abc"]


def test_extension_protocol_error_fails_1002_with_truncated_reason(role: Role) -> None:
    failed = fails_with(role, peer_frame(role, 0x2, b"x"), 1002, extensions=[FailingExtension()])
    # The reason fits in a close frame: 123 bytes at most, cut between characters.
    assert failed.close.reason == "é" * 61
    assert len(failed.close.serialize()) == 124


def test_max_size_checked_after_decoding_single_frame(role: Role) -> None:
    engine = Connection(role, max_size=10, extensions=[DoubleExtension()])
    assert engine.receive_data(peer_frame(role, 0x2, b"12345")) == [b"1234512345"]
    failed = assert_failed(engine.receive_data(peer_frame(role, 0x2, b"123456")), 1009)
    assert failed.close.reason == "over size limit (12 > 10 bytes)"


def test_max_size_checked_after_decoding_fragments(role: Role) -> None:
    engine = Connection(role, max_size=10, extensions=[DoubleExtension()])
    assert engine.receive_data(peer_frame(role, 0x2, b"123", fin=False)) == []
    # The header passes (6 + 3 <= 10); decoded, the fragment makes 6 + 6 bytes.
    failed = assert_failed(engine.receive_data(peer_frame(role, 0x0, b"123", fin=False)), 1009)
    assert failed.close.reason == "over size limit (12 > 10 bytes)"


def test_compressed_frames_get_header_slack(role: Role) -> None:
    # A frame with an extension's RSV bit may be a bit larger on the wire than max_size.
    engine = Connection(role, max_size=64, extensions=[ReverseExtension()])
    payload = b"a" * 64 + b"b" * 10
    # 74 bytes on the wire: allowed by the header check, refused once decoded.
    events = engine.receive_data(peer_frame(role, 0x2, payload, rsv=0x40))
    assert_failed(events, 1009, "over size limit (74 > 64 bytes)")
    engine = Connection(role, max_size=64, extensions=[ReverseExtension()])
    # Up to the slack (64 + 64 // 64 + 64 = 129 bytes) the header waits for its payload...
    assert engine.receive_data(peer_frame(role, 0x2, b"", rsv=0x40, length=129)) == []
    engine = Connection(role, max_size=64, extensions=[ReverseExtension()])
    # ... beyond, it is refused at once.
    assert_failed(engine.receive_data(peer_frame(role, 0x2, b"", rsv=0x40, length=130)), 1009)


# ------------------------------------------------------------------------------- logging


def test_frames_are_logged_at_debug(role: Role, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.asgiws.engine")
    logger.setLevel(logging.DEBUG)
    engine = Connection(role, logger=logger)
    assert engine.debug
    with caplog.at_level(logging.DEBUG, logger="test.asgiws.engine"):
        engine.receive_data(
            peer_frame(role, 0x1, b"hello", fin=False)
            + peer_frame(role, 0x0, b"!")
            + peer_frame(role, 0x2, b"\x01\x02")
        )
        engine.send_text("out")
        engine.send_close(1000, "bye")
        engine.receive_data(peer_frame(role, 0x8, b""))
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "< TEXT 'hello' [5 bytes] [continued]",
        "< CONT 21 [1 bytes]",
        "< BINARY 01 02 [2 bytes]",
        "> TEXT 'out' [3 bytes]",
        "> CLOSE 1000 (OK) bye [5 bytes]",
        "< CLOSE  [0 bytes]",
    ]


def test_failure_is_logged(role: Role, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.asgiws.failure")
    logger.setLevel(logging.DEBUG)
    engine = Connection(role, logger=logger)
    with caplog.at_level(logging.DEBUG, logger="test.asgiws.failure"):
        engine.receive_data(peer_frame(role, 0x5))
    assert "! failing connection with code 1002: invalid opcode 0x5" in caplog.messages


def test_debug_off_by_default() -> None:
    logger = logging.getLogger("test.asgiws.quiet")
    logger.setLevel(logging.INFO)
    assert not Connection(Role.SERVER, logger=logger).debug


# --------------------------------------------- cross-check with websockets' sans-I/O engine


def test_websockets_client_to_our_server() -> None:
    theirs = WsProtocol(WsSide.CLIENT)
    ours = Connection(Role.SERVER)
    theirs.send_text(b"Hel", fin=False)
    theirs.send_ping(b"p")
    theirs.send_continuation("lo ☃".encode(), fin=True)
    theirs.send_binary(b"\x00" * 70000)
    theirs.send_close(1000, "bye")
    events = ours.receive_data(b"".join(theirs.data_to_send()))
    assert isinstance(events[0], PingReceived)
    assert events[1:3] == ["Hello ☃", b"\x00" * 70000]
    assert isinstance(events[3], CloseReceived) and events[3].close == Close(1000, "bye")
    # Our pong and close echo are valid for websockets.
    theirs.receive_data(b"".join(ours.data_to_send()))
    received = theirs.events_received()
    assert [frame.opcode for frame in received] == [WsOpcode.PONG, WsOpcode.CLOSE]
    assert received[0].data == b"p"
    assert theirs.close_rcvd is not None and theirs.close_rcvd.code == 1000


def test_our_client_to_websockets_server() -> None:
    ours = Connection(Role.CLIENT)
    theirs = WsProtocol(WsSide.SERVER, max_size=None)
    data = b"".join(
        [
            ours.send_binary(b"\x01", fin=False),
            ours.send_ping(b"p"),
            ours.send_continuation(b"\x02", fin=True),
            ours.send_text("é" * 40000),
            ours.send_close(4000, "done"),
        ]
    )
    theirs.receive_data(data)
    received = theirs.events_received()
    assert [frame.opcode for frame in received] == [
        WsOpcode.BINARY,
        WsOpcode.PING,
        WsOpcode.CONT,
        WsOpcode.TEXT,
        WsOpcode.CLOSE,
    ]
    assert received[3].data == ("é" * 40000).encode()
    assert theirs.close_rcvd is not None and theirs.close_rcvd.code == 4000
    events = ours.receive_data(b"".join(theirs.data_to_send()))
    assert isinstance(events[0], PongReceived) and events[0].data == b"p"
    assert isinstance(events[1], CloseReceived) and events[1].close == Close(4000, "done")


class WsReverse:
    """ReverseExtension, for websockets."""

    name = "x-reverse"

    def decode(self, frame: WsFrame, *, max_size: int | None = None) -> WsFrame:
        if not frame.rsv1:
            return frame
        return WsFrame(frame.opcode, bytes(frame.data)[::-1], frame.fin)

    def encode(self, frame: WsFrame) -> WsFrame:
        if frame.opcode in (WsOpcode.PING, WsOpcode.PONG, WsOpcode.CLOSE):
            return frame
        return WsFrame(frame.opcode, bytes(frame.data)[::-1], frame.fin, rsv1=True)


class WsSuffix:
    """SuffixExtension, for websockets."""

    name = "x-suffix"

    def decode(self, frame: WsFrame, *, max_size: int | None = None) -> WsFrame:
        if frame.opcode in (WsOpcode.PING, WsOpcode.PONG, WsOpcode.CLOSE):
            return frame
        assert bytes(frame.data).endswith(b"!")
        return WsFrame(frame.opcode, bytes(frame.data)[:-1], frame.fin, frame.rsv1)

    def encode(self, frame: WsFrame) -> WsFrame:
        if frame.opcode in (WsOpcode.PING, WsOpcode.PONG, WsOpcode.CLOSE):
            return frame
        return WsFrame(frame.opcode, bytes(frame.data) + b"!", frame.fin, frame.rsv1)


def test_extension_order_matches_websockets() -> None:
    # Two extensions whose order matters, listed the same way on both implementations.
    frame = WsFrame(WsOpcode.TEXT, b"abc").serialize(
        mask=False, extensions=[WsReverse(), WsSuffix()]
    )
    ours = Connection(Role.SERVER, extensions=[ReverseExtension(), SuffixExtension()])
    assert ours.send_text("abc") == frame
    client = Connection(Role.CLIENT, extensions=[ReverseExtension(), SuffixExtension()])
    assert client.receive_data(frame) == ["abc"]
