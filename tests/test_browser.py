"""A real browser against asgiws, compression on: Chromium (Debian's package) driven by playwright.

* The guide's counter (``examples/counter.py`` and ``counter.html``) on the native server, two
  pages: clicks on either change the value on both, and both say "2 users online".
* Large messages (1 MiB of text, 1 MiB of random bytes) echoed through a compressed connection,
  the server sending them back in fragments, and a run of small messages (context takeover).

Both check the handshake on both ends: Chromium's offer (``permessage-deflate;
client_max_window_bits``) as the server received it, and the agreement as the server and the
page's ``WebSocket.extensions`` see it.

Chromium comes from Debian (``/usr/bin/chromium``: ``make services`` installs it); playwright
drives it and downloads nothing (``playwright install`` is never run). Under CI a missing
Chromium or playwright is a failure, locally a skip. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import importlib.util
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_env import unavailable

import asgiws

HOST = "127.0.0.1"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXTENSIONS = "Sec-WebSocket-Extensions"
CHROMIUM_OFFER = "permessage-deflate; client_max_window_bits"
AGREED = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
WAIT_MS = 15_000  # every wait on the page, in milliseconds
TIMEOUT = 120  # a whole test, in seconds

pytestmark = pytest.mark.timeout(TIMEOUT + 30)


@pytest.fixture(scope="module")
def async_playwright() -> Any:
    """playwright's async entry point, once Chromium and playwright are both there."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium (make services)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is missing: pip install playwright (the dev extra)")
    return async_playwright


@contextlib.asynccontextmanager
async def chromium(async_playwright: Any) -> AsyncIterator[Any]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.contextmanager
def page_server(pages: dict[str, str]) -> Iterator[str]:
    """Serve ``pages`` (path -> HTML) over plain HTTP from a thread; yield the base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(main(), TIMEOUT)

    return asyncio.run(bounded())


def load_counter_example() -> Any:
    """``examples/counter.py`` as a fresh module (its counter starts at 0)."""
    spec = importlib.util.spec_from_file_location("counter_example", EXAMPLES / "counter.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    argv, sys.argv = sys.argv, [sys.argv[0]]  # it reads its port from argv[1], if any
    try:
        spec.loader.exec_module(module)
    finally:
        sys.argv = argv
    return module


def handshake_of(ws: Any) -> dict[str, Any]:
    return {
        "offer": ws.request_headers.get(EXTENSIONS),
        "response": ws.response_headers.get(EXTENSIONS),
        "extensions": [extension.name for extension in ws.extensions],
    }


# ------------------------------------------------------------------------------ the counter


def test_counter_two_pages(async_playwright: Any, port: int) -> None:
    counter = load_counter_example()
    html = (EXAMPLES / "counter.html").read_text()
    assert "ws://localhost:6789/" in html
    html = html.replace("ws://localhost:6789/", f"ws://{HOST}:{port}/")
    handshakes: list[dict[str, Any]] = []

    async def handler(ws: Any) -> None:
        handshakes.append(handshake_of(ws))
        await counter.counter(ws)

    async def main() -> None:
        from playwright.async_api import expect

        with page_server({"/": html}) as base:
            async with (
                asgiws.serve(handler, HOST, port),  # compression="deflate", the default
                chromium(async_playwright) as browser,
            ):
                first, second = await browser.new_page(), await browser.new_page()
                for page in (first, second):
                    await page.goto(f"{base}/", timeout=WAIT_MS)
                for page in (first, second):
                    await expect(page.locator(".state")).to_have_text(
                        "2 users online", timeout=WAIT_MS
                    )
                    await expect(page.locator(".value")).to_have_text("0", timeout=WAIT_MS)
                for clicks, expected in (
                    ([(first, ".plus")], "1"),
                    ([(second, ".plus"), (second, ".plus")], "3"),
                    ([(first, ".minus"), (second, ".minus"), (first, ".minus")], "0"),
                    ([(second, ".minus")], "-1"),
                ):
                    for page, button in clicks:
                        await page.click(button, timeout=WAIT_MS)
                    for page in (first, second):
                        await expect(page.locator(".value")).to_have_text(expected, timeout=WAIT_MS)
                await second.close()
                await expect(first.locator(".state")).to_have_text("1 user online", timeout=WAIT_MS)
                assert counter.VALUE == -1

    run(main)
    # The server saw Chromium's offer and agreed to permessage-deflate on both connections.
    assert (
        handshakes
        == [{"offer": CHROMIUM_OFFER, "response": AGREED, "extensions": ["permessage-deflate"]}] * 2
    )


# ----------------------------------------------------------------------- large and fragmented

ECHO_PAGE = "<!doctype html><html><head><title>echo</title></head><body>echo</body></html>"

# Runs in the page: opens a WebSocket to the echo server, sends each message, compares each
# echo with what was sent, and returns the negotiated extensions with the comparisons.
ECHO_SCRIPT = """
async (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const received = [];
  let wake = null;
  ws.onmessage = (event) => { received.push(event.data); if (wake) wake(); };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  const next = async () => {
    while (!received.length) await new Promise((resolve) => { wake = resolve; });
    return received.shift();
  };
  const randomBytes = (n) => {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
    return bytes;
  };
  const same = (a, b) => {
    if (typeof a === "string" || typeof b === "string") return a === b;
    const x = new Uint8Array(a), y = new Uint8Array(b);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  };
  const rows = [];
  let json = "";
  for (let i = 0; json.length < (1 << 20); i++) {
    rows.push({id: i, name: "user-" + (i * 7919 % 10007), score: i % 97, online: i % 3 === 0});
    if (rows.length % 1000 === 0) json = JSON.stringify(rows);
  }
  const messages = [
    ["1 MiB of JSON text", json.slice(0, 1 << 20)],
    ["1 MiB of random bytes", randomBytes(1 << 20).buffer],
    ["1 MiB of text, not ASCII", "é😀x".repeat(1 << 18).slice(0, 1 << 20)],
    ["empty text", ""],
    ["empty bytes", new ArrayBuffer(0)],
  ];
  for (let i = 0; i < 50; i++) messages.push(["tick " + i, JSON.stringify({type: "tick", seq: i})]);
  const results = [];
  for (const [name, message] of messages) {
    ws.send(message);
    const echo = await next();
    const size = typeof echo === "string" ? echo.length : echo.byteLength;
    results.push([name, same(message, echo), size]);
  }
  const extensions = ws.extensions;
  ws.close(1000);
  await new Promise((resolve) => { ws.onclose = resolve; });
  return {extensions, results};
}
"""


def test_large_and_fragmented_messages(async_playwright: Any, port: int) -> None:
    handshakes: list[dict[str, Any]] = []
    received: list[int] = []  # the sizes of the messages the server received
    sent: list[tuple[int, int]] = []  # (plain, compressed) sizes of the messages it sent

    async def echo(ws: Any) -> None:
        handshakes.append(handshake_of(ws))
        [extension] = ws.extensions
        encode, plain, compressed = extension.encode, [0], [0]

        def measured(opcode: int, payload: bytes, fin: bool) -> tuple[bytes, int]:
            data, rsv = encode(opcode, payload, fin)
            if opcode < 0x8:
                plain[0] += len(payload)
                compressed[0] += len(data)
                if fin:
                    sent.append((plain[0], compressed[0]))
                    plain[0] = compressed[0] = 0
            return data, rsv

        extension.encode = measured
        async for message in ws:
            received.append(len(message))
            if len(message) > 100_000:  # back in fragments: 1 MiB as 16 frames
                step = 65_536
                await ws.send(message[i : i + step] for i in range(0, len(message), step))
            else:
                await ws.send(message)

    async def main() -> Any:
        with page_server({"/": ECHO_PAGE}) as base:
            async with (
                asgiws.serve(echo, HOST, port, max_size=4 << 20),
                chromium(async_playwright) as browser,
            ):
                page = await browser.new_page()
                await page.goto(f"{base}/", timeout=WAIT_MS)
                return await page.evaluate(ECHO_SCRIPT, f"ws://{HOST}:{port}/")

    outcome = run(main)
    assert outcome["extensions"] == AGREED  # WebSocket.extensions in the page
    assert [name for name, same, _ in outcome["results"] if not same] == [], outcome["results"]
    assert len(outcome["results"]) == 55
    assert handshakes == [
        {"offer": CHROMIUM_OFFER, "response": AGREED, "extensions": ["permessage-deflate"]}
    ]
    # In characters for text: 1 MiB of JSON, 1 MiB of bytes, "é😀x" (4 UTF-16 units) * 2**18.
    assert received[:5] == [1 << 20, 1 << 20, 3 << 18, 0, 0]
    # Compressed as sent: the JSON to a fraction; random bytes barely grow; each tick after
    # the first refers back to the previous one (context takeover).
    (json_plain, json_sent), (random_plain, random_sent) = sent[:2]
    assert json_sent < json_plain // 4
    assert random_plain < random_sent < random_plain * 1.01
    ticks = [compressed for _, compressed in sent[5:]]
    assert len(ticks) == 50 and max(ticks[1:]) < ticks[0]
