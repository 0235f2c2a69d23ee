"""Memory of idle permessage-deflate connections: asgiws next to websockets, in one run.

For each setting, N extension objects (one per connection) each compress one message and
inflate one message from their peer, then sit idle. Each setting runs in a fresh process and
is measured twice: the growth of tracemalloc's traced memory (which sees zlib's allocations,
made through ``PyMem_RawMalloc``) and of the process's RSS. A third column times one round trip
(compress + inflate, CPU time) per message on a busy connection, the price of hibernation.

    python benchmarks/deflate_memory.py [--connections 10000] [--json]

Prints a Markdown table. "none" is a connection without the extension: it costs 0 here.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import timeit
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

SMALL = json.dumps(
    {"type": "update", "id": 123456, "user": "ada", "values": list(range(40)), "ok": True}
).encode()
LARGE = (SMALL * 400)[: 64 * 1024]  # 64 KiB: fills every window

# name -> (library, remote_no_context_takeover, local_no_context_takeover, window bits, extra)
SETTINGS: dict[str, tuple[str, bool, bool, int, dict[str, Any]]] = {
    "none": ("none", False, False, 12, {}),
    "asgiws, context takeover (default)": ("asgiws", False, False, 12, {}),
    "asgiws, context takeover, idle_interval=None": (
        "asgiws",
        False,
        False,
        12,
        {"idle_interval": None},
    ),
    "asgiws, context takeover, idle_interval=0": ("asgiws", False, False, 12, {"idle_interval": 0}),
    "asgiws, no context takeover": ("asgiws", True, True, 12, {}),
    "asgiws, context takeover, 15-bit windows": ("asgiws", False, False, 15, {}),
    "websockets 17, context takeover": ("websockets", False, False, 12, {}),
    "websockets 17, no context takeover": ("websockets", True, True, 12, {}),
}
MESSAGES = {f"{len(SMALL)} B JSON": SMALL, "64 KiB": LARGE}


def make_factory(name: str) -> Callable[[], Any] | None:
    """A function that builds one connection's extension for a setting (None: no extension)."""
    library, remote_nct, local_nct, bits, extra = SETTINGS[name]
    if library == "asgiws":
        from asgiws.protocol.extensions.permessage_deflate import PerMessageDeflate

        return lambda: PerMessageDeflate(remote_nct, local_nct, bits, bits, **extra)
    if library == "websockets":
        from websockets.extensions.permessage_deflate import PerMessageDeflate as WsDeflate

        settings = {"memLevel": 5}  # websockets' own default for serve()/connect()
        return lambda: WsDeflate(remote_nct, local_nct, bits, bits, settings)
    return None


def exchange(extension: Any, incoming: bytes, message: bytes) -> None:
    """One message each way: compress ``message``, inflate the peer's ``incoming``."""
    if hasattr(extension, "idle_interval"):  # asgiws
        extension.encode(2, message, True)
        extension.decode(2, incoming, 0x40, True, None)
    else:  # websockets
        from websockets.frames import Frame, Opcode

        extension.encode(Frame(Opcode.BINARY, message))
        extension.decode(Frame(Opcode.BINARY, incoming, rsv1=True))


def peer_message(name: str, message: bytes) -> bytes:
    """What a fresh peer sends as its first compressed message, for every connection."""
    bits = SETTINGS[name][3]
    compressor = zlib.compressobj(6, zlib.DEFLATED, -bits, 5)
    return (compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(name: str, size: str, connections: int, mode: str) -> float:
    """Bytes per idle connection: growth of tracemalloc's count (mode "traced") or of RSS."""
    factory = make_factory(name)
    message = MESSAGES[size]
    if factory is None:
        return 0.0
    incoming = peer_message(name, message)
    gc.collect()
    if mode == "traced":
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
    else:
        before = rss()
    extensions = []
    for _ in range(connections):
        extension = factory()
        exchange(extension, incoming, message)
        extensions.append(extension)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if mode == "traced" else rss()
    return (after - before) / connections


def time_round_trip(name: str, size: str) -> float:
    """Microseconds for one message compressed by one side and inflated by the other."""
    factory = make_factory(name)
    if factory is None:
        return 0.0
    message = MESSAGES[size]
    sender, receiver = factory(), factory()
    library = SETTINGS[name][0]
    rounds = 3000 if MESSAGES[size] is SMALL else 300
    if library == "asgiws":

        def one() -> None:
            payload, rsv = sender.encode(2, message, True)
            receiver.decode(2, payload, rsv, True, None)

    else:
        from websockets.frames import Frame, Opcode

        def one() -> None:
            receiver.decode(sender.encode(Frame(Opcode.BINARY, message)))

    # CPU time, best of 5: other processes on the machine barely disturb it.
    timer = timeit.Timer(one, timer=time.process_time)
    return min(timer.repeat(repeat=5, number=rounds)) / rounds * 1e6


def child(name: str, size: str, connections: int, mode: str) -> float:
    """Run one measurement in a fresh interpreter, so that settings do not share a heap."""
    command = [sys.executable, __file__, "--one", name, size, mode, str(connections)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        name, size, mode, connections = args.one
        if mode == "time":
            print(time_round_trip(name, size))
        else:
            print(measure(name, size, int(connections), mode))
        return

    n = args.connections
    rows = []
    for size in MESSAGES:
        for name in SETTINGS:
            traced = child(name, size, n, "traced")
            resident = child(name, size, n, "rss")
            micros = child(name, size, n, "time")
            rows.append((name, size, traced, resident, micros))
    if args.json:
        keys = ("setting", "message", "traced_per_conn", "rss_per_conn", "us_per_message")
        print(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=2))
        return
    version = sys.version.split()[0]
    print(f"Idle memory of {n:,} connections after one message each way (Python {version})\n")
    print(
        "| setting | message | traced / conn | traced, all | RSS / conn | RSS, all | µs / message |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, size, traced, resident, micros in rows:
        print(
            f"| {name} | {size} | {traced / 1024:.1f} KiB | {traced * n / 2**20:.1f} MiB "
            f"| {resident / 1024:.1f} KiB | {resident * n / 2**20:.1f} MiB | {micros:.1f} |"
        )


if __name__ == "__main__":
    main()
