"""The ``asgiws`` command: ``asgiws module:attr [options]``, also ``python -m asgiws``.

Every option is a :class:`~asgiws.config.Config` field, spelled with dashes on the command line
(``--ws-max-size``) and in capitals with an ``ASGIWS_`` prefix in the environment
(``ASGIWS_WS_MAX_SIZE``); a flag given on the command line wins over the environment, and a
setting given in neither keeps the Config default. ``ASGIWS_APP`` may name the application.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Sequence
from typing import Any

from .config import HTTP_PARSERS, LIFESPAN_MODES, LOG_LEVELS, LOOP_KINDS, WS_KINDS, Config
from .version import __version__

__all__ = ["ENV_PREFIX", "build_parser", "main", "settings_from"]

ENV_PREFIX = "ASGIWS_"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def boolean(value: str) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0``."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def optional_float(value: str) -> float | None:
    """A number of seconds, or ``none`` to turn the feature off."""
    if value.strip().lower() in ("", "none", "off"):
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {value!r}") from None


def optional_path(value: str) -> str | None:
    """A URL path, or an empty string / ``off`` to turn the route off."""
    if value.strip().lower() in ("", "none", "off"):
        return None
    if not value.startswith("/"):
        raise argparse.ArgumentTypeError(f"a path starts with '/': {value!r}")
    return value


def header(value: str) -> tuple[str, str]:
    """``Name: value`` for ``--header``."""
    name, colon, content = value.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {value!r}")
    return name.strip(), content.strip()


def byte_size(value: str) -> int:
    """An integer number of bytes."""
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bytes, got {value!r}") from None


# (flags, dest, type or action, choices, metavar, help). The dest is the Config field name.
_OPTIONS: list[tuple[tuple[str, ...], str, Any, Sequence[str] | None, str | None, str]] = [
    (("--host",), "host", str, None, "HOST", "Bind to this address. [default: 127.0.0.1]"),
    (("--port",), "port", int, None, "PORT", "Bind to this port. [default: 8000]"),
    (("--uds",), "uds", str, None, "PATH", "Bind to a Unix domain socket."),
    (("--fd",), "fd", int, None, "FD", "Serve on an already bound socket, given by descriptor."),
    (("--loop",), "loop", str, LOOP_KINDS, None, "Event loop. [default: auto]"),
    (("--http",), "http", str, HTTP_PARSERS, None, "HTTP/1.1 parser. [default: auto]"),
    (("--ws",), "ws", str, WS_KINDS, None, "WebSocket support; 'none' turns it off."),
    (("--ws-max-size",), "ws_max_size", byte_size, None, "BYTES",
     "Largest WebSocket message accepted. [default: 16777216]"),
    (("--ws-max-queue",), "ws_max_queue", int, None, "N",
     "Incoming messages buffered per WebSocket before reading pauses. [default: 32]"),
    (("--ws-ping-interval",), "ws_ping_interval", optional_float, None, "SECONDS",
     "Keepalive ping interval; 'none' turns pings off. [default: 20.0]"),
    (("--ws-ping-timeout",), "ws_ping_timeout", optional_float, None, "SECONDS",
     "Close when a pong takes longer; 'none' waits forever. [default: 20.0]"),
    (("--ws-per-message-deflate",), "ws_per_message_deflate", boolean, None, "true|false",
     "Negotiate permessage-deflate compression. [default: true]"),
    (("--ws-close-timeout",), "ws_close_timeout", float, None, "SECONDS",
     "How long the closing handshake may take. [default: 10.0]"),
    (("--lifespan",), "lifespan", str, LIFESPAN_MODES, None, "Lifespan protocol. [default: auto]"),
    (("--root-path",), "root_path", str, None, "PATH",
     "The path prefix the application is mounted under (behind a proxy)."),
    (("--proxy-headers",), "proxy_headers", argparse.BooleanOptionalAction, None, None,
     "Trust X-Forwarded-For/Proto and Forwarded from --forwarded-allow-ips. [default: on]"),
    (("--forwarded-allow-ips",), "forwarded_allow_ips", str, None, "IPS",
     "Comma-separated addresses/CIDRs to trust proxy headers from, or '*'. "
     "[default: $FORWARDED_ALLOW_IPS or 127.0.0.1]"),
    (("--server-header",), "server_header", argparse.BooleanOptionalAction, None, None,
     "Send a Server header. [default: on]"),
    (("--date-header",), "date_header", argparse.BooleanOptionalAction, None, None,
     "Send a Date header. [default: on]"),
    (("--header",), "headers", "append", None, "'NAME: VALUE'",
     "An extra default response header; repeatable."),
    (("--limit-concurrency",), "limit_concurrency", int, None, "N",
     "Answer 503 beyond this many concurrent connections or tasks."),
    (("--backlog",), "backlog", int, None, "N", "Listen backlog. [default: 2048]"),
    (("--timeout-keep-alive",), "timeout_keep_alive", float, None, "SECONDS",
     "Close idle keep-alive connections after this long. [default: 5]"),
    (("--timeout-request-head",), "timeout_request_head", float, None, "SECONDS",
     "Close connections that take longer to send a request head. [default: 10]"),
    (("--timeout-graceful-shutdown",), "timeout_graceful_shutdown", float, None, "SECONDS",
     "On shutdown, wait at most this long for connections and tasks. [default: forever]"),
    (("--drain-delay",), "drain_delay", float, None, "SECONDS",
     "On SIGTERM, fail readiness and keep serving this long before closing. [default: 0]"),
    (("--shutdown-close-code",), "shutdown_close_code", int, None, "CODE",
     "Close code sent to open WebSockets on shutdown. [default: 1012]"),
    (("--ssl-keyfile",), "ssl_keyfile", str, None, "FILE", "TLS private key file."),
    (("--ssl-certfile",), "ssl_certfile", str, None, "FILE", "TLS certificate file."),
    (("--ssl-keyfile-password",), "ssl_keyfile_password", str, None, "PASSWORD",
     "Password of the TLS private key."),
    (("--ssl-ca-certs",), "ssl_ca_certs", str, None, "FILE", "CA certificates file."),
    (("--ssl-cert-reqs",), "ssl_cert_reqs", int, None, "N",
     "Client certificate requirement (0 none, 1 optional, 2 required). [default: 0]"),
    (("--ssl-ciphers",), "ssl_ciphers", str, None, "CIPHERS", "TLS ciphers to allow."),
    (("--log-level",), "log_level", str, tuple(LOG_LEVELS), None, "Log level. [default: info]"),
    (("--access-log",), "access_log", argparse.BooleanOptionalAction, None, None,
     "Log one line per HTTP request and per WebSocket session. [default: on]"),
    (("--health-path",), "health_path", optional_path, None, "PATH",
     "Liveness route answered by the server; '' turns it off. [default: /healthz]"),
    (("--ready-path",), "ready_path", optional_path, None, "PATH",
     "Readiness route (503 until started and once shutting down); '' turns it off. "
     "[default: /readyz]"),
    (("--process-request",), "process_request", str, None, "MODULE:ATTR",
     "A process_request(path, request_headers) hook run before each WebSocket handshake."),
    (("--workers",), "workers", int, None, "N",
     "Number of worker processes sharing the socket. [default: 1]"),
    (("--factory",), "factory", "store_true", None, None,
     "The application is a factory: call it without arguments to get the application."),
    (("--app-dir",), "app_dir", str, None, "DIR",
     "Look for the application's module in this directory first. [default: .]"),
    (("--h11-max-incomplete-event-size",), "h11_max_incomplete_event_size", int, None, "BYTES",
     "The largest request head, in bytes (both parsers; uvicorn's name). [default: 65536]"),
    (("--max-request-headers",), "max_request_headers", int, None, "N",
     "The most request headers accepted (431 beyond). [default: 100]"),
]  # fmt: skip


def _version() -> str:
    return (
        f"asgiws {__version__} with {platform.python_implementation()} "
        f"{platform.python_version()} on {platform.system()}"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every option defaults to None (meaning: not given)."""
    parser = argparse.ArgumentParser(
        prog="asgiws",
        description="Serve an ASGI application over HTTP/1.1 and WebSocket.",
        epilog="Each option can also be set with an ASGIWS_<NAME> environment variable, "
        "for example ASGIWS_PORT=9000 or ASGIWS_PROXY_HEADERS=false.",
    )
    parser.add_argument(
        "app", nargs="?", default=None, help="The application, as module:attribute ($ASGIWS_APP)."
    )
    for flags, dest, kind, choices, metavar, help_text in _OPTIONS:
        if kind in ("store_true", "append") or kind is argparse.BooleanOptionalAction:
            action_options: dict[str, Any] = {"action": kind, "default": None}
            if kind == "append":
                action_options.update(type=header, metavar=metavar)
            parser.add_argument(*flags, dest=dest, help=help_text, **action_options)
        else:
            parser.add_argument(
                *flags,
                dest=dest,
                type=kind,
                choices=choices,
                metavar=metavar,
                default=None,
                help=help_text,
            )
    parser.add_argument("--version", action="version", version=_version())
    return parser


def _env_converter(kind: Any) -> Callable[[str], Any]:
    if kind is argparse.BooleanOptionalAction or kind == "store_true":
        return boolean
    if kind == "append":
        return lambda value: [header(part) for part in value.split("\n") if part.strip()]
    return kind  # type: ignore[no-any-return]


def settings_from(
    namespace: argparse.Namespace,
    environ: dict[str, str] | os._Environ[str],
    parser: argparse.ArgumentParser,
) -> dict[str, Any]:
    """The Config keyword arguments: command-line values, else ``ASGIWS_*`` variables."""
    settings: dict[str, Any] = {}
    for _, dest, kind, choices, _, _ in _OPTIONS:
        value = getattr(namespace, dest)
        if value is None or (kind == "store_true" and value is False):
            raw = environ.get(ENV_PREFIX + dest.upper())
            if raw is None:
                continue
            try:
                value = _env_converter(kind)(raw)
            except (argparse.ArgumentTypeError, ValueError) as exc:
                parser.error(f"{ENV_PREFIX}{dest.upper()}: {exc}")
            if choices is not None and value not in choices:
                parser.error(
                    f"{ENV_PREFIX}{dest.upper()}: {raw!r} is not one of {', '.join(choices)}"
                )
        settings[dest] = value
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status."""
    parser = build_parser()
    namespace = parser.parse_args(argv)
    app = namespace.app or os.environ.get(ENV_PREFIX + "APP")
    if not app:
        parser.error("the application is required: asgiws module:attribute")
    settings = settings_from(namespace, os.environ, parser)
    # As uvicorn: the application's module is looked for in the current directory first (the
    # installed script's own directory is what Python put first on sys.path).
    settings.setdefault("app_dir", ".")
    from .main import serve_config  # after parsing, so --help and --version stay fast

    try:
        config = Config(app, **settings)
    except ValueError as exc:
        parser.error(str(exc))
    return serve_config(config)
