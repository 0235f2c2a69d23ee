"""``asgiws.run(app, **settings)``: serve an ASGI application until stopped, as ``uvicorn.run``."""

from __future__ import annotations

import logging
import sys
from typing import Any

from .asgi.app import AppLoadError
from .asgi.runner import Server
from .config import Config

__all__ = ["STARTUP_FAILURE", "run", "serve_config"]

STARTUP_FAILURE = 3  # exit status when the lifespan startup fails (uvicorn's too)

logger = logging.getLogger("asgiws.server")


def run(app: Any, **settings: Any) -> None:
    """Serve ``app`` (an ASGI application or ``"module:attr"``) with the :class:`Config`
    ``settings``; return after a graceful shutdown.

    Exits the process with status 1 when the application cannot be loaded or the address is
    taken, and 3 when the lifespan startup fails. ``workers=N`` (N > 1) runs N processes that
    share the listening socket; it needs ``app`` as an import string.
    """
    status = serve_config(Config(app, **settings))
    if status:
        sys.exit(status)


def serve_config(config: Config) -> int:
    """Serve with ``config`` until stopped; return the process exit status."""
    config.configure_logging()
    if config.workers > 1:
        if not isinstance(config.app, str):
            logger.error("workers > 1 needs the application as an import string: 'module:attr'")
            return 1
        from .asgi.workers import Supervisor

        return Supervisor(config).run()
    server = Server(config)
    try:
        server.run()
    except AppLoadError as exc:
        print(f"asgiws: error: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:  # pragma: no cover - a signal before the handlers were installed
        return 0
    return STARTUP_FAILURE if server.startup_failed else 0
