"""Calling user hooks written for either websockets API generation.

websockets 10.4 (the guide) calls ``process_request(path, request_headers)`` and
``select_subprotocol(client_subprotocols, server_subprotocols)``; later releases call
``process_request(connection, request)`` and ``select_subprotocol(connection, subprotocols)``.
Both forms take two arguments, so they are told apart by the names of their parameters:
a first parameter named like a connection (``connection``, ``websocket``, ``ws``, ...) or a
second named ``request`` means the newer form. Either may be a function or a coroutine function.
Handlers may take ``(websocket)`` or the older ``(websocket, path)``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from ..datastructures import Headers
from ..exceptions import NegotiationError
from ..protocol.handshake import Request

__all__ = ["call_process_request", "call_select_subprotocol", "handler_takes_path"]

_CONNECTION_NAMES = frozenset(
    ("connection", "conn", "websocket", "ws", "protocol", "server", "client", "socket")
)


def _cached(function: Callable[..., bool]) -> Callable[..., bool]:
    """``lru_cache`` for hooks and handlers that are hashable; the others (a dataclass instance
    with ``__call__``, say) are inspected on every call instead of failing with TypeError."""
    cached = functools.lru_cache(maxsize=256)(function)

    @functools.wraps(function)
    def wrapper(*args: Any) -> bool:
        try:
            return cached(*args)
        except TypeError:  # unhashable argument
            return function(*args)

    return wrapper


@_cached
def _is_new_style(hook: Callable[..., Any], second_names: frozenset[str]) -> bool:
    try:
        params = [
            p
            for p in inspect.signature(hook).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return False
    if len(params) < 2:
        return False
    return params[0].name in _CONNECTION_NAMES or params[1].name in second_names


async def call_process_request(
    hook: Callable[..., Any], connection: Any, path: str, headers: Headers
) -> Any:
    """Call a ``process_request`` hook of either form; await it when it is a coroutine."""
    if _is_new_style(hook, frozenset(("request", "req"))):
        result = hook(connection, Request(path, headers))
    else:
        result = hook(path, headers)
    if inspect.isawaitable(result):
        result = await result
    return result


def call_select_subprotocol(
    hook: Callable[..., Any],
    connection: Any,
    client_subprotocols: Sequence[str],
    server_subprotocols: Sequence[str],
) -> str | None:
    """Call a ``select_subprotocol`` hook of either form."""
    if _is_new_style(hook, frozenset()):
        try:
            return hook(connection, list(client_subprotocols))  # type: ignore[no-any-return]
        except NegotiationError:
            return None
    return hook(list(client_subprotocols), list(server_subprotocols))  # type: ignore[no-any-return]


@_cached
def handler_takes_path(handler: Callable[..., Any]) -> bool:
    """True for a ``handler(websocket, path)`` of websockets <= 10.0."""
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(None)
    except TypeError:
        try:
            signature.bind(None, "")
        except TypeError:
            return False
        return True
    return False
