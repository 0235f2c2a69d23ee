"""The ASGI service: what an :class:`~asgiws.server.http.HttpConnection` serves for an app.

For each request head, in order: the health routes (answered here, never passed to the app),
then the concurrency limit (503), then a WebSocket upgrade goes to a
:class:`~asgiws.asgi.websocket.WebSocketSession` and any other request runs the ASGI HTTP cycle
(:class:`~asgiws.asgi.http.HttpCycle`) in a task.

Config attributes read here (uvicorn's names where they exist; each has a default so that any
object with some of them works): ``root_path``, ``limit_concurrency``, ``access_log``,
``server_header``, ``date_header``, ``encoded_headers`` (extra default response headers, as
byte pairs), ``proxy_headers`` (then :func:`asgiws.asgi.proxy.apply_proxy_headers` runs on each
scope), ``timeout_keep_alive`` (5), ``timeout_request_head`` (10, asgiws's own: seconds allowed
to receive a complete request head, slowloris protection), ``health_path`` ("/healthz"),
``ready_path`` ("/readyz"), ``h11_max_incomplete_event_size`` (the request head size limit,
65536, uvicorn's name) and ``max_request_headers`` (100).

Server state attributes used: ``connections``, ``tasks``, ``total_requests``, ``ready``,
``lifespan_state``.
"""

from __future__ import annotations

import logging
from asyncio import Task
from typing import Any

from ..http import RequestHead
from ..server.health import HealthRoutes
from ..server.http import _UNKNOWN, HttpConnection
from .http import ASGIApp, HttpCycle, access_logger
from .proxy import apply_proxy_headers, trusted_proxies
from .websocket import WebSocketSession

__all__ = ["ASGIService"]

logger = logging.getLogger("asgiws.server")

# The request headers that make apply_proxy_headers worth calling.
_PROXY_HEADER_NAMES = frozenset({b"forwarded", b"x-forwarded-for", b"x-forwarded-proto"})

_TASK_NAME = "asgiws.http"

_UNAVAILABLE_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
_UNAVAILABLE_BODY = b"Service Unavailable: too many concurrent connections\n"


class ASGIService:
    """Serve ``app`` (an ASGI 3 callable) on HttpConnections, with ``config`` and ``state``."""

    def __init__(self, config: Any, server_state: Any, app: ASGIApp) -> None:
        self.config = config
        self.state = server_state
        self.app = app
        self.root_path: str = getattr(config, "root_path", "") or ""
        self.limit_concurrency: int | None = getattr(config, "limit_concurrency", None)
        # --ws none: upgrade requests reach the application as plain HTTP, as with uvicorn.
        self.websockets: bool = getattr(config, "ws", "auto") != "none"
        self.access_log: bool = getattr(config, "access_log", True)
        # Read by HttpConnection, once per connection.
        self.server_header: bool = getattr(config, "server_header", True)
        self.date_header: bool = getattr(config, "date_header", True)
        self.timeout_keep_alive: float | None = getattr(config, "timeout_keep_alive", 5)
        self.timeout_request_head: float | None = getattr(config, "timeout_request_head", 10)
        self.max_head_size: int = getattr(config, "h11_max_incomplete_event_size", None) or 65536
        self.max_headers: int = getattr(config, "max_request_headers", None) or 100
        self.extra_headers: list[tuple[bytes, bytes]] = list(
            getattr(config, "encoded_headers", None) or ()
        )
        self.proxy_headers: bool = bool(getattr(config, "proxy_headers", False))
        # Connections whose peer may send proxy headers (checked once per connection).
        self.proxied: set[HttpConnection] = set()
        self.health = HealthRoutes(
            getattr(config, "health_path", "/healthz"),
            getattr(config, "ready_path", "/readyz"),
            server_state,
        )
        self.health_paths = self.health.paths
        # Read by HttpConnection: repeated health probes are answered without parsing.
        self.repeated_requests = self.health if self.health.paths else None

    # HttpConnection service interface

    def connection_made(self, connection: HttpConnection) -> None:
        self.state.connections.add(connection)
        if self.proxy_headers:
            trusted = trusted_proxies(self.config)
            client = connection.client
            if (trusted.everyone or trusted.unix) if client is None else client[0] in trusted:
                self.proxied.add(connection)

    def connection_upgraded(self, connection: HttpConnection) -> None:
        # The WebSocket object takes the connection's place in state.connections.
        self.state.connections.discard(connection)
        self.proxied.discard(connection)

    def connection_closed(self, connection: HttpConnection) -> None:
        self.state.connections.discard(connection)
        self.proxied.discard(connection)

    def request_received(self, connection: HttpConnection, head: RequestHead) -> None:
        state = self.state
        if head.path in self.health_paths and self.health.answer(connection, head):
            return
        limit = self.limit_concurrency
        if limit is not None and (len(state.connections) > limit or len(state.tasks) >= limit):
            logger.warning("Exceeded concurrency limit: answering 503")
            connection.respond(503, _UNAVAILABLE_HEADERS, _UNAVAILABLE_BODY, close=True)
            return
        if head.websocket_upgrade:
            if self.websockets:
                # The session's run() is the task: it tracks itself in state.tasks and answers
                # for its own failures.
                session = WebSocketSession(connection, head, self.config, state, self.app)
                task = connection.loop.create_task(session.run())
                state.tasks.add(task)
                return
            # --ws none: an HTTP request for the application. The parser stopped at the
            # upgrade, so the connection closes after the response.
            assert connection.current is not None
            connection.current.keep_alive = False
        state.total_requests += 1
        exchange = connection.current
        assert exchange is not None
        loop = connection.loop
        access_log = self.access_log and access_logger.isEnabledFor(logging.INFO)
        if access_log:
            exchange.started_at = loop.time()
        root_path = self.root_path
        client, server = connection._client, connection._server  # the properties, once known
        # The ASGI HTTP scope (asgiws.asgi.http.build_http_scope, inlined: this is per request).
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": head.http_version,
            "method": head.method,
            "scheme": connection.scheme,
            "path": root_path + head.path if root_path else head.path,
            "raw_path": root_path.encode() + head.raw_path if root_path else head.raw_path,
            "query_string": head.query_string,
            "root_path": root_path,
            "headers": head.headers,
            "client": connection.client if client is _UNKNOWN else client,
            "server": connection.server if server is _UNKNOWN else server,
            "state": state.lifespan_state.copy(),
            "extensions": {},
        }
        if self.proxied and connection in self.proxied:
            for name, _ in head.headers:
                if name in _PROXY_HEADER_NAMES:
                    apply_proxy_headers(scope, self.config)
                    break
        cycle = HttpCycle(exchange, scope, access_log)
        tasks = state.tasks
        coroutine = cycle.run(self.app, tasks)
        if loop.get_task_factory() is None:
            # What create_task() does, minus formatting a "Task-<n>" name for every request.
            task = Task(coroutine, loop=loop, name=_TASK_NAME)
        else:
            task = loop.create_task(coroutine)
        cycle.task = task
        tasks.add(task)
