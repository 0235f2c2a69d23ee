"""The ASGI adapter: turns connections into ASGI scopes and events, and nothing else.

* :mod:`asgiws.asgi.service`: :class:`~asgiws.asgi.service.ASGIService`, what each
  :class:`~asgiws.server.http.HttpConnection` serves for an ASGI application;
* :mod:`asgiws.asgi.http`: the HTTP request/response cycle;
* the WebSocket adapter and the lifespan protocol live next to them.

Submodules are imported on use, so that importing one part does not pull in the others.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ASGIService", "ClientDisconnected", "HttpCycle"]


def __getattr__(name: str) -> Any:
    if name == "ASGIService":
        from .service import ASGIService

        return ASGIService
    if name == "ClientDisconnected":
        from .errors import ClientDisconnected

        return ClientDisconnected
    if name == "HttpCycle":
        from . import http

        return getattr(http, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
