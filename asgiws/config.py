"""The ASGI server's settings: :class:`Config`, with uvicorn's names where the meaning is the same.

A :class:`Config` is plain data until :meth:`Config.load` imports the application (and the
``process_request`` hook when it is given as ``"module:attr"``) and builds the TLS context; the
:class:`~asgiws.asgi.runner.Server` calls it. Everything reads settings from here with
``config.<name>``, so a setting has one name in Python, one flag on the command line
(``--ws-max-size``) and one environment variable (``ASGIWS_WS_MAX_SIZE``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import socket
import ssl
import stat
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

from .asgi.app import ASGIApp, import_from_string, load_app

__all__ = ["HTTP_PARSERS", "LIFESPAN_MODES", "LOG_LEVELS", "LOOP_KINDS", "WS_KINDS", "Config"]

LOOP_KINDS = ("auto", "asyncio", "uvloop", "none")
HTTP_PARSERS = ("auto", "httptools", "h11")
WS_KINDS = ("auto", "none")
LIFESPAN_MODES = ("auto", "on", "off")
LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}


class Config:
    """Settings of one ASGI server; see ``docs/asgi.md`` for the table of every field.

    ``app`` is an ASGI application or ``"module:attr"``. The other arguments are keyword-only
    and default as in uvicorn where uvicorn has the same setting.
    """

    def __init__(
        self,
        app: ASGIApp | Callable[..., Any] | str,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        uds: str | None = None,
        fd: int | None = None,
        loop: str = "auto",
        http: str = "auto",
        ws: str = "auto",
        ws_max_size: int = 16 * 1024 * 1024,
        ws_max_queue: int = 32,
        ws_ping_interval: float | None = 20.0,
        ws_ping_timeout: float | None = 20.0,
        ws_per_message_deflate: bool = True,
        ws_close_timeout: float = 10.0,
        lifespan: Literal["auto", "on", "off"] = "auto",
        root_path: str = "",
        proxy_headers: bool = True,
        forwarded_allow_ips: str | Sequence[str] | None = None,
        server_header: bool = True,
        date_header: bool = True,
        headers: Sequence[tuple[str, str]] | None = None,
        limit_concurrency: int | None = None,
        backlog: int = 2048,
        timeout_keep_alive: float = 5,
        timeout_request_head: float = 10,
        timeout_graceful_shutdown: float | None = None,
        drain_delay: float = 0.0,
        shutdown_close_code: int = 1012,
        ssl_keyfile: str | os.PathLike[str] | None = None,
        ssl_certfile: str | os.PathLike[str] | None = None,
        ssl_keyfile_password: str | None = None,
        ssl_ca_certs: str | os.PathLike[str] | None = None,
        ssl_cert_reqs: int = ssl.CERT_NONE,
        ssl_ciphers: str | None = None,
        log_level: str | int | None = None,
        access_log: bool = True,
        health_path: str | None = "/healthz",
        ready_path: str | None = "/readyz",
        process_request: Callable[..., Any] | str | None = None,
        workers: int | None = None,
        factory: bool = False,
        app_dir: str | None = None,
        h11_max_incomplete_event_size: int | None = None,
        max_request_headers: int = 100,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.uds = uds
        self.fd = fd
        self.loop = _choice("loop", loop, LOOP_KINDS)
        self.http = _choice("http", http, HTTP_PARSERS)
        self.ws = _choice("ws", ws, WS_KINDS)
        self.ws_max_size = ws_max_size
        self.ws_max_queue = ws_max_queue
        self.ws_ping_interval = ws_ping_interval
        self.ws_ping_timeout = ws_ping_timeout
        self.ws_per_message_deflate = ws_per_message_deflate
        self.ws_close_timeout = ws_close_timeout
        self.lifespan = _choice("lifespan", lifespan, LIFESPAN_MODES)
        self.root_path = root_path.rstrip("/") if root_path else ""
        self.proxy_headers = proxy_headers
        if forwarded_allow_ips is None:
            forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
        allowed = forwarded_allow_ips
        self.forwarded_allow_ips: str | list[str] = (
            allowed if isinstance(allowed, str) else list(allowed)
        )
        self.server_header = server_header
        self.date_header = date_header
        self.headers: list[tuple[str, str]] = [(str(k), str(v)) for k, v in headers or ()]
        self.limit_concurrency = limit_concurrency
        self.backlog = backlog
        self.timeout_keep_alive = timeout_keep_alive
        self.timeout_request_head = timeout_request_head
        self.timeout_graceful_shutdown = timeout_graceful_shutdown
        if drain_delay < 0:
            raise ValueError("drain_delay must be 0 or more seconds")
        self.drain_delay = drain_delay
        if not 1000 <= shutdown_close_code <= 4999:
            raise ValueError(f"shutdown_close_code {shutdown_close_code} is not a close code")
        self.shutdown_close_code = shutdown_close_code
        self.ssl_keyfile = ssl_keyfile
        self.ssl_certfile = ssl_certfile
        self.ssl_keyfile_password = ssl_keyfile_password
        self.ssl_ca_certs = ssl_ca_certs
        self.ssl_cert_reqs = ssl_cert_reqs
        self.ssl_ciphers = ssl_ciphers
        if isinstance(log_level, str) and log_level.lower() not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
        self.log_level = log_level
        self.access_log = access_log
        self.health_path = health_path or None
        self.ready_path = ready_path or None
        self.process_request = process_request
        if workers is not None and workers < 1:
            raise ValueError("workers must be 1 or more")
        self.workers = workers or 1
        self.factory = factory
        self.app_dir = app_dir
        self.h11_max_incomplete_event_size = h11_max_incomplete_event_size
        self.max_request_headers = max_request_headers
        # Set by load().
        self.loaded = False
        self.loaded_app: ASGIApp | None = None
        self.loaded_process_request: Callable[..., Any] | None = None
        self.asgi_version = "3.0"
        self.ssl: ssl.SSLContext | None = None

    # Derived settings

    @property
    def is_ssl(self) -> bool:
        """True when TLS is configured (``ssl_keyfile`` and ``ssl_certfile``)."""
        return bool(self.ssl_keyfile or self.ssl_certfile)

    @property
    def encoded_headers(self) -> list[tuple[bytes, bytes]]:
        """The extra default response headers (``headers``), lower-cased, as byte pairs."""
        return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]

    @property
    def log_level_number(self) -> int:
        """``log_level`` as a :mod:`logging` level number (INFO when unset)."""
        if self.log_level is None:
            return logging.INFO
        if isinstance(self.log_level, int):
            return self.log_level
        return LOG_LEVELS[self.log_level.lower()]

    # Loading

    def load(self) -> None:
        """Import the application and the hook, and build the TLS context. Idempotent.

        Raises :exc:`~asgiws.asgi.app.AppLoadError` when the application cannot be loaded.
        """
        if self.loaded:
            return
        if self.is_ssl:
            self.ssl = self.create_ssl_context()
        self.loaded_app, self.asgi_version = load_app(
            self.app, factory=self.factory, app_dir=self.app_dir
        )
        hook = self.process_request
        self.loaded_process_request = import_from_string(hook) if hook is not None else None
        if self.loaded_process_request is not None and not callable(self.loaded_process_request):
            raise TypeError(f"process_request {hook!r} is not callable")
        self.loaded = True

    def create_ssl_context(self) -> ssl.SSLContext:
        """A server TLS context from the ``ssl_*`` settings."""
        if not self.ssl_certfile:
            raise ValueError("ssl_certfile is required for TLS")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, self.ssl_keyfile_password)
        context.verify_mode = ssl.VerifyMode(self.ssl_cert_reqs)
        if self.ssl_ca_certs:
            context.load_verify_locations(self.ssl_ca_certs)
        if self.ssl_ciphers:
            context.set_ciphers(self.ssl_ciphers)
        return context

    def loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        """The event loop constructor for ``loop`` (None: the default asyncio loop)."""
        kind = self.loop
        if kind == "auto":
            kind = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
        if kind == "uvloop":
            try:
                import uvloop
            except ImportError as exc:
                raise ImportError("--loop uvloop: uvloop is not installed") from exc
            return uvloop.new_event_loop  # type: ignore[no-any-return]
        return None

    def bind_socket(self) -> socket.socket:
        """Create, bind and return the listening socket (used to share it between workers)."""
        if self.uds is not None:
            path = self.uds
            if os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)  # a stale socket from an earlier run; never a regular file
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            os.chmod(path, 0o666)
        elif self.fd is not None:
            sock = socket.fromfd(self.fd, socket.AF_UNIX, socket.SOCK_STREAM)
            sock = socket.socket(fileno=sock.detach())  # the real family of the descriptor
        else:
            family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        sock.listen(self.backlog)
        sock.set_inheritable(True)
        return sock

    def configure_logging(self) -> None:
        """Log ``asgiws.*`` to stderr at ``log_level``, uvicorn-style, unless already set up."""
        level = self.log_level_number
        logger = logging.getLogger("asgiws")
        logger.setLevel(level)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(levelname)-9s %(message)s"))
            logger.addHandler(handler)
            logger.propagate = False
        access = logging.getLogger("asgiws.access")
        access.setLevel(logging.INFO if self.access_log else logging.WARNING)


def _choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value
