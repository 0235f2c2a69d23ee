"""The load generator's WebSocket client: a raw ``asyncio.Protocol`` that costs as little as it can.

- Frames it sends are built and masked once, ahead of time (the mask key is fixed per run: the
  server still has to unmask every byte, and it cannot know the key).
- Frames it receives are parsed by a streaming parser that copies nothing but headers (and
  payloads of control frames, or of data frames when ``capture`` is set): a 1 MiB echo costs a
  few length subtractions, not a megabyte of copying.
- It answers pings (servers' keepalive) and records the close handshake.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import zlib
from collections.abc import Callable
from typing import cast

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MASK = os.urandom(4)
KEY = base64.b64encode(os.urandom(16))
ACCEPT = base64.b64encode(hashlib.sha1(KEY + GUID).digest())
DEFLATE_OFFER = b"permessage-deflate; client_max_window_bits"


def masked_frame(opcode: int, payload: bytes, *, rsv1: bool = False, fin: bool = True) -> bytes:
    """A complete client frame (RFC 6455 §5.2), masked with the run's key (§5.3)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 65536:
        header = bytes((first, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((first, 0x80 | 127)) + length.to_bytes(8, "big")
    if not length:
        return header + MASK
    key = (MASK * ((length >> 2) + 1))[:length]
    body = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        length, "little"
    )
    return header + MASK + body


CLOSE_FRAME = masked_frame(0x8, (1000).to_bytes(2, "big"))


def upgrade_request(port: int, path: str = "/", *, deflate: bool = False) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1".encode(),
        f"Host: 127.0.0.1:{port}".encode(),
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + KEY,
        b"Sec-WebSocket-Version: 13",
    ]
    if deflate:
        lines.append(b"Sec-WebSocket-Extensions: " + DEFLATE_OFFER)
    return b"\r\n".join(lines) + b"\r\n\r\n"


class Deflater:
    """Client side of permessage-deflate (RFC 7692 §7.2.1) for the frames the loadgen sends."""

    def __init__(self, no_context_takeover: bool) -> None:
        self.no_context_takeover = no_context_takeover
        self.compressor = self.new()

    @staticmethod
    def new() -> zlib._Compress:
        # A 512-byte window fits under any client_max_window_bits a server may ask for.
        return zlib.compressobj(6, zlib.DEFLATED, -9, 8)

    def frame(self, opcode: int, payload: bytes) -> bytes:
        if self.no_context_takeover:
            self.compressor = self.new()
        data = self.compressor.compress(payload) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        if data.endswith(b"\x00\x00\xff\xff"):
            data = data[:-4]
        return masked_frame(opcode, data, rsv1=True)


# One receive buffer for every client of the process: reads land in it (``recv_into``), are
# parsed at once, and only headers and captured payloads are copied out. No bytes object is
# allocated per read, and 5,000 clients do not each hold a buffer.
READ_BUFFER = memoryview(bytearray(256 * 1024))

Data = bytes | memoryview


class Client(asyncio.BufferedProtocol):
    """One connection. ``handshake`` resolves on 101; ``closed`` when TCP is gone."""

    def __init__(self, request: bytes, *, capture: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.capture = capture
        self.handshake: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.upgraded = False
        self.deflate = False
        self.no_context_takeover = False
        self.close_received = False
        self.close_sent = False
        self.messages = 0
        self.last_payload = b""
        # What to do when a whole data message has arrived (ping-pong sends the next one).
        self.on_message: Callable[[Client], None] | None = None
        # Streaming parser state.
        self.partial = b""  # an incomplete frame header
        self.remaining = 0  # payload bytes still to come for the current frame
        self.opcode = 0
        self.fin = False
        self.payload: list[bytes] | None = None
        # The client's compressor when permessage-deflate was negotiated and is used.
        self.deflater: Deflater | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError("connection lost before 101"))
        if not self.closed.done():
            self.closed.set_result(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(READ_BUFFER[:nbytes])

    def data_received(self, data: Data) -> None:
        if self.upgraded:
            self.frames_received(data)
        else:
            self.head_received(data)

    # Opening handshake

    def head_received(self, data: Data) -> None:
        head = self.head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            self.head = head
            return
        self.head = b""
        status, _, rest = head[:end].partition(b"\r\n")
        headers = rest.lower()
        if not status.startswith(b"HTTP/1.1 101"):
            self.fail(f"expected 101, got {status.decode(errors='replace')!r}")
            return
        if ACCEPT.lower() not in headers:
            self.fail("wrong or missing Sec-WebSocket-Accept")
            return
        self.deflate = b"permessage-deflate" in headers
        self.no_context_takeover = b"client_no_context_takeover" in headers
        self.upgraded = True
        self.handshake.set_result(None)
        if end + 4 < len(head):
            self.frames_received(head[end + 4 :])

    def fail(self, reason: str) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.abort()

    # Frames

    def frames_received(self, data: Data) -> None:
        if self.partial:
            data = self.partial + data
            self.partial = b""
        position = 0
        size = len(data)
        while position < size:
            if self.remaining:
                take = min(self.remaining, size - position)
                if self.payload is not None:
                    self.payload.append(bytes(data[position : position + take]))
                self.remaining -= take
                position += take
                if not self.remaining:
                    self.frame_received()
                continue
            if size - position < 2:
                self.partial = bytes(data[position:])
                return
            first = data[position]
            second = data[position + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                header = 4
            elif length == 127:
                header = 10
            if second & 0x80:  # servers must not mask (RFC 6455 §5.1); skip the key if they do
                header += 4
            if size - position < header:
                self.partial = bytes(data[position:])
                return
            if length == 126:
                length = int.from_bytes(data[position + 2 : position + 4], "big")
            elif length == 127:
                length = int.from_bytes(data[position + 2 : position + 10], "big")
            position += header
            self.opcode = first & 0x0F
            self.fin = bool(first & 0x80)
            self.remaining = length
            if self.opcode >= 0x8 or self.capture:
                self.payload = []
            else:
                self.payload = None
            if not length:
                self.frame_received()

    def frame_received(self) -> None:
        opcode = self.opcode
        if opcode < 0x8:
            if self.fin:
                self.messages += 1
                if self.payload is not None:
                    self.last_payload = b"".join(self.payload)
                if self.on_message is not None:
                    self.on_message(self)
            return
        payload = b"".join(self.payload or ())
        transport = self.transport
        if opcode == 0x9 and transport is not None:  # ping → pong (RFC 6455 §5.5.2)
            transport.write(masked_frame(0xA, payload))
        elif opcode == 0x8 and not self.close_received and transport is not None:
            self.close_received = True
            self.on_message = None
            # Echo the close unless the client started it (then it already sent one).
            if not self.close_sent:
                transport.write(CLOSE_FRAME)

    # Actions

    def send(self, frame: bytes) -> None:
        assert self.transport is not None
        self.transport.write(frame)

    def close(self) -> None:
        """Start the closing handshake (the server is expected to drop TCP first)."""
        self.close_sent = True
        self.on_message = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(CLOSE_FRAME)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def source_address(index: int) -> tuple[str, int]:
    """A source 127.0.x.y for connection ``index``: tens of thousands of short connections
    (scenario d) never run short of 4-tuples, whatever TIME_WAIT holds."""
    return (f"127.0.{1 + (index // 250) % 250}.{1 + index % 250}", 0)


async def open_client(
    port: int,
    index: int,
    request: bytes,
    *,
    capture: bool = False,
    timeout: float = 10.0,
    spread: bool = False,
) -> Client:
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: Client(request, capture=capture),
            "127.0.0.1",
            port,
            local_addr=source_address(index) if spread else None,
        ),
        timeout,
    )
    await asyncio.wait_for(client.handshake, timeout)
    return client


async def open_clients(
    port: int, count: int, request: bytes, *, concurrency: int = 50, timeout: float = 10.0
) -> list[Client]:
    """Open ``count`` upgraded connections, at most ``concurrency`` handshakes at a time."""
    clients: list[Client] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with semaphore:
            clients.append(await open_client(port, index, request, timeout=timeout))

    tasks = [asyncio.ensure_future(one(index)) for index in range(count)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        for client in clients:
            client.abort()
        raise
    return clients


async def close_clients(clients: list[Client], timeout: float = 5.0) -> None:
    """Close handshake on every client, then abort whatever the server left open."""
    for client in clients:
        client.close()
    if clients:
        await asyncio.wait([asyncio.ensure_future(c.closed) for c in clients], timeout=timeout)
    for client in clients:
        if not client.closed.done():
            client.abort()
