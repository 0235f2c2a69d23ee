"""Finding the application: ``"module:attr"`` strings, factories, ``--app-dir``, ASGI 2 apps.

:func:`load_app` is what ``asgiws module:attr`` runs before anything listens: it imports the
module (from ``app_dir`` first when given), follows dotted attributes, calls the attribute when
it is a factory, and wraps an ASGI 2 ("double callable") application so the rest of asgiws only
ever sees ASGI 3. Every failure raises :exc:`AppLoadError` with a message fit for one line.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGI2Adapter", "AppLoadError", "import_from_string", "is_asgi2", "load_app"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class AppLoadError(Exception):
    """The application could not be found or built; ``str()`` is a one-line explanation."""


def import_from_string(target: Any) -> Any:
    """Return the object named by ``"package.module:attr.sub_attr"``; objects pass through."""
    if not isinstance(target, str):
        return target
    module_name, colon, attrs = target.partition(":")
    if not colon or not module_name or not attrs:
        raise AppLoadError(f'Import string "{target}" must be in format "<module>:<attribute>".')
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            # The module exists but something it imports does not: say so.
            raise AppLoadError(
                f'Error loading module "{module_name}": No module named "{exc.name}".'
            ) from exc
        raise AppLoadError(f'Could not import module "{module_name}".') from exc
    except Exception as exc:
        raise AppLoadError(
            f'Error loading module "{module_name}": {type(exc).__name__}: {exc}'
        ) from exc
    instance: Any = module
    try:
        for attr in attrs.split("."):
            instance = getattr(instance, attr)
    except AttributeError:
        raise AppLoadError(f'Attribute "{attrs}" not found in module "{module_name}".') from None
    return instance


def is_asgi2(app: Any) -> bool:
    """True for an ASGI 2 application: ``app(scope)`` returns ``instance(receive, send)``.

    ASGI 3 apps are coroutine functions (or objects whose ``__call__`` is one) taking three
    arguments; a class, or a callable taking one argument, is the ASGI 2 form.
    """
    if inspect.isclass(app):
        return True
    call = app if inspect.isroutine(app) else getattr(app, "__call__", None)  # noqa: B004
    if call is None:
        return False
    if inspect.iscoroutinefunction(call):
        return False
    try:
        parameters = [
            p
            for p in inspect.signature(call).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return False
    return len(parameters) == 1


class ASGI2Adapter:
    """Run an ASGI 2 application as an ASGI 3 one."""

    def __init__(self, app: Callable[[Scope], Callable[[Receive, Send], Awaitable[None]]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)


def load_app(
    target: Any, *, factory: bool = False, app_dir: str | None = None
) -> tuple[ASGIApp, str]:
    """Import and prepare the application; return it and its ASGI version ("2.0" or "3.0").

    ``target`` is an application object or ``"module:attr"``. ``factory`` calls the attribute
    without arguments to build the application. ``app_dir`` is put first on ``sys.path``.
    """
    if app_dir is not None and app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    app = import_from_string(target)
    if factory:
        if not callable(app):
            raise AppLoadError(f"The factory {target!r} is not callable.")
        try:
            app = app()
        except TypeError as exc:
            raise AppLoadError(f"Error calling the application factory: {exc}") from exc
    elif inspect.isfunction(app) and not inspect.iscoroutinefunction(app) and not is_asgi2(app):
        try:
            parameters = inspect.signature(app).parameters
        except (TypeError, ValueError):  # pragma: no cover - every function has a signature
            parameters = {}  # type: ignore[assignment]
        if not parameters:
            raise AppLoadError(
                f"{target!r} looks like an application factory: run it with --factory."
            )
    if not callable(app):
        raise AppLoadError(f"The application {target!r} is not callable.")
    if is_asgi2(app):
        return ASGI2Adapter(app), "2.0"
    return app, "3.0"
