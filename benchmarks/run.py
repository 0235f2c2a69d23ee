"""The benchmark runner: every scenario, every server, in alternating rounds, in one run.

    python benchmarks/run.py                 # make bench: all scenarios (~15 minutes)
    python benchmarks/run.py --quick         # make bench-quick: a-d, f, g, short windows (~2 min)
    python benchmarks/run.py --scenarios a,c --servers minimal,websockets,asgiws-native
    python benchmarks/run.py --quick --write-docs          # also regenerate docs/benchmarks.md
    python benchmarks/run.py --from-json benchmarks/results/latest.json --write-docs

Each server runs in its own process pinned to CPU 0; the load generator (a fresh process per
measurement) and this runner are pinned to CPU 1. For each scenario the servers take turns,
round after round (A B C A B C ...), and the median of the rounds is reported with its ratio to
the minimal uvloop echo server of the same run, and the server CPU time per operation.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import procs, report
from benchmarks.catalog import QUICK_SCENARIOS, SCENARIOS, SERVERS, Scenario
from benchmarks.procs import (
    LOADGEN_CPU,
    ROOT,
    Loadgen,
    ServerProcess,
    StartFailed,
    free_port,
    run_wrk,
)

RESULTS = ROOT / "benchmarks" / "results"


class ServerPool:
    """Servers kept running across rounds and scenarios, one per (server, mode)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[tuple[str, str], ServerProcess] = {}
        self.failed: dict[tuple[str, str], str] = {}
        self.commands: dict[str, str] = {}

    def get(self, name: str, mode: str, *, fresh: bool = False) -> ServerProcess:
        key = (name, mode)
        if key in self.failed:
            raise StartFailed(self.failed[key])
        server = self.running.get(key)
        if server is not None and (fresh or not server.alive):
            server.stop()
            server = None
        if server is None:
            port = free_port()
            command = SERVERS[name].command(port, mode)
            server = ServerProcess(name, command, port, self.logs / f"{name}-{mode}.log")
            shown = " ".join(command).replace(str(port), "PORT").replace(f"{ROOT}/", "")
            self.commands[f"{name} ({mode})"] = shown
            try:
                server.start()
            except StartFailed as exc:
                self.failed[key] = str(exc)
                raise
            self.running[key] = server
        return server

    def stop(self, keep_mode: str | None = None) -> None:
        for key in list(self.running):
            if key[1] != keep_mode:
                self.running.pop(key).stop()


def measure(
    scenario: Scenario, server: ServerProcess, settings: argparse.Namespace
) -> dict[str, Any]:
    pids = server.pids
    if scenario.workload == "wrk" and settings.wrk:
        # wrk runs whole seconds: a warm-up under half a second (--quick) is skipped.
        warmup = settings.warmup if settings.warmup >= 0.5 else 0.0
        return run_wrk(
            server.port,
            scenario.path,
            settings.duration,
            warmup,
            pids,
            vary_query=scenario.vary_query,
        )
    arguments = [
        "http" if scenario.workload == "wrk" else scenario.workload,
        "--port",
        str(server.port),
        "--pids",
        ",".join(map(str, pids)),
        "--duration",
        str(settings.duration),
        "--warmup",
        str(settings.warmup),
        *scenario.arguments,
    ]
    if scenario.workload == "wrk":
        arguments += ["--connections", "50", "--path", scenario.path]
        if scenario.vary_query:
            arguments.append("--vary-query")
    if scenario.workload in ("memory", "broadcast"):
        arguments += ["--connections", str(settings.idle_connections)]
    if scenario.workload == "memory":
        arguments += ["--settle", "0.5" if settings.quick else "1.0"]
    if scenario.workload == "broadcast":
        arguments += ["--iterations", str(settings.broadcasts)]
    timeout = settings.warmup + settings.duration + 60 + settings.idle_connections / 50
    loadgen: Loadgen = settings.loadgen
    return loadgen.run(arguments, timeout)


def run_scenario(
    scenario: Scenario, names: list[str], pool: ServerPool, settings: argparse.Namespace
) -> dict[str, Any]:
    outcome: dict[str, Any] = {name: {"rounds": [], "reason": None} for name in names}
    rounds = min(settings.rounds, scenario.max_rounds or settings.rounds)
    for round_number in range(1, rounds + 1):
        for name in names:
            entry = outcome[name]
            if entry["reason"]:
                continue
            try:
                server = pool.get(name, scenario.mode, fresh=scenario.fresh_server)
            except StartFailed as exc:
                entry["reason"] = f"did not start: {exc}"
                log(f"  {scenario.id} {name:16} n/a  {entry['reason']}")
                continue
            result = measure(scenario, server, settings)
            if scenario.fresh_server:
                server.stop()
            if not result.get("ok"):
                prefix = "" if result.get("kind") == "unsupported" else "failed: "
                entry["reason"] = prefix + str(result.get("error"))
                log(f"  {scenario.id} {name:16} n/a  {entry['reason']}")
                continue
            entry["rounds"].append(result)
            log(
                f"  {scenario.id} round {round_number} {name:16} "
                f"{result['value']:>12,.1f} {result['unit']:<15} "
                f"server CPU {1e6 * result['server_cpu'] / max(result['ops'], 1):8.1f} µs/op"
            )
    return outcome


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for package in (
        "asgiws",
        "websockets",
        "uvicorn",
        "hypercorn",
        "aiohttp",
        "wsproto",
        "uvloop",
        "httptools",
        "h11",
    ):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    wrk = shutil.which("wrk")
    if wrk:
        import subprocess

        banner = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        found["wrk"] = (banner.stdout or banner.stderr).split("[")[0].replace("wrk", "").strip()
    else:
        found["wrk"] = "not installed (Python keep-alive fallback)"
    return found


def machine() -> dict[str, str]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        memory = int(meminfo.readline().split()[1]) // 1024 // 1024
    return {
        "cpu": model,
        "cpus": str(os.cpu_count()),
        "memory": f"{memory} GiB",
        "kernel": os.uname().release,
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def git_commit() -> str:
    head = ROOT / ".git" / "HEAD"
    try:
        reference = head.read_text().strip()
        if reference.startswith("ref: "):
            return (ROOT / ".git" / reference[5:]).read_text().strip()[:12]
        return reference[:12]
    except OSError:
        return "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else "",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="scenarios: "
        + "; ".join(f"{s.id}: {s.heading()}" for s in SCENARIOS.values())
        + "\nservers: "
        + ", ".join(SERVERS),
    )
    parser.add_argument("--quick", action="store_true", help="a-d, f, g, short windows (~2 min)")
    parser.add_argument("--scenarios", help="comma-separated letters (default: all)")
    parser.add_argument("--servers", help="comma-separated names (default: all)")
    parser.add_argument("--rounds", type=int, help="rounds per scenario (default 3, min 3)")
    parser.add_argument("--duration", type=float, help="measuring window per round, s")
    parser.add_argument("--warmup", type=float, help="warm-up before each window, s")
    parser.add_argument("--idle-connections", type=int, help="connections for e, h, i")
    parser.add_argument("--broadcasts", type=int, help="broadcasts measured per round in h")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of servers and load generators (e.g. -10 as root on a busy machine)",
    )
    parser.add_argument("--no-wrk", action="store_true", help="use the Python HTTP loadgen")
    parser.add_argument("--write-docs", action="store_true", help="regenerate docs/benchmarks.md")
    parser.add_argument("--from-json", type=Path, help="report a saved run instead of running")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = max(3, args.rounds or 3)
    args.duration = args.duration or (0.6 if quick else 3.0)
    args.warmup = args.warmup if args.warmup is not None else (0.2 if quick else 1.0)
    args.idle_connections = args.idle_connections or (1000 if quick else 5000)
    args.broadcasts = args.broadcasts or (5 if quick else 20)
    args.wrk = shutil.which("wrk") is not None and not args.no_wrk
    default = QUICK_SCENARIOS if quick else tuple(SCENARIOS)
    args.scenario_ids = args.scenarios.split(",") if args.scenarios else list(default)
    args.server_names = args.servers.split(",") if args.servers else list(SERVERS)
    for item in args.scenario_ids:
        if item not in SCENARIOS:
            parser.error(f"unknown scenario {item!r}")
    for item in args.server_names:
        if item not in SERVERS:
            parser.error(f"unknown server {item!r}")
    return args


def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    started = datetime.datetime.now(datetime.timezone.utc)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    pool = ServerPool(RESULTS / stamp / "logs")
    data: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "command": " ".join(["python benchmarks/run.py", *argv]),
            "quick": args.quick,
            "rounds": args.rounds,
            "duration": args.duration,
            "warmup": args.warmup,
            "idle_connections": args.idle_connections,
            "broadcasts": args.broadcasts,
            "nice": args.nice,
            "http_loadgen": "wrk -t1 -c50" if args.wrk else "python keep-alive loadgen, 50",
            "machine": machine(),
            "versions": versions(),
            "commit": git_commit(),
            "stamp": stamp,
        },
        "scenarios": {},
    }
    if not args.wrk:
        log("wrk not found: f and g use the Python keep-alive loadgen (apt-get install wrk)")
    procs.NICENESS = args.nice
    args.loadgen = Loadgen()
    try:
        for scenario_id in args.scenario_ids:
            scenario = SCENARIOS[scenario_id]
            names = [
                name
                for name in scenario.servers
                if name in args.server_names and scenario.mode in SERVERS[name].modes
            ]
            if scenario.reference not in names and scenario.reference in scenario.servers:
                names.insert(0, scenario.reference)  # ratios need the reference
            log(f"{scenario.id}. {scenario.heading(args.idle_connections)}: {', '.join(names)}")
            pool.stop(keep_mode=scenario.mode)
            began = time.monotonic()
            outcome = run_scenario(scenario, names, pool, args)
            seconds = round(time.monotonic() - began)
            data["scenarios"][scenario.id] = {"servers": outcome, "seconds": seconds}
            log(f"  ({seconds} s)")
    finally:
        pool.stop()
        args.loadgen.stop()
    finished = datetime.datetime.now(datetime.timezone.utc)
    data["meta"]["seconds"] = round((finished - started).total_seconds())
    data["meta"]["machine"]["load_average_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    data["meta"]["commands"] = pool.commands
    return data


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.from_json:
        data = json.loads(args.from_json.read_text())
    else:
        try:
            os.sched_setaffinity(0, {LOADGEN_CPU})  # stay off the server CPU
        except OSError:
            pass
        data = run(args, argv)
        report.summarize(data)
        RESULTS.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=1)
        (RESULTS / f"{data['meta']['stamp']}.json").write_text(text)
        (RESULTS / "latest.json").write_text(text)
    report.summarize(data)
    charts = report.charts(data, RESULTS / data["meta"]["stamp"])
    markdown = report.markdown(data, charts=None)
    print(markdown)
    (RESULTS / f"{data['meta']['stamp']}.md").write_text(markdown)
    if args.write_docs:
        path = report.write_docs(data, charts)
        log(f"wrote {path.relative_to(ROOT)}")
    log(f"results in {RESULTS.relative_to(ROOT)}/{data['meta']['stamp']}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
