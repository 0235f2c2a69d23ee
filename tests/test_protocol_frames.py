"""Frame building, masking and close payloads (RFC 6455 §5.2, §5.3, §5.5.1, §7.4).

The byte layouts are written out by hand here, and frames are exchanged with an independent
implementation (the ``websockets`` library's sans-I/O ``Frame``) in both directions, so a
mistake the engine shares with its own helpers cannot hide.
"""

from __future__ import annotations

import struct

import pytest
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.streams import StreamReader

from asgiws.exceptions import ProtocolError
from asgiws.protocol import (
    OK_CLOSE_CODES,
    Close,
    CloseCode,
    CloseReceived,
    Connection,
    ConnectionFailed,
    Opcode,
    PingReceived,
    PongReceived,
    Role,
    apply_mask,
    build_frame,
)
from asgiws.protocol.close import is_valid_close_code
from asgiws.protocol.frames import (
    CONTROL_OPCODES,
    DATA_OPCODES,
    OPCODE_NAMES,
    _apply_mask_python,
)


def xor_mask(data: bytes, key: bytes) -> bytes:
    """The RFC 6455 §5.3 transform, the slow obvious way."""
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(data))


def parse_ws_frame(data: bytes, *, mask: bool) -> WsFrame:
    """Parse one frame with websockets' parser (``mask``: the frame must be masked)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = WsFrame.parse(reader.read_exact, mask=mask, max_size=None)
    try:
        next(parser)
    except StopIteration as stop:
        frame = stop.value
    else:  # pragma: no cover - the whole frame was fed
        raise AssertionError("incomplete frame")
    assert reader.buffer == b"", "trailing bytes after the frame"
    return frame


# ----------------------------------------------------------------------------- constants


def test_opcodes_have_rfc_values() -> None:
    assert [int(op) for op in Opcode] == [0x0, 0x1, 0x2, 0x8, 0x9, 0xA]
    assert {0x0, 0x1, 0x2} == DATA_OPCODES
    assert {0x8, 0x9, 0xA} == CONTROL_OPCODES
    assert OPCODE_NAMES == {0: "CONT", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}


# ------------------------------------------------------------------------------- masking


def test_apply_mask_rfc_example() -> None:
    # RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
    key = bytes.fromhex("37fa213d")
    assert apply_mask(b"Hello", key) == bytes.fromhex("7f9f4d5158")
    assert apply_mask(bytes.fromhex("7f9f4d5158"), key) == b"Hello"


@pytest.mark.parametrize("implementation", [apply_mask, _apply_mask_python])
@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 7, 8, 9, 125, 1000, 65537])
def test_apply_mask_matches_bytewise_xor(implementation, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    key = b"\x01\x80\xfe\x7f"
    masked = implementation(data, key)
    assert masked == xor_mask(data, key)
    assert implementation(masked, key) == data


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_apply_mask_accepts_bytes_like(kind) -> None:
    key = b"abcd"
    assert apply_mask(kind(b"\x00\x00\x00\x00\x00"), key) == b"abcda"


# -------------------------------------------------------------------------- build_frame


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x82\x00"),
        (1, b"\x82\x01"),
        (125, b"\x82\x7d"),
        (126, b"\x82\x7e\x00\x7e"),
        (65535, b"\x82\x7e\xff\xff"),
        (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (70000, b"\x82\x7f" + struct.pack("!Q", 70000)),
    ],
)
def test_build_frame_length_encodings(size: int, header: bytes) -> None:
    # RFC 6455 §5.2: 7-bit lengths up to 125, 16-bit up to 65535, 64-bit beyond.
    payload = b"\xaa" * size
    assert build_frame(0x2, payload) == header + payload


@pytest.mark.parametrize(
    ("opcode", "fin", "rsv", "first"),
    [
        (0x1, True, 0, 0x81),
        (0x1, False, 0, 0x01),
        (0x0, False, 0, 0x00),
        (0x0, True, 0, 0x80),
        (0x2, True, 0x40, 0xC2),
        (0x1, False, 0x70, 0x71),
        (0x8, True, 0, 0x88),
        (0x9, True, 0, 0x89),
        (0xA, True, 0, 0x8A),
    ],
)
def test_build_frame_first_byte(opcode: int, fin: bool, rsv: int, first: int) -> None:
    assert build_frame(opcode, b"ab", fin, rsv) == bytes((first, 2)) + b"ab"


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_build_frame_masked(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    frame = build_frame(0x2, payload, mask=True)
    header = {0: 2, 5: 2, 125: 2, 126: 4, 65535: 4, 65536: 10}[size]
    assert frame[1] & 0x80, "MASK bit set"
    assert len(frame) == header + 4 + size
    key = frame[header : header + 4]
    assert xor_mask(frame[header + 4 :], key) == payload


def test_build_frame_fresh_mask_key_per_frame() -> None:
    # RFC 6455 §5.3: the key must be unpredictable: a new one for every frame.
    keys = {build_frame(0x1, b"same", mask=True)[2:6] for _ in range(32)}
    assert len(keys) > 1


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_build_frame_accepts_bytes_like(kind) -> None:
    assert build_frame(0x2, kind(b"xyz")) == b"\x82\x03xyz"
    frame = build_frame(0x2, kind(b"xyz"), mask=True)
    assert xor_mask(frame[6:], frame[2:6]) == b"xyz"


# ------------------------------------------------------------------------------- closing


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
)
def test_registered_close_codes_are_valid(code: int) -> None:
    assert is_valid_close_code(code)


@pytest.mark.parametrize("code", [3000, 3999, 4000, 4999])
def test_application_close_codes_are_valid(code: int) -> None:
    assert is_valid_close_code(code)


@pytest.mark.parametrize(
    "code", [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_reserved_close_codes_are_invalid(code: int) -> None:
    # RFC 6455 §7.4: 0-999 unused, 1004-1006 and 1015 reserved, 1016-2999 for future RFCs.
    assert not is_valid_close_code(code)


def test_close_valid_code_ranges_exhaustively() -> None:
    valid = {code for code in range(65536) if is_valid_close_code(code)}
    expected = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))
    assert valid == expected


def test_close_codes_enum_and_ok_codes() -> None:
    assert CloseCode.NORMAL_CLOSURE == 1000
    assert CloseCode.MESSAGE_TOO_BIG == 1009
    assert CloseCode.TLS_HANDSHAKE == 1015
    assert {1000, 1001, 1005} == OK_CLOSE_CODES


def test_close_parse() -> None:
    assert Close.parse(b"") == Close(1005, "")
    assert Close.parse(b"\x03\xe8") == Close(1000, "")
    assert Close.parse(b"\x03\xe9bye") == Close(1001, "bye")
    assert Close.parse(b"\x0f\xa0caf\xc3\xa9") == Close(4000, "café")


def test_close_parse_one_byte_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="1-byte"):
        Close.parse(b"\x03")


def test_close_parse_invalid_code() -> None:
    with pytest.raises(ProtocolError, match="invalid close code 1005"):
        Close.parse(b"\x03\xed")


def test_close_parse_invalid_utf8_reason() -> None:
    with pytest.raises(UnicodeDecodeError):
        Close.parse(b"\x03\xe8\xff")


def test_close_serialize() -> None:
    assert Close(1000, "").serialize() == b"\x03\xe8"
    assert Close(1001, "bye").serialize() == b"\x03\xe9bye"
    assert Close(4999, "é").serialize() == b"\x13\x87\xc3\xa9"
    assert Close(1005, "ignored").serialize() == b""


@pytest.mark.parametrize(
    ("close", "text"),
    [
        (Close(1000, ""), "1000 (OK)"),
        (Close(1001, "bye"), "1001 (going away) bye"),
        (Close(1005), "1005 (no status received [internal])"),
        (Close(1011, "oops"), "1011 (unexpected error) oops"),
        (Close(3000), "3000 (registered)"),
        (Close(4001, "x"), "4001 (private use) x"),
        (Close(2000), "2000 (unknown)"),
    ],
)
def test_close_str(close: Close, text: str) -> None:
    assert str(close) == text


# --------------------------------------------------- cross-check with the websockets library


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
@pytest.mark.parametrize("opcode", [0x1, 0x2])
def test_websockets_client_frames_parse_in_our_server(size: int, opcode: int) -> None:
    # Text: 1- and 2-byte characters mixed; binary: every byte value.
    payload = ("aé" * size)[:size].encode() if opcode == 0x1 else (bytes(range(256)) * 257)[:size]
    data = WsFrame(WsOpcode(opcode), payload).serialize(mask=True)
    server = Connection(Role.SERVER, max_size=None)
    expected = payload.decode() if opcode == 0x1 else payload
    assert server.receive_data(data) == [expected]


@pytest.mark.parametrize("size", [0, 3, 125, 126, 65535, 65536])
def test_websockets_server_frames_parse_in_our_client(size: int) -> None:
    payload = bytes(i % 256 for i in range(size))
    data = WsFrame(WsOpcode.BINARY, payload).serialize(mask=False)
    client = Connection(Role.CLIENT, max_size=None)
    assert client.receive_data(data) == [payload]


def test_websockets_fragments_and_control_frames_parse_in_our_engine() -> None:
    data = b"".join(
        [
            WsFrame(WsOpcode.TEXT, b"caf", fin=False).serialize(mask=True),
            WsFrame(WsOpcode.PING, b"p").serialize(mask=True),
            WsFrame(WsOpcode.CONT, b"\xc3", fin=False).serialize(mask=True),
            WsFrame(WsOpcode.CONT, b"\xa9!", fin=True).serialize(mask=True),
            WsFrame(WsOpcode.PONG, b"q").serialize(mask=True),
            WsFrame(WsOpcode.CLOSE, b"\x03\xe8done").serialize(mask=True),
        ]
    )
    server = Connection(Role.SERVER)
    events = server.receive_data(data)
    assert [type(e) for e in events] == [PingReceived, str, PongReceived, CloseReceived]
    assert events[0].data == b"p"
    assert events[1] == "café!"
    assert events[2].data == b"q"
    assert events[3].close == Close(1000, "done")
    # The pong and the close echo, unmasked from the server: websockets parses them.
    pong, echo = server.data_to_send()
    assert parse_ws_frame(pong, mask=False) == WsFrame(WsOpcode.PONG, b"p")
    assert parse_ws_frame(echo, mask=False) == WsFrame(WsOpcode.CLOSE, b"\x03\xe8done")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
def test_our_client_frames_parse_in_websockets(size: int) -> None:
    client = Connection(Role.CLIENT, max_size=None)
    payload = bytes(i % 256 for i in range(size))
    frame = parse_ws_frame(client.send_binary(payload), mask=True)
    assert frame == WsFrame(WsOpcode.BINARY, payload)
    text = ("ü" * size)[:size]
    frame = parse_ws_frame(client.send_text(text), mask=True)
    assert frame == WsFrame(WsOpcode.TEXT, text.encode())


@pytest.mark.parametrize("size", [0, 125, 126, 65536])
def test_our_server_frames_parse_in_websockets(size: int) -> None:
    server = Connection(Role.SERVER, max_size=None)
    payload = b"\x00\xff" * (size // 2)
    assert parse_ws_frame(server.send_binary(payload), mask=False) == WsFrame(
        WsOpcode.BINARY, payload
    )


def test_our_fragments_and_control_frames_parse_in_websockets() -> None:
    client = Connection(Role.CLIENT)
    frames = [
        client.send_text("ab", fin=False),
        client.send_ping(b"hi"),
        client.send_continuation("cd", fin=False),
        client.send_pong(b"ho"),
        client.send_continuation(b"ef", fin=True),
        client.send_close(1001, "later"),
    ]
    parsed = [parse_ws_frame(frame, mask=True) for frame in frames]
    assert parsed == [
        WsFrame(WsOpcode.TEXT, b"ab", fin=False),
        WsFrame(WsOpcode.PING, b"hi"),
        WsFrame(WsOpcode.CONT, b"cd", fin=False),
        WsFrame(WsOpcode.PONG, b"ho"),
        WsFrame(WsOpcode.CONT, b"ef", fin=True),
        WsFrame(WsOpcode.CLOSE, b"\x03\xe9later"),
    ]


def test_invalid_frames_rejected_by_both_implementations() -> None:
    # An unmasked frame sent to a server: websockets and our engine both call it a 1002.
    data = WsFrame(WsOpcode.TEXT, b"x").serialize(mask=False)
    with pytest.raises(Exception, match="incorrect masking"):
        parse_ws_frame(data, mask=True)
    [failed] = Connection(Role.SERVER).receive_data(data)
    assert isinstance(failed, ConnectionFailed)
    assert failed.close == Close(1002, "incorrect masking")
