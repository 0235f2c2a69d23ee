"""permessage-deflate on the wire: asgiws serve() against websockets, in one run.

    python benchmarks/deflate_throughput.py [--rounds 3] [--duration 3] [--connections 2000]
    python benchmarks/deflate_throughput.py --quick      # 1 s windows, 500 idle connections

Workloads, each against both echo servers (``benchmarks/servers/asgiws_native.py`` and
``websockets_echo.py``, started with ``--deflate`` unless said otherwise; both then agree to
12-bit windows both ways, their default):

- 1 KiB JSON-like text, 1 connection, one message in flight: round trips/s;
- 1 MiB JSON-like text, 1 connection: MB/s each way (in windows three times as long);
- memory per idle connection after one 1 KiB message each way, compression on and off
  (a fresh server per round; RSS growth over N connections, divided by N).

The servers take turns round after round (asgiws, websockets, asgiws, ...) and the table gives
the median of the rounds, with the server's CPU time per message beside each rate. The server
runs pinned to CPU 0 and ``benchmarks/loadgen.py`` (which compresses what it sends, and does not
inflate the echoes) to CPU 1, as in ``benchmarks/run.py``. Prints a Markdown table (``--json``:
the raw rounds). See ``deflate_memory.py`` for the engine's own memory at 10,000 connections.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.catalog import DEFLATE, PLAIN, SERVERS
from benchmarks.procs import Loadgen, ServerProcess, StartFailed, free_port

RESULTS = Path(__file__).resolve().parent / "results"
SERVER_NAMES = ("asgiws-native", "websockets")

# (label, loadgen workload and arguments, server mode, fresh server each round)
WORKLOADS: list[tuple[str, list[str], str, bool]] = [
    (
        "1 KiB JSON text, deflate",
        ["pingpong", "--connections", "1", "--size", "1024", "--deflate"],
        DEFLATE,
        False,
    ),
    (
        "1 MiB JSON text, deflate",
        ["pingpong", "--connections", "1", "--size", str(1 << 20), "--deflate", "--unit", "MB/s"],
        DEFLATE,
        False,
    ),
    ("memory / idle connection, deflate", ["memory", "--size", "1024", "--deflate"], DEFLATE, True),
    ("memory / idle connection, no compression", ["memory", "--size", "1024"], PLAIN, True),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per workload (median)")
    parser.add_argument("--duration", type=float, default=3.0, help="measuring window, s")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up before it, s")
    parser.add_argument("--connections", type=int, default=2000, help="idle connections")
    parser.add_argument("--quick", action="store_true", help="1 s windows, 500 connections")
    parser.add_argument("--json", action="store_true", help="print the raw rounds as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.connections = 1.0, 0.5, 500
    return args


def measure(
    loadgen: Loadgen, server: ServerProcess, arguments: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    # A 1 MiB round trip takes tens of milliseconds: longer windows count enough of them.
    duration = args.duration * (3 if str(1 << 20) in arguments else 1)
    command = [
        *arguments,
        *("--port", str(server.port), "--pids", ",".join(map(str, server.pids))),
        *("--duration", str(duration), "--warmup", str(args.warmup)),
    ]
    if arguments[0] == "memory":
        command += ["--connections", str(args.connections), "--settle", "1.0"]
    timeout = args.warmup + duration + 60 + args.connections / 50
    return loadgen.run(command, timeout)


def run(args: argparse.Namespace) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every workload, rounds alternating between the servers: label -> server -> rounds."""
    logs = RESULTS / "deflate-throughput-logs"
    loadgen = Loadgen()
    outcome: dict[str, dict[str, list[dict[str, Any]]]] = {}
    running: dict[tuple[str, str], ServerProcess] = {}
    try:
        for label, arguments, mode, fresh in WORKLOADS:
            outcome[label] = {name: [] for name in SERVER_NAMES}
            for round_number in range(1, args.rounds + 1):
                for name in SERVER_NAMES:
                    server = running.get((name, mode))
                    if server is None or fresh or not server.alive:
                        if server is not None:
                            server.stop()
                        port = free_port()
                        command = SERVERS[name].command(port, mode)
                        server = ServerProcess(name, command, port, logs / f"{name}-{mode}.log")
                        try:
                            server.start()
                        except StartFailed as exc:
                            sys.exit(f"{name} did not start: {exc}")
                        running[(name, mode)] = server
                    result = measure(loadgen, server, arguments, args)
                    if fresh:
                        server.stop()
                    if not result.get("ok"):
                        sys.exit(f"{label}, {name}: {result.get('error')}")
                    outcome[label][name].append(result)
                    print(
                        f"  {label}: round {round_number} {name:14} "
                        f"{result['value']:>10,.1f} {result['unit']}",
                        file=sys.stderr,
                    )
    finally:
        for server in running.values():
            server.stop()
        loadgen.stop()
    return outcome


def median(rounds: list[dict[str, Any]], key: str = "value") -> float:
    return statistics.median(result[key] for result in rounds)


def cpu_per_op(rounds: list[dict[str, Any]]) -> float:
    """Server CPU time per round trip (or per connection), µs: the median over the rounds."""
    return statistics.median(1e6 * r["server_cpu"] / max(r["ops"], 1) for r in rounds)


def table(outcome: dict[str, dict[str, list[dict[str, Any]]]], args: argparse.Namespace) -> str:
    asgiws, websockets = SERVER_NAMES
    lines = [
        f"{args.rounds} rounds, median; {args.duration:g} s windows ({3 * args.duration:g} s for "
        f"1 MiB); memory over "
        f"{args.connections:,} connections (Python {sys.version.split()[0]})",
        "",
        "| workload | unit | asgiws serve() | websockets | asgiws / websockets "
        "| server CPU µs/msg, asgiws | websockets |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, by_server in outcome.items():
        ours, theirs = by_server[asgiws], by_server[websockets]
        unit = ours[0]["unit"]
        ratio = median(ours) / median(theirs) if median(theirs) else float("nan")
        memory = unit == "KiB/connection"
        cpu = [f"{cpu_per_op(rounds):,.0f}" if not memory else "n/a" for rounds in (ours, theirs)]
        lines.append(
            f"| {label} | {unit} | {median(ours):,.1f} | {median(theirs):,.1f} | {ratio:.2f} "
            f"| {cpu[0]} | {cpu[1]} |"
        )
    others = [
        r["other_cpu_share"] for rounds in outcome.values() for s in rounds.values() for r in s
    ]
    lines += [
        "",
        f"Other processes used {statistics.median(others):.0%} of a CPU during the windows "
        "(median): rates on a shared machine wobble, CPU per message much less.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcome = run(args)
    if args.json:
        print(json.dumps(outcome, indent=2))
    else:
        print(table(outcome, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
