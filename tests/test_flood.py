"""A peer that sends without reading cannot make the server buffer replies without bound."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import asgiws
from asgiws.protocol.frames import build_frame

HOST = "127.0.0.1"


def upgrade_request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def test_ping_flood_from_a_peer_that_never_reads_is_bounded() -> None:
    """Pongs owed to a peer that does not read stop the server from reading more pings."""
    write_limit = 2**14

    async def main() -> None:
        connections: list[asgiws.WebSocketServerProtocol] = []

        async def handler(websocket: asgiws.WebSocketServerProtocol) -> None:
            connections.append(websocket)
            await websocket.wait_closed()

        async with asgiws.serve(
            handler, HOST, 0, compression=None, write_limit=write_limit, ping_interval=None
        ) as server:
            port = server.sockets[0].getsockname()[1]
            loop = asyncio.get_running_loop()
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # read nothing, keep little
            raw.setblocking(False)
            await loop.sock_connect(raw, (HOST, port))
            await loop.sock_sendall(raw, upgrade_request(port))
            for _ in range(200):  # bounded wait for the handshake
                if connections:
                    break
                await asyncio.sleep(0.01)
            assert connections, "handshake did not complete"
            websocket = connections[0]
            # 125-byte pings: each owes a 127-byte pong. Send 8 MiB of them, never reading.
            ping = build_frame(0x9, b"p" * 125, mask=True)
            batch = ping * 512
            sent = 0
            peak = 0
            with_timeout = loop.time() + 20
            while sent < 8 * 2**20 and loop.time() < with_timeout:
                try:
                    await asyncio.wait_for(loop.sock_sendall(raw, batch), 0.5)
                except asyncio.TimeoutError:
                    break  # the server stopped reading: TCP pushes back, as it should
                sent += len(batch)
                peak = max(peak, websocket.transport.get_write_buffer_size())
            peak = max(peak, websocket.transport.get_write_buffer_size())
            if peak >= write_limit:  # the peer owes us reads: the server must have stopped
                assert not websocket.transport.is_reading()
            # Bounded: what one read's worth of pings owes, above the high-water mark.
            assert peak < write_limit + 2**18, peak
            # Kernel socket buffers may absorb the whole flood (they grow to tens of MiB here),
            # so how much the client could send proves nothing; what the server holds does.
            assert sent > 0
            raw.close()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_failed_connection_delivers_its_close_frame_to_a_peer_that_keeps_sending() -> None:
    """After a protocol error the peer still sending must get the 1002 close frame, then EOF.

    Closing a socket with unread input makes the kernel send RST, which can destroy the close
    frame before the peer reads it; the server half-closes and drains the peer's bytes instead.
    """

    async def main() -> None:
        async def handler(websocket: asgiws.WebSocketServerProtocol) -> None:
            await websocket.wait_closed()

        async with asgiws.serve(handler, HOST, 0, compression=None, close_timeout=5) as server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(upgrade_request(port))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 101")
            # A frame with a reserved opcode, then a steady stream the server can't use.
            writer.write(build_frame(0x3, b"bad", mask=True))
            junk = build_frame(0x2, b"j" * 60_000, mask=True)
            for _ in range(60):  # ~3.6 MiB, sent while the server fails the connection
                writer.write(junk)
                await asyncio.wait_for(writer.drain(), 10)
            received = await asyncio.wait_for(reader.read(), 10)  # up to EOF, not reset
            assert received[:1] == b"\x88", received[:20]
            assert int.from_bytes(received[2:4], "big") == 1002
            writer.close()

    asyncio.run(asyncio.wait_for(main(), 60))
