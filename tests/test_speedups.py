"""The C mask speedup and its pure-Python fallback give the same bytes as the RFC's loop."""

from __future__ import annotations

import itertools
import os

import pytest
from helpers_env import unavailable
from hypothesis import given
from hypothesis import strategies as st

from asgiws.protocol import frames

IMPLEMENTATIONS = [pytest.param(frames._apply_mask_python, id="python")]
if frames._apply_mask_c is not None:
    IMPLEMENTATIONS.append(pytest.param(frames._apply_mask_c, id="c"))
elif os.environ.get("CI") == "true":
    raise RuntimeError("the C speedup was not built in CI: is a compiler missing?")


def reference_mask(data: bytes, mask: bytes) -> bytes:
    # RFC 6455 §5.3: octet i of the output is octet i of the input XOR octet i MOD 4 of the key.
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))


@pytest.mark.parametrize("apply_mask", IMPLEMENTATIONS)
@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 125, 126, 65536, 65539])
def test_mask_matches_rfc(apply_mask, size: int) -> None:
    data = os.urandom(size)
    mask = os.urandom(4)
    assert apply_mask(data, mask) == reference_mask(data, mask)


@pytest.mark.parametrize("apply_mask", IMPLEMENTATIONS)
@given(data=st.binary(max_size=300), mask=st.binary(min_size=4, max_size=4))
def test_mask_is_an_involution(apply_mask, data: bytes, mask: bytes) -> None:
    masked = apply_mask(data, mask)
    assert masked == reference_mask(data, mask)
    assert apply_mask(masked, mask) == data


@pytest.mark.parametrize("apply_mask", IMPLEMENTATIONS)
def test_mask_accepts_buffers(apply_mask) -> None:
    data = os.urandom(100)
    mask = os.urandom(4)
    expected = reference_mask(data, mask)
    assert apply_mask(bytearray(data), mask) == expected
    assert apply_mask(memoryview(data), mask) == expected
    assert apply_mask(memoryview(bytearray(b"xx" + data))[2:], bytes(mask)) == expected


def test_c_mask_rejects_a_bad_key() -> None:
    if frames._apply_mask_c is None:
        unavailable("the C speedup was not built")
    with pytest.raises(ValueError):
        frames._apply_mask_c(b"data", b"abc")


UNMASK_AT = [pytest.param(frames._unmask_at_python, id="python")]
if frames._unmask_at_c is not None:
    UNMASK_AT.append(pytest.param(frames._unmask_at_c, id="c"))


@pytest.mark.parametrize("unmask_at", UNMASK_AT)
@given(
    before=st.binary(max_size=8),
    mask=st.binary(min_size=4, max_size=4),
    payload=st.binary(max_size=300),
    after=st.binary(max_size=8),
    kind=st.sampled_from([bytes, bytearray, memoryview]),
)
def test_unmask_at_unmasks_the_payload_after_its_key(
    unmask_at, before: bytes, mask: bytes, payload: bytes, after: bytes, kind: type
) -> None:
    data = kind(before + mask + payload + after)
    start = len(before) + 4
    assert unmask_at(data, start, start + len(payload)) == reference_mask(payload, mask)


@pytest.mark.parametrize("unmask_at", UNMASK_AT)
def test_unmask_at_large_payload(unmask_at) -> None:
    data = os.urandom(4 + 200_000)
    assert unmask_at(data, 4, len(data)) == reference_mask(data[4:], data[:4])


@pytest.mark.parametrize("unmask_at", UNMASK_AT)
@pytest.mark.parametrize("start, end", [(3, 5), (4, 3), (4, 11)])
def test_unmask_at_rejects_bad_bounds(unmask_at, start: int, end: int) -> None:
    with pytest.raises(ValueError):
        unmask_at(b"k" * 10, start, end)


UNMASK_INTO = [
    pytest.param(frames._payload_buffer_python, frames._unmask_into_python, bytes, id="python")
]
if frames._unmask_into_c is not None:
    UNMASK_INTO.append(
        pytest.param(frames._payload_buffer_c, frames._unmask_into_c, frames._same_bytes, id="c")
    )


@pytest.mark.parametrize("payload_buffer, unmask_into, payload_bytes", UNMASK_INTO)
@given(
    payload=st.binary(max_size=400),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    masked=st.booleans(),
    mutable=st.booleans(),
    pad=st.integers(min_value=0, max_value=9),
)
def test_unmask_into_read_by_read_is_the_whole_payload_unmasked(
    payload_buffer,
    unmask_into,
    payload_bytes,
    payload: bytes,
    cuts: list[int],
    masked: bool,
    mutable: bool,
    pad: int,
) -> None:
    # The payload arrives in reads cut anywhere, each one with ``pad`` unrelated bytes around it.
    key = os.urandom(4) if masked else None
    wire = reference_mask(payload, key) if key else payload
    edges = sorted({0, len(wire), *(c for c in cuts if c < len(wire))})
    target = payload_buffer(len(payload))
    for a, b in itertools.pairwise(edges):
        read = b"x" * pad + wire[a:b] + b"y" * pad
        unmask_into(target, a, bytearray(read) if mutable else read, pad, pad + b - a, key)
    message = payload_bytes(target)
    assert type(message) is bytes
    assert message == payload


@pytest.mark.parametrize("payload_buffer, unmask_into, payload_bytes", UNMASK_INTO)
def test_unmask_into_large_and_bad_bounds(payload_buffer, unmask_into, payload_bytes) -> None:
    data = os.urandom(300_000)
    key = os.urandom(4)
    target = payload_buffer(299_000)
    unmask_into(target, 0, data, 1000, 101_001, key)
    unmask_into(target, 100_001, data, 101_001, 300_000, key)
    assert payload_bytes(target) == reference_mask(data[1000:], key)
    for offset, start, end in [(0, -1, 10), (0, 10, 5), (0, 0, 300_001), (298_995, 0, 10)]:
        with pytest.raises(ValueError):
            unmask_into(target, offset, data, start, end, key)
    with pytest.raises(ValueError):
        unmask_into(target, 0, data, 0, 10, b"abc")
