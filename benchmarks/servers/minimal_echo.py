"""The reference: a minimal WebSocket echo server on uvloop with a raw ``asyncio.Protocol``.

It does the least work a correct-enough echo server can do, so that every other server's figure
can be given as a ratio to it:

- the opening handshake: read until ``\\r\\n\\r\\n``, find ``Sec-WebSocket-Key``, answer 101 with
  ``Sec-WebSocket-Accept`` (no other checks, no extensions);
- frames: parse, unmask, echo each frame unmasked with the same FIN/opcode (so fragmented
  messages are echoed fragment by fragment); ping → pong; close → close and drop the TCP
  connection (the server closes first, RFC 6455 §7.1.1);
- any other request head is answered with a fixed keep-alive ``200 ok`` (scenarios f and g);
- ``--broadcast``: the frame is encoded once and written to every other connection.

Unmasking uses the C loop that websockets ships (``websockets.speedups.apply_mask``) when it is
installed, else (or with ``--unmask int``) one big-integer XOR. The XOR is fast for small frames
(~1.5 µs for 64 B) but costs ~7 ms per MiB, which would cap scenario c at ~150 MB/s, below
websockets' own C path: a ceiling must not be slower than what it measures.

Run: ``python -m benchmarks.servers.minimal_echo --port 8001``
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Callable
from typing import cast

from benchmarks.servers._common import (
    BROADCAST_PAYLOAD,
    BROADCAST_TRIGGER,
    parse_args,
    run,
)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
KEY_HEADER = b"sec-websocket-key:"
TRIGGER = BROADCAST_TRIGGER.encode()
LARGE = 65536  # frames at least this long are unmasked and echoed as they stream in

CLIENTS: set[MinimalEcho] = set()


def frame_header(first_byte: int, length: int) -> bytes:
    """The header of an unmasked server frame (RFC 6455 §5.2)."""
    if length < 126:
        return bytes((first_byte, length))
    if length < 65536:
        return bytes((first_byte, 126)) + length.to_bytes(2, "big")
    return bytes((first_byte, 127)) + length.to_bytes(8, "big")


def int_unmask(payload: bytes | bytearray | memoryview, mask: bytes | bytearray) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` as one big integer (RFC 6455 §5.3)."""
    length = len(payload)
    if not length:
        return b""
    key = (bytes(mask) * ((length >> 2) + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        length, "little"
    )


Unmask = Callable[[bytes | bytearray | memoryview, bytes | bytearray], bytes]


def c_unmask() -> Unmask | None:
    """The C masking loop that websockets ships, when it is installed."""
    try:
        from websockets.speedups import apply_mask
    except ImportError:
        return None
    return cast(Unmask, apply_mask)


unmask: Unmask = int_unmask

BROADCAST_FRAME = frame_header(0x81, len(BROADCAST_PAYLOAD)) + BROADCAST_PAYLOAD.encode()


# One read buffer for every connection: each read lands in it (``recv_into``) and is consumed
# before the next one, so no bytes object is allocated per read (an allocator churning through
# 256 KiB chunks costs more than the echo itself) and idle connections hold no buffer.
READ_BUFFER = memoryview(bytearray(256 * 1024))

Data = bytes | bytearray | memoryview


class MinimalEcho(asyncio.BufferedProtocol):
    """One connection: HTTP until an upgrade, then WebSocket frames."""

    broadcast = False

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.websocket = False
        # A large frame is unmasked chunk by chunk as each read arrives, into ``out``, a buffer
        # kept for the connection (reused while the transport holds none of it), then written
        # whole. No buffer grows read by read, and the allocator does not churn.
        self.remaining = 0
        self.offset = 0
        self.mask = b""
        self.header = b""
        self.out = bytearray()
        self.view = memoryview(self.out)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        CLIENTS.discard(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(READ_BUFFER[:nbytes])

    def data_received(self, data: Data) -> None:
        if self.remaining:
            data = self.payload_received(data)
            if not data:
                return
        if self.websocket:
            self.buffer += data
            if len(self.buffer) >= 2:
                self.frames_received()
        else:
            self.buffer += data
            self.heads_received()

    def heads_received(self) -> None:
        transport = self.transport
        assert transport is not None
        buffer = self.buffer
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            raw = bytes(buffer[:end])
            del buffer[: end + 4]
            start = raw.lower().find(KEY_HEADER)
            if start < 0:
                transport.write(HTTP_OK)
                continue
            start += len(KEY_HEADER)
            stop = raw.find(b"\r\n", start)
            key = raw[start : stop if stop >= 0 else len(raw)].strip()
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.websocket = True
            if self.broadcast:
                CLIENTS.add(self)
            if len(buffer) >= 2:
                self.frames_received()
            return

    def frames_received(self) -> None:
        transport = self.transport
        assert transport is not None
        buffer = self.buffer
        size = len(buffer)
        position = 0
        out: list[bytes] = []
        while size - position >= 2:
            first = buffer[position]
            second = buffer[position + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                header = 4
                if size - position < header:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
            elif length == 127:
                header = 10
                if size - position < header:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
            if second & 0x80:
                header += 4
            end = position + header + length
            if end > size:
                if length >= LARGE and size - position >= header:
                    position = self.large_frame_started(first, second, position, header, length)
                break
            if second & 0x80:
                mask = buffer[end - length - 4 : end - length]
                payload = unmask(buffer[end - length : end], mask)
            else:
                payload = bytes(buffer[position + header : end])
            position = end
            opcode = first & 0x0F
            if opcode == 0x8:  # close: answer with the same code and drop TCP (RFC 6455 §5.5.1)
                out.append(frame_header(0x88, min(length, 2)) + payload[:2])
                transport.writelines(out)
                transport.close()
                self.buffer = bytearray()
                return
            if opcode == 0x9:
                out.append(frame_header(0x8A, length) + payload)
            elif opcode == 0xA:
                pass
            elif self.broadcast and payload == TRIGGER:
                out.append(self.broadcast_once())
            else:
                out.append(frame_header(first & 0x8F, length))
                out.append(payload)
        if position:
            del buffer[:position]
        if out:
            transport.writelines(out)

    def large_frame_started(
        self, first: int, second: int, position: int, header: int, length: int
    ) -> int:
        """Start unmasking a frame too large to buffer; returns the new parse position."""
        buffer = self.buffer
        start = position + header
        transport = self.transport
        assert transport is not None
        self.mask = bytes(buffer[start - 4 : start]) if second & 0x80 else b"\0\0\0\0"
        self.header = frame_header(first & 0x8F, length)
        if len(self.out) < length or transport.get_write_buffer_size():
            self.view.release()
            self.out = bytearray(length)
            self.view = memoryview(self.out)
        self.remaining = length
        self.offset = 0
        self.payload_received(buffer[start:])
        return len(buffer)

    def payload_received(self, data: Data) -> Data:
        """Unmask the next piece of a large frame; returns the bytes past its end."""
        take = min(self.remaining, len(data))
        piece = data if take == len(data) else data[:take]
        offset = self.offset
        shift = offset & 3
        self.view[offset : offset + take] = unmask(piece, self.mask[shift:] + self.mask[:shift])
        self.offset = offset + take
        self.remaining -= take
        if not self.remaining:
            assert self.transport is not None
            self.transport.writelines([self.header, self.view[: self.offset]])
        return data[take:]

    def broadcast_once(self) -> bytes:
        CLIENTS.discard(self)
        start = time.perf_counter_ns()
        for client in CLIENTS:
            transport = client.transport
            if transport is not None:
                transport.write(BROADCAST_FRAME)
        elapsed = str(time.perf_counter_ns() - start).encode()
        return frame_header(0x81, len(elapsed)) + elapsed


async def main() -> None:
    args = parse_args(__doc__ or "", unmask=True)
    MinimalEcho.broadcast = args.broadcast
    global unmask
    if args.unmask == "c":
        unmask = c_unmask() or int_unmask
    loop = asyncio.get_running_loop()
    server = await loop.create_server(MinimalEcho, args.host, args.port, backlog=2048)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    run(main())
