"""Health routes answered by the server itself, without calling the application.

* liveness (``/healthz`` by default): 200 while the process runs and serves;
* readiness (``/readyz`` by default): 200 once the server is ready (lifespan startup done),
  503 as soon as shutdown or draining begins, so that a load balancer stops routing here
  before any connection closes.

Both answer GET and HEAD (405 otherwise), ignore the query string, are never cached
(``cache-control: no-store``) and stay out of the access log.

A load balancer sends the same probe, byte for byte, every few seconds on each of its
keep-alive connections. Once such a request has been parsed and answered the usual way, its
bytes are remembered (:attr:`HealthRoutes.known`, bounded): the connection answers the next
identical one without parsing it again (:meth:`HttpConnection.data_received`). The answer
itself is computed each time (readiness, the date), only the parse is skipped.
"""

from __future__ import annotations

import time
from typing import Any

from ..http import RequestHead
from .exchange import STATUS_LINES, date_line
from .http import HttpConnection

__all__ = ["HealthRoutes"]

_LIVE, _READY = 1, 2
_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"cache-control", b"no-store"),
]
_NOT_ALLOWED_HEADERS = [*_HEADERS, (b"allow", b"GET, HEAD")]


class HealthRoutes:
    """Match and answer the health routes; ``state.ready`` drives readiness."""

    __slots__ = ("_cache", "_cache_second", "known", "paths", "state")

    def __init__(self, health_path: str | None, ready_path: str | None, state: Any) -> None:
        self.state = state
        #: path -> route; empty when both routes are disabled.
        self.paths: dict[str, int] = {}
        if health_path:
            self.paths[health_path] = _LIVE
        if ready_path:
            self.paths[ready_path] = _READY
        # Whole keep-alive HTTP/1.1 responses, by (status, HEAD?), for the current second.
        self._cache: dict[tuple[int, bool], bytes] = {}
        self._cache_second = 0
        #: Whole requests seen and answered here (keep-alive HTTP/1.1 GET or HEAD of a route,
        #: no body, one request per read) -> (route, HEAD?).
        self.known: dict[bytes, tuple[int, bool]] = {}

    def answer(self, connection: HttpConnection, head: RequestHead) -> bool:
        """Answer ``head`` if it is a health route; return whether it was one."""
        route = self.paths.get(head.path)
        if route is None:
            return False
        if head.method != "GET" and head.method != "HEAD":
            status, headers, body = 405, _NOT_ALLOWED_HEADERS, b"Method Not Allowed\n"
        elif route == _LIVE or self.state.ready:
            status, headers, body = 200, _HEADERS, b"OK\n"
        else:
            status, headers, body = 503, _HEADERS, b"Not ready\n"
        exchange = connection.current
        if (
            exchange is not None
            and exchange.keep_alive
            and head.http_version == "1.1"
            and not head.websocket_upgrade
            and not head.expect_continue
            and not connection.closing
        ):
            # The common case, a load balancer probing over keep-alive: one cached write.
            now = int(time.time())
            if now != self._cache_second:
                self._cache.clear()
                self._cache_second = now
            key = (status, head.method == "HEAD")
            data = self._cache.get(key)
            if data is None:
                data = self._cache[key] = self._prepare(connection, status, headers, body, key[1])
            if status != 405:
                connection.answered_known = (route, key[1])  # the connection may remember it
            exchange.write_prepared(status, data)
            return True
        headers = [*headers, (b"content-length", b"%d" % len(body))]  # HEAD too
        if exchange is None or head.websocket_upgrade:
            connection.respond(status, headers, body, close=True)
        else:
            exchange.respond(status, headers, body)
        return True

    def answer_known(self, connection: HttpConnection, route: int, head_only: bool) -> None:
        """Answer again a request in :attr:`known`, on an idle keep-alive ``connection``."""
        status = 200 if route == _LIVE or self.state.ready else 503
        now = int(time.time())
        if now != self._cache_second:
            self._cache.clear()
            self._cache_second = now
        key = (status, head_only)
        data = self._cache.get(key)
        if data is None:
            body = b"OK\n" if status == 200 else b"Not ready\n"
            data = self._cache[key] = self._prepare(connection, status, _HEADERS, body, head_only)
        connection.write_repeated(data)

    @staticmethod
    def _prepare(
        connection: HttpConnection,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        head_only: bool,
    ) -> bytes:
        lines = [STATUS_LINES[status]]
        lines.extend(name + b": " + value for name, value in headers)
        lines.append(b"content-length: %d" % len(body))
        if connection.server_header:
            lines.append(b"server: asgiws")
        if connection.date_header:
            lines.append(date_line())
        lines.extend(connection.extra_header_lines)
        lines.append(b"\r\n")
        return b"\r\n".join(lines) + (b"" if head_only else body)
