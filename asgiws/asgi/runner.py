"""The ASGI server process: :class:`Server` listens, serves, and shuts down gracefully.

``await Server(config).serve()`` runs the lifespan startup, listens, and serves until
``server.should_exit`` turns true (SIGINT, SIGTERM, or the caller). Then, in order:

1. readiness turns false at once (``/readyz`` answers 503) and, for ``drain_delay`` seconds, the
   server keeps serving so load balancers stop routing to it before anything closes;
2. the listening sockets close;
3. idle HTTP connections close, busy ones after their response; open WebSockets get
   ``shutdown_close_code`` (1012, "service restart") so their clients reconnect elsewhere;
4. it waits for connections and application tasks, at most ``timeout_graceful_shutdown`` seconds
   (then the rest are cancelled); a second SIGINT skips the waiting;
5. the lifespan shutdown runs.

Signal handlers are installed only in the main thread; elsewhere (test fixtures) they are
skipped and ``should_exit`` is the way to stop, noticed within a tenth of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

from ..server.http import HttpConnection
from ..server.state import ServerState
from .lifespan import Lifespan
from .service import ASGIService

__all__ = ["HANDLED_SIGNALS", "Server"]

logger = logging.getLogger("asgiws.server")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
TICK = 0.1  # seconds between checks of should_exit


class Server:
    """An ASGI server for one :class:`~asgiws.config.Config`, as ``uvicorn.Server``.

    ``started`` is true once listening; set ``should_exit`` to stop gracefully and
    ``force_exit`` to skip the waiting. ``startup_failed`` tells why :meth:`serve` returned early
    (the lifespan startup failed: the command exits with status 3).
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self.server_state = ServerState()
        self.started = False
        self.should_exit = False
        self.force_exit = False
        self.startup_failed = False
        self.servers: list[asyncio.Server] = []
        self.lifespan: Lifespan | None = None
        self._http_connections: weakref.WeakSet[HttpConnection] = weakref.WeakSet()
        self._captured_signals: list[int] = []

    # ------------------------------------------------------------------------ running

    def run(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Run :meth:`serve` in a new event loop of the configured kind (``config.loop``)."""
        factory = self.config.loop_factory()
        if sys.version_info >= (3, 11):
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(self.serve(sockets))
        else:  # pragma: no cover - Python 3.10
            if factory is not None:
                loop = factory()
                try:
                    loop.run_until_complete(self.serve(sockets))
                finally:
                    loop.close()
            else:
                asyncio.run(self.serve(sockets))

    async def serve(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Start, serve until ``should_exit``, shut down. Works in any thread's event loop."""
        with self._capture_signals():
            await self._serve(sockets)

    async def _serve(self, sockets: Sequence[socket.socket] | None) -> None:
        config = self.config
        if not config.loaded:
            config.load()
        self.lifespan = Lifespan(config, self.server_state.lifespan_state)
        logger.info("Started server process [%d]", os.getpid())
        await self.startup(sockets)
        if self.startup_failed:
            return
        await self.main_loop()
        await self.shutdown(sockets)
        logger.info("Finished server process [%d]", os.getpid())

    async def startup(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """Lifespan startup, then listen."""
        config = self.config
        assert self.lifespan is not None
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            self.startup_failed = True
            self.should_exit = True
            return
        factory = self._protocol_factory(self.create_service())
        loop = asyncio.get_running_loop()
        ssl_context = config.ssl
        try:
            if sockets:
                for sock in sockets:
                    if sock.family == socket.AF_UNIX:
                        server = await loop.create_unix_server(
                            factory, sock=sock, ssl=ssl_context, backlog=config.backlog
                        )
                    else:
                        server = await loop.create_server(
                            factory, sock=sock, ssl=ssl_context, backlog=config.backlog
                        )
                    self.servers.append(server)
            elif config.fd is not None:
                sock = socket.socket(fileno=config.fd)
                if sock.family == socket.AF_UNIX:
                    server = await loop.create_unix_server(
                        factory, sock=sock, ssl=ssl_context, backlog=config.backlog
                    )
                else:
                    server = await loop.create_server(
                        factory, sock=sock, ssl=ssl_context, backlog=config.backlog
                    )
                self.servers.append(server)
            elif config.uds is not None:
                if os.path.exists(config.uds) and _is_socket(config.uds):
                    os.unlink(config.uds)
                server = await loop.create_unix_server(
                    factory, path=config.uds, ssl=ssl_context, backlog=config.backlog
                )
                os.chmod(config.uds, 0o666)
                self.servers.append(server)
            else:
                server = await loop.create_server(
                    factory, host=config.host, port=config.port, ssl=ssl_context,
                    backlog=config.backlog,
                )  # fmt: skip
                self.servers.append(server)
        except OSError as exc:
            logger.error("%s", exc)
            await self.lifespan.shutdown()
            self.startup_failed = True
            self.should_exit = True
            raise SystemExit(1) from None
        if sockets is None:
            self._log_started()
        self.server_state.ready = True
        self.started = True

    def create_service(self) -> Any:
        """The service :class:`HttpConnection` hands requests to: the ASGI service."""
        return ASGIService(self.config, self.server_state, self.config.loaded_app)

    def _protocol_factory(self, service: Any) -> Any:
        # The connection reads its other settings (timeouts, limits, default headers) from
        # the service; the parser kind is the one thing it takes directly.
        http = self.config.http
        connections = self._http_connections

        def create_connection() -> HttpConnection:
            connection = HttpConnection(service, http=http)
            connections.add(connection)
            return connection

        return create_connection

    def _log_started(self) -> None:
        config = self.config
        scheme = "https" if config.is_ssl else "http"
        for server in self.servers:
            for sock in server.sockets:
                name = sock.getsockname()
                if sock.family == socket.AF_UNIX:
                    where = f"unix socket {name}"
                elif sock.family == socket.AF_INET6:
                    where = f"{scheme}://[{name[0]}]:{name[1]}"
                else:
                    where = f"{scheme}://{name[0]}:{name[1]}"
                logger.info("asgiws running on %s (Press CTRL+C to quit)", where)

    @property
    def port(self) -> int | None:
        """The TCP port listened on (useful with ``port=0``), None before :attr:`started`."""
        for server in self.servers:
            for sock in server.sockets:
                if sock.family in (socket.AF_INET, socket.AF_INET6):
                    return int(sock.getsockname()[1])
        return None

    async def main_loop(self) -> None:
        while not self.should_exit:
            await asyncio.sleep(TICK)

    # ------------------------------------------------------------------------ shutting down

    async def shutdown(self, sockets: Sequence[socket.socket] | None = None) -> None:
        """The graceful shutdown (see the module docstring)."""
        config = self.config
        state = self.server_state
        state.ready = False
        state.shutting_down = True
        logger.info("Shutting down")
        loop = asyncio.get_running_loop()
        if config.drain_delay > 0 and not self.force_exit:
            logger.info(
                "Draining for %g seconds: readiness fails, requests are still served",
                config.drain_delay,
            )
            deadline = loop.time() + config.drain_delay
            while not self.force_exit and (remaining := deadline - loop.time()) > 0:
                await asyncio.sleep(min(TICK, remaining))
        for server in self.servers:
            server.close()
        for sock in sockets or ():
            sock.close()
        seen: set[int] = set()
        for connection in [*state.connections, *self._http_connections]:
            if id(connection) in seen or getattr(connection, "upgraded", False):
                continue  # an upgraded HTTP connection: its WebSocket session is listed
            seen.add(id(connection))
            close = getattr(connection, "shutdown", None)
            if close is not None:
                close()
        try:
            await asyncio.wait_for(self._wait_for_connections(), config.timeout_graceful_shutdown)
        except asyncio.TimeoutError:
            logger.error(
                "Cancel %d running task(s), timeout graceful shutdown exceeded", len(state.tasks)
            )
        await self._cancel_leftovers()
        if not self.force_exit and self.lifespan is not None:
            await self.lifespan.shutdown()

    async def _wait_for_connections(self) -> None:
        state = self.server_state
        if state.connections and not self.force_exit:
            logger.info("Waiting for connections to close. (CTRL+C to force quit)")
            while state.connections and not self.force_exit:
                await asyncio.sleep(TICK)
        if state.tasks and not self.force_exit:
            logger.info("Waiting for background tasks to complete. (CTRL+C to force quit)")
            while state.tasks and not self.force_exit:
                await asyncio.sleep(TICK)

    async def _cancel_leftovers(self) -> None:
        state = self.server_state
        tasks = [task for task in state.tasks if not task.done()]
        for task in tasks:
            task.cancel()
        for connection in list(self._http_connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and not connection.upgraded and not transport.is_closing():
                transport.abort()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    # ------------------------------------------------------------------------ signals

    @contextlib.contextmanager
    def _capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals only reach the main thread: the caller stops us with should_exit
            return
        original: dict[int, Any] = {}
        try:
            for sig in HANDLED_SIGNALS:
                original[sig] = signal.signal(sig, self.handle_exit)
        except ValueError:  # pragma: no cover - not the main interpreter
            pass
        try:
            yield
        finally:
            for signum, handler in original.items():
                signal.signal(signum, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGINT/SIGTERM: start the graceful shutdown; a second SIGINT forces the exit."""
        self._captured_signals.append(sig)
        self.server_state.ready = False  # readiness fails from this instant
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def _is_socket(path: str) -> bool:
    import stat

    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False
