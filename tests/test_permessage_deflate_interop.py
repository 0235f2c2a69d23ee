"""permessage-deflate (RFC 7692) over real loopback sockets, against the ``websockets`` library.

Each parameter combination is negotiated by a real handshake, in all four pairings: websockets
client offers -> asgiws server, websockets client -> asgiws server settings, asgiws client
offers -> websockets server, asgiws client -> websockets server settings; then asgiws <-> asgiws,
the ASGI server (in process and the ``asgiws`` command, ``--ws-per-message-deflate true|false``),
and compression bombs sent by a raw client to a server in its own process.

On every connection: the ``Sec-WebSocket-Extensions`` offer as the server received it, the
response on both ends, both ends' view of the agreement, then messages of 0 B, 1 B, 1 KiB of
JSON-like text, 100 KiB of compressible text, 1 MiB of random bytes, fragmented messages both
ways, and runs of similar messages (context takeover, whose effect asgiws's side measures).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_asgi import asgiws_command, serving, stop, wait_listening
from helpers_deflate import summary
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed as PeerConnectionClosed
from websockets.extensions import permessage_deflate as ws_pmd

import asgiws
from asgiws.protocol.extensions import permessage_deflate as pmd

HOST = "127.0.0.1"
KiB, MiB = 1 << 10, 1 << 20
MAX_SIZE = 4 * MiB  # random data grows a little when "compressed": over 1 MiB on the wire
EXTENSIONS = "Sec-WebSocket-Extensions"
BOOLS = (False, True)
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------- messages


def json_text(index: int, size: int = KiB) -> str:
    """JSON-like text of ``size`` bytes, different for each ``index``."""
    rng = random.Random(index)
    rows = []
    while len(json.dumps(rows)) < size:
        rows.append({"id": len(rows), "name": f"user-{rng.randrange(10**6)}", "ok": rng.random()})
    return json.dumps(rows)[: size - 1] + "]"


def tick(index: int) -> str:
    """A short JSON message (~100 bytes) that repeats itself, as a price feed's do."""
    return json.dumps({"type": "tick", "seq": index, "symbol": "ACME", "bid": 101.25, "ask": 102})


COMPRESSIBLE = ("lorem ipsum dolor sit amet, " * 4000)[: 100 * KiB]
RANDOM = random.Random(7692).randbytes(MiB)
MESSAGES: list[str | bytes] = ["", b"", "x", b"\x00", json_text(0), COMPRESSIBLE, RANDOM]
FRAGMENTED: list[list[str] | list[bytes]] = [
    ["frag", "mented ", "", "text é"],
    [b"\x01" * 100, b"", b"\x02" * 3000, b"\x03"],
    [COMPRESSIBLE[i : i + 7000] for i in range(0, len(COMPRESSIBLE), 7000)],
    [RANDOM[:300_000], RANDOM[300_000:]],
]
RUN = 40  # similar messages in a row


def fragments_of(message: str | bytes, size: int) -> list[Any]:
    return [message[i : i + size] for i in range(0, len(message), size)]


async def echo(ws: Any) -> None:
    """Echo handler for both libraries (same API): large messages go back in fragments."""
    try:
        async for message in ws:
            if len(message) > 64 * KiB:
                await ws.send(fragments_of(message, 50 * KiB))
            else:
                await ws.send(message)
    except (asgiws.ConnectionClosed, PeerConnectionClosed):
        pass


async def exchange(ws: Any) -> None:
    """Messages of every size, fragmented messages, then a run of similar ones, pipelined."""
    for message in MESSAGES:
        await ws.send(message)
        answer = await asyncio.wait_for(ws.recv(), 20)
        assert type(answer) is type(message) and answer == message
    for fragments in FRAGMENTED:
        await ws.send(fragments)
        whole = fragments[0][:0].join(fragments)  # type: ignore[arg-type]
        assert await asyncio.wait_for(ws.recv(), 20) == whole
    for index in range(RUN):
        await ws.send(tick(index))
    for index in range(RUN):
        assert await asyncio.wait_for(ws.recv(), 20) == tick(index)
    for index in range(3):  # and after the run, messages longer than the smaller windows
        await ws.send(json_text(index))
        assert await asyncio.wait_for(ws.recv(), 20) == json_text(index)


class SizeRecorder:
    """Wraps an asgiws extension's ``encode`` to record each compressed message's size."""

    def __init__(self, extension: pmd.PerMessageDeflate) -> None:
        self.extension = extension
        self.sizes: dict[str, list[int]] = {}
        self._pending: list[bytes] = []  # the plain fragments of the message being sent
        self._compressed = 0  # and their compressed size so far
        self._encode = extension.encode
        extension.encode = self.encode  # type: ignore[method-assign]

    def encode(self, opcode: int, payload: bytes, fin: bool) -> tuple[bytes, int]:
        data, rsv = self._encode(opcode, payload, fin)
        if opcode < 0x8:
            self._pending.append(payload)
            self._compressed += len(data)
            if fin:
                plain = b"".join(self._pending).decode(errors="replace")
                self.sizes.setdefault(plain, []).append(self._compressed)
                self._pending.clear()
                self._compressed = 0
        return data, rsv

    def check_context_takeover(self) -> None:
        """With context takeover, a tick that repeats the last one but for its counter costs
        a fraction of the first; without, each costs the same."""
        sizes = [self.sizes[tick(index)][0] for index in range(RUN)]
        if self.extension.local_no_context_takeover:
            assert max(sizes) - min(sizes) <= 2, sizes
        else:
            assert max(sizes[1:]) < sizes[0] // 2, sizes


# ----------------------------------------------------------------------- negotiation oracle


def settings_of(
    snct: bool = False, cnct: bool = False, sbits: int | None = None, cbits: Any = None
) -> dict[str, Any]:
    """A factory's four RFC 7692 settings, by position."""
    return dict(zip(pmd._PARAMETER_NAMES, (snct, cnct, sbits, cbits), strict=True))


DEFAULT_OFFER = settings_of(cbits=True)  # both libraries' and Chromium's


def header(snct: bool, cnct: bool, sbits: int | None, cbits: int | bool | None) -> str:
    """The extension header value both libraries build for these parameters."""
    parts = ["permessage-deflate"]
    parts += ["server_no_context_takeover"] * snct + ["client_no_context_takeover"] * cnct
    parts += [f"server_max_window_bits={sbits}"] * (sbits is not None)
    parts += [f"client_max_window_bits{'' if cbits is True else f'={cbits}'}"] * (cbits is not None)
    return "; ".join(parts)


def agreement(
    server: dict[str, Any], offer: dict[str, Any], *, server_is_websockets: bool = False
) -> tuple[Any, ...] | None:
    """RFC 7692 §7.1 as both servers answer: the response's four parameters, None if declined.

    Written out here, independently of either implementation."""
    snct = offer["server_no_context_takeover"] or server["server_no_context_takeover"]
    cnct = offer["client_no_context_takeover"] or server["client_no_context_takeover"]
    sbits = offer["server_max_window_bits"]
    if server["server_max_window_bits"] is not None:
        sbits = min(sbits or 15, server["server_max_window_bits"])
    cbits = offer["client_max_window_bits"]
    if cbits is True:
        cbits = server["client_max_window_bits"]
    elif cbits is not None and server["client_max_window_bits"] is not None:
        cbits = min(cbits, server["client_max_window_bits"])
    if server_is_websockets and sbits == 8:
        return None  # websockets cannot compress with an 8-bit window: it declines
    return snct, cnct, sbits, cbits


def check_agreement(
    server_view: dict[str, Any],
    client_view: dict[str, Any],
    offer: dict[str, Any],
    expected: tuple[Any, ...] | None,
) -> None:
    """The server received the offer as sent; both ends saw the expected response header and
    agree on what it means (one end's remote parameters are the other's local ones)."""
    assert server_view["offer"] == client_view["offer"] == header(*offer.values())
    assert server_view["response"] == client_view["response"]
    if expected is None:
        assert server_view["response"] is None
        assert server_view["extensions"] == client_view["extensions"] == []
        return
    assert server_view["response"] == header(*expected)
    snct, cnct, sbits, cbits = expected
    assert server_view["extensions"] == [(cnct, snct, cbits or 15, sbits or 15)]
    assert client_view["extensions"] == [(snct, cnct, sbits or 15, cbits or 15)]


def asgiws_view(ws: Any) -> dict[str, Any]:
    return {
        "offer": ws.request_headers.get(EXTENSIONS),
        "response": ws.response_headers.get(EXTENSIONS),
        "extensions": [summary(extension) for extension in ws.extensions],
    }


def peer_view(ws: Any) -> dict[str, Any]:
    return {
        "offer": ws.request.headers.get(EXTENSIONS),
        "response": ws.response.headers.get(EXTENSIONS),
        "extensions": [summary(extension) for extension in ws.protocol.extensions],
    }


def run(main: Callable[[], Awaitable[Any]], timeout: float = 120) -> Any:
    """Run ``main()`` in a fresh event loop, bounded by ``timeout`` seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def ids(table: list[dict[str, Any]]) -> list[str]:
    return [header(*row.values()).removeprefix("permessage-deflate; ") for row in table]


# Client offers: both context-takeover flags with a few windows, then each window alone.
OFFERS = [
    settings_of(snct, cnct, sbits, cbits)
    for snct in BOOLS
    for cnct in BOOLS
    for sbits, cbits in ((None, True), (None, None), (10, 12))
] + [settings_of(sbits=bits, cbits=True) for bits in range(8, 16)]
# websockets cannot offer client_max_window_bits=8 (it compresses with 9 bits at least).
PEER_OFFERS = OFFERS + [settings_of(cbits=bits) for bits in range(9, 16)]
ASGIWS_OFFERS = OFFERS + [settings_of(cbits=bits) for bits in range(8, 16)]
# Server settings, against the default offer (client_max_window_bits without a value).
SETTINGS = [
    settings_of(snct, cnct, sbits, cbits)
    for snct in BOOLS
    for cnct in BOOLS
    for sbits, cbits in ((None, None), (12, 12))
] + [settings_of(sbits=bits) for bits in range(9, 16)]
# websockets fails a response with client_max_window_bits=8 and refuses server_max_window_bits
# =8 in its server settings; asgiws does both (it compresses with 9 bits, see the engine).
ASGIWS_SETTINGS = [settings_of(sbits=8), *SETTINGS]
PEER_SETTINGS = SETTINGS + [settings_of(cbits=bits) for bits in range(8, 16)]


# ------------------------------------------------------------ websockets client, asgiws server


async def asgiws_server_peer_client(
    port: int, server_settings: dict[str, Any], offer: dict[str, Any] | None
) -> None:
    """A websockets client offering ``offer`` (None: its default) exchanges every kind of
    message with an asgiws server whose factory has ``server_settings``."""
    seen: list[tuple[dict[str, Any], SizeRecorder | None]] = []

    async def handler(ws: Any) -> None:
        recorder = SizeRecorder(ws.extensions[0]) if ws.extensions else None
        seen.append((asgiws_view(ws), recorder))
        await echo(ws)

    server_factory = pmd.ServerPerMessageDeflateFactory(**server_settings)
    client_options: dict[str, Any] = {"compression": "deflate"}
    if offer is not None:
        factory = ws_pmd.ClientPerMessageDeflateFactory(**offer)
        client_options = {"compression": None, "extensions": [factory]}
    async with (
        asgiws.serve(handler, HOST, port, extensions=[server_factory], max_size=MAX_SIZE),
        ws_connect(f"ws://{HOST}:{port}/", proxy=None, max_size=MAX_SIZE, **client_options) as ws,
    ):
        await exchange(ws)
        client_view = peer_view(ws)
    [(server_view, recorder)] = seen
    offer = offer or DEFAULT_OFFER
    check_agreement(server_view, client_view, offer, agreement(server_settings, offer))
    assert recorder is not None
    recorder.check_context_takeover()


@pytest.mark.parametrize("offer", PEER_OFFERS, ids=ids(PEER_OFFERS))
def test_websockets_client_offers_to_asgiws_server(port: int, offer: dict[str, Any]) -> None:
    run(lambda: asgiws_server_peer_client(port, settings_of(), offer))


@pytest.mark.parametrize("settings", ASGIWS_SETTINGS, ids=ids(ASGIWS_SETTINGS))
def test_asgiws_server_settings_with_websockets_client(port: int, settings: dict[str, Any]) -> None:
    run(lambda: asgiws_server_peer_client(port, settings, None))


# ------------------------------------------------------------ asgiws client, websockets server


async def peer_server_asgiws_client(
    port: int, server_settings: dict[str, Any], offer: dict[str, Any] | None
) -> None:
    """An asgiws client offering ``offer`` (None: its default) exchanges every kind of message
    with a websockets server whose factory has ``server_settings``."""
    seen: list[dict[str, Any]] = []

    async def handler(ws: Any) -> None:
        seen.append(peer_view(ws))
        await echo(ws)

    server_factory = ws_pmd.ServerPerMessageDeflateFactory(**server_settings)
    client_options: dict[str, Any] = {}  # compression="deflate", the default
    if offer is not None:
        client_options = {"extensions": [pmd.ClientPerMessageDeflateFactory(**offer)]}
    async with (
        ws_serve(
            handler, HOST, port, compression=None, extensions=[server_factory], max_size=MAX_SIZE
        ),
        asgiws.connect(f"ws://{HOST}:{port}/", max_size=MAX_SIZE, **client_options) as ws,
    ):
        recorder = SizeRecorder(ws.extensions[0]) if ws.extensions else None
        await exchange(ws)
        client_view = asgiws_view(ws)
    [server_view] = seen
    offer = offer or DEFAULT_OFFER
    expected = agreement(server_settings, offer, server_is_websockets=True)
    check_agreement(server_view, client_view, offer, expected)
    assert (recorder is None) == (expected is None)
    if recorder is not None:
        recorder.check_context_takeover()


@pytest.mark.parametrize("offer", ASGIWS_OFFERS, ids=ids(ASGIWS_OFFERS))
def test_asgiws_client_offers_to_websockets_server(port: int, offer: dict[str, Any]) -> None:
    run(lambda: peer_server_asgiws_client(port, settings_of(), offer))


@pytest.mark.parametrize("settings", PEER_SETTINGS, ids=ids(PEER_SETTINGS))
def test_websockets_server_settings_with_asgiws_client(port: int, settings: dict[str, Any]) -> None:
    run(lambda: peer_server_asgiws_client(port, settings, None))


def test_defaults_both_ways(port: int) -> None:
    """serve() and connect() compress by default, with 12-bit windows on asgiws's server, as
    websockets's server does."""
    default_response = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"

    async def main() -> None:
        seen: list[dict[str, Any]] = []

        async def handler(ws: Any) -> None:
            seen.append(asgiws_view(ws))
            await echo(ws)

        async with (
            asgiws.serve(handler, HOST, port, max_size=MAX_SIZE),
            ws_connect(f"ws://{HOST}:{port}/", proxy=None, max_size=MAX_SIZE) as ws,
        ):
            await exchange(ws)
            assert ws.response.headers[EXTENSIONS] == default_response
        assert seen[0]["response"] == default_response
        assert seen[0]["extensions"] == [(False, False, 12, 12)]

        async with (
            ws_serve(echo, HOST, port, max_size=MAX_SIZE),
            asgiws.connect(f"ws://{HOST}:{port}/", max_size=MAX_SIZE) as ws,
        ):
            await exchange(ws)
            assert ws.request_headers[EXTENSIONS] == "permessage-deflate; client_max_window_bits"
            assert ws.response_headers[EXTENSIONS] == default_response
            assert [summary(extension) for extension in ws.extensions] == [(False, False, 12, 12)]

    run(main)


def test_compression_none_sends_no_offer_and_accepts_none(port: int) -> None:
    async def main() -> None:
        seen: list[dict[str, Any]] = []

        async def handler(ws: Any) -> None:
            seen.append(asgiws_view(ws))
            await echo(ws)

        async with (
            asgiws.serve(handler, HOST, port, compression=None),
            ws_connect(f"ws://{HOST}:{port}/", proxy=None) as ws,  # offers deflate
        ):
            await ws.send(COMPRESSIBLE)
            assert await ws.recv() == COMPRESSIBLE
            assert EXTENSIONS not in ws.response.headers
        assert seen[0]["offer"] == "permessage-deflate; client_max_window_bits"
        assert seen[0]["response"] is None and seen[0]["extensions"] == []
        async with (
            ws_serve(echo, HOST, port),
            asgiws.connect(f"ws://{HOST}:{port}/", compression=None) as ws,
        ):
            await ws.send(COMPRESSIBLE)
            assert await ws.recv() == COMPRESSIBLE
            assert EXTENSIONS not in ws.request_headers and ws.extensions == []

    run(main)


# ------------------------------------------------------------------------ asgiws <-> asgiws

BOTH_ENDS = [
    (settings_of(), DEFAULT_OFFER, 1.0),
    (settings_of(sbits=12, cbits=12), DEFAULT_OFFER, 0.0),
    (settings_of(True, True, 9, 9), DEFAULT_OFFER, None),
    (settings_of(sbits=8, cbits=8), DEFAULT_OFFER, 0.0),
    (settings_of(), settings_of(False, False, 8, 8), None),
    (settings_of(), settings_of(True, False, 15, 8), 1.0),
    (settings_of(), settings_of(False, True, 11, None), 0.0),
]


@pytest.mark.parametrize(("server_settings", "offer", "idle_interval"), BOTH_ENDS)
def test_asgiws_both_ends(
    port: int, server_settings: dict[str, Any], offer: dict[str, Any], idle_interval: Any
) -> None:
    """idle_interval: 0 hibernates after every message, None never, 1.0 (default) when idle."""

    async def main() -> None:
        seen: list[tuple[dict[str, Any], SizeRecorder]] = []

        async def handler(ws: Any) -> None:
            seen.append((asgiws_view(ws), SizeRecorder(ws.extensions[0])))
            await echo(ws)

        server_factory = pmd.ServerPerMessageDeflateFactory(
            **server_settings, idle_interval=idle_interval
        )
        client_factory = pmd.ClientPerMessageDeflateFactory(**offer, idle_interval=idle_interval)
        async with (
            asgiws.serve(handler, HOST, port, extensions=[server_factory], max_size=MAX_SIZE),
            asgiws.connect(
                f"ws://{HOST}:{port}/", extensions=[client_factory], max_size=MAX_SIZE
            ) as ws,
        ):
            client_recorder = SizeRecorder(ws.extensions[0])
            await exchange(ws)
            client_view = asgiws_view(ws)
        [(server_view, server_recorder)] = seen
        check_agreement(server_view, client_view, offer, agreement(server_settings, offer))
        server_recorder.check_context_takeover()
        client_recorder.check_context_takeover()

    run(main)


# ------------------------------------------------------------------------------ ASGI server


async def asgi_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI echo app (text as text, bytes as bytes), as in the Autobahn runs."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        if event.get("text") is not None:
            await send({"type": "websocket.send", "text": event["text"]})
        else:
            await send({"type": "websocket.send", "bytes": event.get("bytes") or b""})


ASGI_APP = textwrap.dedent(
    """
    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (event := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", **{k: v for k, v in event.items()
                                                     if k in ("text", "bytes")}})
    """
)


@pytest.mark.parametrize("deflate", BOOLS)
def test_asgi_server_per_message_deflate(deflate: bool) -> None:
    async def main() -> None:
        async with (
            serving(asgi_echo, ws_per_message_deflate=deflate, ws_max_size=MAX_SIZE) as server,
            ws_connect(f"ws://{HOST}:{server.config.port}/", proxy=None, max_size=MAX_SIZE) as ws,
        ):
            await exchange(ws)
            response = ws.response.headers.get(EXTENSIONS)
            extensions = [summary(extension) for extension in ws.protocol.extensions]
        if deflate:
            assert response == header(False, False, 12, 12)
            assert extensions == [(False, False, 12, 12)]
        else:
            assert response is None and extensions == []

    run(main)


@pytest.mark.parametrize("flag", ["true", "false"])
def test_asgiws_command_ws_per_message_deflate(tmp_path: Path, port: int, flag: str) -> None:
    (tmp_path / "deflate_echo.py").write_text(ASGI_APP)
    process = asgiws_command(
        "deflate_echo:app",
        *("--app-dir", str(tmp_path), "--port", str(port), "--lifespan", "off"),
        *("--ws-per-message-deflate", flag, "--ws-max-size", str(MAX_SIZE)),
        cwd=REPO,
    )
    try:
        wait_listening(process, port)

        async def main() -> str | None:
            async with ws_connect(f"ws://{HOST}:{port}/", proxy=None, max_size=MAX_SIZE) as ws:
                for message in (json_text(1), COMPRESSIBLE, RANDOM, b""):
                    await ws.send(message)
                    assert await asyncio.wait_for(ws.recv(), 20) == message
                await ws.send(fragments_of(COMPRESSIBLE, 10_000))
                assert await asyncio.wait_for(ws.recv(), 20) == COMPRESSIBLE
                return ws.response.headers.get(EXTENSIONS)

        response = run(main)
    finally:
        _, out, err = stop(process)
    assert response == (header(False, False, 12, 12) if flag == "true" else None)
    assert "Traceback" not in out + err, err


# ------------------------------------------------------------------------ compression bombs

BOMB_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    import asgiws

    async def echo(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except asgiws.ConnectionClosed:
            pass

    async def main(port, max_size):
        async with asgiws.serve(echo, "127.0.0.1", port, max_size=max_size):
            await asyncio.Future()

    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
    """
)


def zero_bomb(mebibytes: int) -> bytes:
    """A deflate stream of ``mebibytes`` MiB of zeros (~1 KiB per MiB), ending in a sync flush."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    first = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    again = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return first + again * (mebibytes - 1)


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A masked frame, as a client sends it."""
    head = bytes([0x80 * fin | 0x40 * rsv1 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return head + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


async def read_close_code(reader: asyncio.StreamReader) -> int:
    """Skip data frames from the server until its close frame; return the close code."""
    while True:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if first & 0x0F == 0x8:
            return int(struct.unpack("!H", payload[:2])[0])


def peak_rss(pid: int) -> int:
    """The process's peak resident set size, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * KiB
    raise AssertionError("no VmHWM")


@contextlib.contextmanager
def bomb_server(port: int, max_size: int) -> Iterator[subprocess.Popen[str]]:
    """An asgiws echo server in its own process, so that its memory can be measured."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    process = subprocess.Popen(
        [sys.executable, "-c", BOMB_SERVER, str(port), str(max_size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_listening(process, port)
        yield process
    finally:
        _, out, err = stop(process)
        assert "Traceback" not in out + err, err


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    ("max_size", "frame_size"),
    [
        (MiB, 16 * KiB),  # 1 GiB in 16 KiB frames: the first one inflates past max_size
        (2 * MiB, None),  # 1 GiB in one ~1 MiB frame, under max_size on the wire
    ],
    ids=["fragmented", "one-frame"],
)
def test_decompression_bomb_closes_1009(port: int, max_size: int, frame_size: int | None) -> None:
    bomb = zero_bomb(1024)
    assert len(bomb) < 1.1 * MiB
    frames = [client_frame(0x2, bomb, rsv1=True)]
    if frame_size is not None:
        chunks = fragments_of(bomb, frame_size)
        frames = [
            client_frame(0x2 if i == 0 else 0x0, c, fin=i == len(chunks) - 1, rsv1=i == 0)
            for i, c in enumerate(chunks)
        ]

    async def attack() -> int:
        reader, writer = await asyncio.open_connection(HOST, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n".encode()
        )
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode().lower()
        assert head.startswith("http/1.1 101")
        assert "sec-websocket-extensions: permessage-deflate" in head
        code = asyncio.create_task(asyncio.wait_for(read_close_code(reader), 30))
        try:
            for frame in frames:
                if code.done():
                    break
                writer.write(frame)
                await writer.drain()
        except ConnectionError:
            pass  # the server may close before all frames were written
        result = await code
        with contextlib.suppress(ConnectionError):
            writer.write(client_frame(0x8, struct.pack("!H", result)))
            await asyncio.wait_for(reader.read(), 10)  # the server closes the TCP connection
        writer.close()
        return result

    async def still_serving() -> None:
        async with ws_connect(f"ws://{HOST}:{port}/", proxy=None) as ws:
            assert ws.response.headers[EXTENSIONS] == header(False, False, 12, 12)
            for message in (json_text(3), "still here", bytes(500_000)):
                await ws.send(message)
                assert await asyncio.wait_for(ws.recv(), 20) == message

    with bomb_server(port, max_size) as server:
        run(still_serving)
        before = peak_rss(server.pid)
        start = time.monotonic()
        assert run(attack) == 1009  # RFC 6455 §7.4.1: message too big
        assert time.monotonic() - start < 20  # it stopped early: 1 GiB takes longer
        run(still_serving)
        assert server.poll() is None
        # At most max_size was inflated, in bounded steps; 1 GiB would show here.
        assert peak_rss(server.pid) - before < 48 * MiB
