"""``--workers N``: N server processes sharing one listening socket, under a supervisor.

The supervisor binds the socket once and starts N worker processes (``spawn``, so each imports
the application afresh: no state, event loop or thread is shared through a fork). Each worker is
a whole :class:`~asgiws.asgi.runner.Server` accepting on the shared socket; the kernel spreads
connections between them. A worker that dies is replaced. A worker that exits with status 1
(the application cannot be loaded) or 3 (lifespan startup failed) would fail again the same
way: the supervisor stops them all and exits with that status instead of restarting in a loop.

SIGINT and SIGTERM to the supervisor are passed on as SIGTERM to every worker, which shuts down
gracefully (drain delay, 1012 to WebSockets, lifespan shutdown); the supervisor waits for them,
then exits 0. A second SIGINT passes SIGINT on, which forces the workers' exit.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from types import FrameType
from typing import Any

__all__ = ["Supervisor"]

logger = logging.getLogger("asgiws.server")

FATAL_EXIT_STATUSES = (1, 3)
CHECK_INTERVAL = 0.2  # seconds between checks of the workers


def _worker_main(config: Any, sock: socket.socket) -> None:
    """The body of a worker process."""
    from .app import AppLoadError
    from .runner import Server

    config.configure_logging()
    server = Server(config)
    try:
        server.run(sockets=[sock])
    except AppLoadError as exc:
        print(f"asgiws: error: {exc}", flush=True, file=sys.stderr)
        raise SystemExit(1) from None
    if server.startup_failed:
        raise SystemExit(3)


class Supervisor:
    """Run ``config.workers`` worker processes on one socket until told to stop."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.workers: list[Any] = []
        self.should_exit = threading.Event()
        self.signals_received = 0
        self.exit_status = 0
        self._context = multiprocessing.get_context("spawn")

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM; return the exit status."""
        config = self.config
        sock = config.bind_socket()
        self._log_listening(sock)
        logger.info("Started parent process [%d]", os.getpid())
        original = {
            sig: signal.signal(sig, self._handle_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for _ in range(config.workers):
                self.workers.append(self._start_worker(sock))
            while not self.should_exit.wait(CHECK_INTERVAL):
                self._replace_dead_workers(sock)
        finally:
            self._stop_workers()
            for sig, handler in original.items():
                signal.signal(sig, handler)
            sock.close()
            if config.uds and os.path.exists(config.uds):
                os.unlink(config.uds)
        logger.info("Stopping parent process [%d]", os.getpid())
        return self.exit_status

    def _start_worker(self, sock: socket.socket) -> Any:
        process = self._context.Process(target=_worker_main, args=(self.config, sock))
        process.start()
        return process

    def _replace_dead_workers(self, sock: socket.socket) -> None:
        for index, process in enumerate(self.workers):
            if process.is_alive() or self.should_exit.is_set():
                continue
            status = process.exitcode
            if status in FATAL_EXIT_STATUSES:
                logger.error("Worker [%d] exited with status %d: stopping", process.pid, status)
                self.exit_status = int(status)
                self.should_exit.set()
                return
            logger.warning("Worker [%d] died (status %s): starting another", process.pid, status)
            self.workers[index] = self._start_worker(sock)

    def _handle_signal(self, sig: int, frame: FrameType | None) -> None:
        self.signals_received += 1
        if self.should_exit.is_set() and sig == signal.SIGINT:
            self._signal_workers(signal.SIGINT)  # a second Ctrl+C: force
        self.should_exit.set()

    def _signal_workers(self, sig: int) -> None:
        for process in self.workers:
            if process.is_alive() and process.pid is not None:
                try:
                    os.kill(process.pid, sig)
                except ProcessLookupError:
                    pass

    def _stop_workers(self) -> None:
        self._signal_workers(signal.SIGTERM)
        config = self.config
        # Each worker drains, then waits at most timeout_graceful_shutdown: allow for both.
        budget = config.drain_delay + (config.timeout_graceful_shutdown or 0) + 30
        deadline = time.monotonic() + budget
        for process in self.workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.error("Worker [%d] did not stop in time: killing it", process.pid)
                process.kill()
                process.join(5)

    def _log_listening(self, sock: socket.socket) -> None:
        name = sock.getsockname()
        scheme = "https" if self.config.is_ssl else "http"
        if sock.family == socket.AF_UNIX:
            where = f"unix socket {name}"
        elif sock.family == socket.AF_INET6:
            where = f"{scheme}://[{name[0]}]:{name[1]}"
        else:
            where = f"{scheme}://{name[0]}:{name[1]}"
        logger.info(
            "asgiws running on %s with %d workers (Press CTRL+C to quit)",
            where,
            self.config.workers,
        )
