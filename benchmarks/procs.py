"""Processes for the runner: servers pinned to CPU 0, load generators pinned to CPU 1.

A server that cannot start (asgiws not built yet, a peer not installed) is not an error of the
run: :class:`StartFailed` carries the reason, which the report prints as "n/a — reason".
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.loadgen import process_cpu_seconds, system_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
SERVER_CPU = 0
LOADGEN_CPU = 1
# Niceness for servers and load generators (``run.py --nice``): on a machine shared with other
# work, a negative value keeps the measured processes from waiting behind it.
NICENESS = 0


class StartFailed(Exception):
    """A server did not come up; ``str()`` is the reason for the report."""


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pinned(command: list[str], cpu: int) -> tuple[list[str], Callable[[], None]]:
    """``command`` prefixed with ``taskset -c CPU`` (or pinned by ``sched_setaffinity`` when
    taskset is missing), and a pre-exec hook raising the fd limit for 5,000 connections."""
    use_taskset = shutil.which("taskset") is not None

    def prepare() -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if not use_taskset:
            os.sched_setaffinity(0, {cpu})
        if NICENESS:
            os.nice(NICENESS)

    if use_taskset:
        return ["taskset", "-c", str(cpu), *command], prepare
    return command, prepare


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """``pid`` and all its descendants (hypercorn or a CLI may fork workers)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(parents.get(current, []))
    return found


def last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    for line in reversed(lines):  # prefer the exception line of a traceback
        if re.match(r"^[A-Za-z_.]*(Error|Exception|Exit)\b", line):
            return line[:200]
    return lines[-1][:200] if lines else ""


class ServerProcess:
    """One server under test, in its own process group, pinned to the server CPU."""

    def __init__(self, name: str, command: list[str], port: int, log: Path) -> None:
        self.name = name
        self.command = command
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.pids: list[int] = []

    @property
    def command_line(self) -> str:
        return " ".join(self.command)

    def start(self, timeout: float = 20.0) -> None:
        if not Path(self.command[0]).exists() and shutil.which(self.command[0]) is None:
            raise StartFailed(f"{self.command[0]} not found")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command, prepare = pinned(self.command, SERVER_CPU)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=prepare,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                reason = last_line(self.log) or f"exited with status {self.process.returncode}"
                self.process = None
                raise StartFailed(reason)
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                time.sleep(0.3)  # listening is not quite serving (lifespan, imports)
                self.pids = children_of(self.process.pid)
                return
            time.sleep(0.05)
        self.stop()
        raise StartFailed(f"not listening on port {self.port} after {timeout:.0f} s")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


class Loadgen:
    """The load generator process, pinned to the loadgen CPU, serving one workload at a time."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            command, prepare = pinned(
                [sys.executable, "-m", "benchmarks.loadgen", "--serve"], LOADGEN_CPU
            )
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                preexec_fn=prepare,
            )
        return self.process

    def run(self, arguments: list[str], timeout: float) -> dict[str, Any]:
        """One workload; its result, or an error dict (and a restarted loadgen) on timeout."""
        process = self.start()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(arguments).encode() + b"\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            self.stop()
            return {"ok": False, "error": f"load generator timed out after {timeout:.0f} s"}
        line = process.stdout.readline()
        try:
            result: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            self.stop()
            return {"ok": False, "error": "load generator died"}
        return result

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait()


WRK_LINE = re.compile(r"(\d+) requests in ([\d.]+)(m?s)")
WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")


WRK_VARY_QUERY = str(Path(__file__).with_name("wrk_vary_query.lua"))


def run_wrk(
    port: int,
    path: str,
    duration: float,
    warmup: float,
    pids: list[int],
    connections: int = 50,
    vary_query: bool = False,
) -> dict[str, Any]:
    """Keep-alive GETs with wrk (one thread, pinned to the loadgen CPU); with ``vary_query``,
    a new query string in each request."""
    url = f"http://127.0.0.1:{port}{path}"
    script = ["-s", WRK_VARY_QUERY] if vary_query else []

    def wrk(seconds: float) -> subprocess.CompletedProcess[str]:
        command, prepare = pinned(
            ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", *script, url],
            LOADGEN_CPU,
        )
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            preexec_fn=prepare,
            check=False,
        )

    try:
        if warmup > 0:
            wrk(warmup)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = process_cpu_seconds(pids)
        busy, steal = system_cpu_seconds()
        started = time.perf_counter()
        completed = wrk(duration)
        wall = time.perf_counter() - started
        server_cpu = process_cpu_seconds(pids) - server_cpu
        busy_after, steal_after = system_cpu_seconds()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    except (subprocess.TimeoutExpired, OSError) as exc:
        return {"ok": False, "error": f"wrk: {exc}"}
    rate, count = WRK_RATE.search(completed.stdout), WRK_LINE.search(completed.stdout)
    if rate is None or count is None:
        lines = (completed.stderr or completed.stdout).strip().splitlines()
        return {"ok": False, "error": "wrk: " + (lines[-1] if lines else "no output")}
    loadgen_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    extra: dict[str, Any] = {"connections": connections}
    for label in ("Non-2xx or 3xx responses", "Socket errors"):
        match = re.search(label + r":\s*(.+)", completed.stdout)
        if match:
            extra[label] = match.group(1).strip()
    ops = int(count.group(1))
    seconds = float(count.group(2)) / (1000 if count.group(3) == "ms" else 1)
    return {
        "ok": True,
        "value": float(rate.group(1)),
        "unit": "req/s",
        "ops": ops,
        "seconds": seconds,
        "server_cpu": server_cpu,
        "loadgen_cpu": loadgen_cpu,
        "other_cpu_share": max(0.0, ((busy_after - busy) - server_cpu - loadgen_cpu) / wall),
        "steal_share": (steal_after - steal) / wall,
        "extra": extra,
    }
