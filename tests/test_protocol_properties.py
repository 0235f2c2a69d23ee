"""Properties of the engine that must hold for every input (hypothesis).

* what one engine sends, the engine of the other role reads back as the same messages, however
  the messages are fragmented;
* how the byte stream is cut into ``receive_data`` calls never changes the events or the bytes
  the engine writes back, for valid streams (pings between fragments, a final close) and for
  arbitrary garbage alike;
* invalid UTF-8 fails the connection with 1007 on the fragment holding the first bad byte,
  as judged by an independent RFC 3629 validator;
* frames cross between our engine and the ``websockets`` library in both directions.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.frames import Opcode as WsOpcode
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side as WsSide

from asgiws.protocol import (
    Close,
    CloseReceived,
    Connection,
    ConnectionFailed,
    PingReceived,
    PongReceived,
    Role,
    frames,
)

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEY = b"\x9a\x01\xfe\x42"


def other(role: Role) -> Role:
    return Role.CLIENT if role is Role.SERVER else Role.SERVER


def raw_frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool) -> bytes:
    """One frame built by hand (RFC 6455 §5.2), masked with a fixed key when ``masked``."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        header = bytes((first, bit | n))
    elif n < 65536:
        header = bytes((first, bit | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((first, bit | 127)) + n.to_bytes(8, "big")
    if not masked:
        return header + payload
    return header + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))


def normalize(events: list) -> list:
    """Events as comparable values."""
    result = []
    for event in events:
        if isinstance(event, (str, bytes)):
            result.append((type(event).__name__, event))
        elif isinstance(event, (PingReceived, PongReceived)):
            result.append((type(event).__name__, event.data))
        elif isinstance(event, CloseReceived):
            result.append(("close", event.close))
        else:
            assert isinstance(event, ConnectionFailed)
            result.append(("failed", event.close, type(event.error).__name__))
    return result


def unmask_frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """``(first byte, length, payload)`` of each frame, with any masking undone."""
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
        if second & 0x80:
            key = data[pos : pos + 4]
            pos += 4
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[pos : pos + n]))
        else:
            payload = data[pos : pos + n]
        pos += n
        frames.append((first, n, payload))
    return frames


# ---------------------------------------------------------------------------- strategies

roles = st.sampled_from([Role.SERVER, Role.CLIENT])
messages = st.one_of(st.text(max_size=300), st.binary(max_size=300))


@st.composite
def fragmented(draw: st.DrawFn, message: str | bytes) -> list[bytes]:
    """Cut a message's bytes into 1 or more fragments (empty ones allowed)."""
    data = message.encode() if isinstance(message, str) else message
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=5)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """Cut a byte stream into chunks at random places."""
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=20))))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def valid_streams(draw: st.DrawFn, masked: bool) -> tuple[bytes, list]:
    """A valid stream from a peer: fragmented messages, control frames between fragments,
    often a final close; and the events it must produce."""
    data = []
    expected: list = []
    for message in draw(st.lists(messages, max_size=6)):
        parts = draw(fragmented(message))
        opcode = 0x1 if isinstance(message, str) else 0x2
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            data.append(raw_frame(opcode if i == 0 else 0x0, part, fin=last, masked=masked))
            if last:
                expected.append((type(message).__name__, message))
            for control in draw(
                st.lists(
                    st.tuples(st.sampled_from([0x9, 0xA]), st.binary(max_size=125)), max_size=2
                )
            ):
                data.append(raw_frame(control[0], control[1], masked=masked))
                name = "PingReceived" if control[0] == 0x9 else "PongReceived"
                expected.append((name, control[1]))
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1011, 3000, 4999]))
        reason = draw(st.text(max_size=20))
        data.append(raw_frame(0x8, code.to_bytes(2, "big") + reason.encode(), masked=masked))
        expected.append(("close", Close(code, reason)))
        # Everything after the close is ignored.
        data.append(raw_frame(0x1, b"ignored", masked=masked))
    return b"".join(data), expected


# ------------------------------------------------------------------------------ round trip


@PROPERTY
@given(role=roles, data=st.data(), batch=st.lists(messages, min_size=1, max_size=8))
def test_messages_round_trip_between_roles(role: Role, data: st.DataObject, batch: list) -> None:
    sender = Connection(role)
    receiver = Connection(other(role), max_size=None)
    wire = []
    for message in batch:
        parts = data.draw(fragmented(message))
        send_first = sender.send_text if isinstance(message, str) else sender.send_binary
        if len(parts) == 1:
            wire.append(send_first(parts[0]))
        else:
            wire.append(send_first(parts[0], fin=False))
            for i, part in enumerate(parts[1:], start=2):
                wire.append(sender.send_continuation(part, fin=i == len(parts)))
    wire.append(sender.send_close(1000, "done"))
    events = receiver.receive_data(b"".join(wire))
    assert normalize(events) == [(type(m).__name__, m) for m in batch] + [
        ("close", Close(1000, "done"))
    ]
    # The echo completes the handshake on the sender's side.
    [echo] = receiver.data_to_send()
    [closed] = sender.receive_data(echo)
    assert isinstance(closed, CloseReceived) and closed.close == Close(1000, "done")
    assert sender.close_handshake_done and receiver.close_handshake_done


# -------------------------------------------------------------------------------- chunking


def feed(role: Role, chunks: list[bytes], **kwargs) -> tuple[list, list]:
    engine = Connection(role, **kwargs)
    events: list = []
    written: list = []
    for chunk in chunks:
        events += engine.receive_data(chunk)
        written += unmask_frames(b"".join(engine.data_to_send()))
    return normalize(events), written


@PROPERTY
@given(role=roles, data=st.data())
def test_chunking_of_a_valid_stream_does_not_matter(role: Role, data: st.DataObject) -> None:
    stream, expected = data.draw(valid_streams(masked=role is Role.SERVER))
    at_once = feed(role, [stream])
    assert at_once[0] == expected
    chunks = data.draw(chunked(stream))
    assert feed(role, chunks) == at_once
    if len(stream) <= 2000:  # one byte at a time: every header cut at every place
        assert feed(role, [bytes([b]) for b in stream]) == at_once


@PROPERTY
@given(role=roles, data=st.data(), garbage=st.binary(max_size=200))
def test_chunking_of_any_stream_does_not_matter(
    role: Role, data: st.DataObject, garbage: bytes
) -> None:
    # A valid prefix then arbitrary bytes: the same events and answers, however cut.
    stream, _ = data.draw(valid_streams(masked=role is Role.SERVER))
    stream += garbage
    max_size = data.draw(st.sampled_from([None, 50, 2**20]))
    at_once = feed(role, [stream], max_size=max_size)
    chunks = data.draw(chunked(stream))
    assert feed(role, chunks, max_size=max_size) == at_once


# ----------------------------------------------------------------------------------- UTF-8


def first_invalid_utf8(data: bytes) -> int | None:
    """Index of the first byte that no valid UTF-8 text can have there (RFC 3629 §4)."""
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            i += 1
            continue
        if 0xC2 <= b <= 0xDF:
            ranges = [(0x80, 0xBF)]
        elif b == 0xE0:
            ranges = [(0xA0, 0xBF), (0x80, 0xBF)]
        elif 0xE1 <= b <= 0xEC or 0xEE <= b <= 0xEF:
            ranges = [(0x80, 0xBF)] * 2
        elif b == 0xED:
            ranges = [(0x80, 0x9F), (0x80, 0xBF)]
        elif b == 0xF0:
            ranges = [(0x90, 0xBF), (0x80, 0xBF), (0x80, 0xBF)]
        elif 0xF1 <= b <= 0xF3:
            ranges = [(0x80, 0xBF)] * 3
        elif b == 0xF4:
            ranges = [(0x80, 0x8F), (0x80, 0xBF), (0x80, 0xBF)]
        else:
            return i
        i += 1
        for low, high in ranges:
            if i == n:
                return None  # a valid prefix, cut short
            if not low <= data[i] <= high:
                return i
            i += 1
    return None


utf8ish = st.lists(
    st.one_of(
        st.text(max_size=3).map(str.encode),
        st.binary(max_size=2),
        st.sampled_from([b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x9f\xbf"]),
    ),
    max_size=12,
).map(b"".join)


@PROPERTY
@given(role=roles, data=st.data(), payload=utf8ish)
def test_utf8_fails_fast_on_the_fragment_with_the_first_bad_byte(
    role: Role, data: st.DataObject, payload: bytes
) -> None:
    parts = data.draw(fragmented(payload))
    masked = role is Role.SERVER
    engine = Connection(role)
    bad = first_invalid_utf8(payload)
    end = 0
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        end += len(part)
        events = engine.receive_data(
            raw_frame(0x1 if i == 0 else 0x0, part, fin=last, masked=masked)
        )
        if bad is not None and bad < end:
            # RFC 6455 §8.1: fail as soon as the invalid byte is seen.
            assert len(events) == 1 and isinstance(events[0], ConnectionFailed)
            assert events[0].close.code == 1007
            return
        if not last:
            assert events == []
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        # Valid so far but cut short at the end of the message.
        assert bad is None
        assert len(events) == 1 and isinstance(events[0], ConnectionFailed)
        assert events[0].close.code == 1007
    else:
        assert events == [text]


def test_utf8_validator_agrees_with_python_on_complete_text() -> None:
    # Sanity check of the test's own validator.
    for sample in [b"", b"abc", "é€😀".encode(), b"\xed\x9f\xbf", b"\xf4\x8f\xbf\xbf"]:
        assert first_invalid_utf8(sample) is None
    assert first_invalid_utf8(b"a\xed\xa0\x80") == 2
    assert first_invalid_utf8(b"\xf4\x90") == 1
    assert first_invalid_utf8(b"\xc1") == 0
    assert first_invalid_utf8(b"\xe2\x82") is None


# ------------------------------------------------------------------ websockets interplay


@PROPERTY
@given(data=st.data(), batch=st.lists(messages, min_size=1, max_size=5))
def test_websockets_client_messages_read_by_our_server(data: st.DataObject, batch: list) -> None:
    theirs = WsProtocol(WsSide.CLIENT)
    for message in batch:
        parts = data.draw(fragmented(message))
        if isinstance(message, str):
            theirs.send_text(parts[0], fin=len(parts) == 1)
        else:
            theirs.send_binary(parts[0], fin=len(parts) == 1)
        for i, part in enumerate(parts[1:], start=2):
            theirs.send_continuation(part, fin=i == len(parts))
    ours = Connection(Role.SERVER)
    wire = b"".join(theirs.data_to_send())
    assert normalize(ours.receive_data(wire)) == [(type(m).__name__, m) for m in batch]


@PROPERTY
@given(data=st.data(), batch=st.lists(messages, min_size=1, max_size=5))
def test_our_client_messages_read_by_websockets(data: st.DataObject, batch: list) -> None:
    ours = Connection(Role.CLIENT)
    wire = []
    for message in batch:
        parts = data.draw(fragmented(message))
        send_first = ours.send_text if isinstance(message, str) else ours.send_binary
        wire.append(send_first(parts[0], fin=len(parts) == 1))
        for i, part in enumerate(parts[1:], start=2):
            wire.append(ours.send_continuation(part, fin=i == len(parts)))
    theirs = WsProtocol(WsSide.SERVER, max_size=None)
    theirs.receive_data(b"".join(wire))
    frames = theirs.events_received()
    # Reassemble websockets' frames into messages.
    received: list = []
    buffer = b""
    is_text = False
    for frame in frames:
        if frame.opcode is not WsOpcode.CONT:
            is_text = frame.opcode is WsOpcode.TEXT
            buffer = b""
        buffer += bytes(frame.data)
        if frame.fin:
            received.append(buffer.decode() if is_text else buffer)
    assert received == batch
    assert theirs.close_rcvd is None and theirs.parser_exc is None


# -- large frames: unmasked read by read into the message, or kept read by read ----------


def python_payload_fallback() -> Any:
    """The engine with the pure-Python fallbacks of the C payload helpers."""
    return mock.patch.multiple(
        "asgiws.protocol.connection",
        payload_buffer=frames._payload_buffer_python,
        unmask_into=frames._unmask_into_python,
        payload_bytes=bytes,
    )


def large_stream(role: Role, sizes: list[int], text: bool) -> tuple[bytes, list]:
    """Frames of these payload sizes from the peer of ``role``, and the messages they carry."""
    masked = role is Role.SERVER
    stream = b""
    messages: list = []
    for index, size in enumerate(sizes):
        payload = bytes((index * 7 + i) % 90 + 32 for i in range(size))
        stream += raw_frame(0x1 if text else 0x2, payload, masked=masked)
        messages.append(payload.decode() if text else payload)
    return stream, messages


@PROPERTY
@given(
    role=st.sampled_from(list(Role)),
    sizes=st.lists(st.sampled_from([3, 125, 70_000, 65_536, 200_000]), min_size=1, max_size=4),
    text=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=600_000), max_size=12),
    fallback=st.booleans(),
)
def test_large_frames_arrive_whole_however_the_reads_fall(
    role: Role, sizes: list[int], text: bool, cuts: list[int], fallback: bool
) -> None:
    stream, messages = large_stream(role, sizes, text)
    engine = Connection(role, max_size=None)
    events: list = []
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    with python_payload_fallback() if fallback else contextlib.nullcontext():
        for start, end in itertools.pairwise(bounds):
            events.extend(engine.receive_data(stream[start:end]))
    assert events == messages
    assert all(
        type(event) is type(message) for event, message in zip(events, messages, strict=True)
    )
    assert engine._chunks is None and engine._payload is None and not engine._buffer


def test_large_text_frame_with_invalid_utf8_fails_1007() -> None:
    payload = b"a" * 70_000 + b"\xff"
    stream = raw_frame(0x1, payload, masked=True) + raw_frame(0x1, b"after", masked=True)
    engine = Connection(Role.SERVER)
    events = engine.receive_data(stream[:1000]) + engine.receive_data(stream[1000:])
    assert len(events) == 1
    assert isinstance(events[0], ConnectionFailed)
    assert events[0].close.code == 1007


def test_large_fragments_take_the_general_path() -> None:
    first = raw_frame(0x2, b"x" * 70_000, fin=False, masked=True)
    last = raw_frame(0x0, b"y" * 70_000, masked=True)
    stream = first + last
    engine = Connection(Role.SERVER)
    events: list = []
    for start in range(0, len(stream), 30_000):
        events.extend(engine.receive_data(stream[start : start + 30_000]))
    assert events == [b"x" * 70_000 + b"y" * 70_000]


@pytest.mark.parametrize("size", [0, 125, 65_535, 65_536, 200_000])
@pytest.mark.parametrize("text", [True, False])
def test_send_message_parts_are_the_frame(size: int, text: bool) -> None:
    data = "é" * size if text else b"b" * size
    engine = Connection(Role.SERVER)
    whole = engine.send_text(data) if text else engine.send_binary(data)
    assert b"".join(engine.send_message_parts(data)) == whole
    client = Connection(Role.CLIENT)
    frames = b"".join(client.send_message_parts(data))
    assert Connection(Role.SERVER, max_size=None).receive_data(frames) == [data]


def test_a_huge_announced_length_is_not_allocated_before_its_bytes() -> None:
    # max_size=None and a 1 TiB frame header: the engine waits for bytes, holding only those.
    engine = Connection(Role.SERVER, max_size=None)
    header = bytes((0x82, 0xFF)) + (2**40).to_bytes(8, "big") + b"mask"
    assert engine.receive_data(header + b"x" * 100_000) == []
    assert engine._payload is None and engine._chunks is not None


def test_a_large_frame_whose_key_is_split_across_reads() -> None:
    payload = bytes(range(256)) * 300
    stream = raw_frame(0x2, payload, masked=True)
    engine = Connection(Role.SERVER)
    # The first read ends inside the masking key; the next brings the rest.
    assert engine.receive_data(stream[:6]) == []
    assert engine._payload is None
    assert engine.receive_data(stream[6:5000]) == []
    assert engine._payload is not None
    assert engine.receive_data(stream[5000:]) == [payload]
