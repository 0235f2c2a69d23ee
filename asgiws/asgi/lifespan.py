"""The ASGI ``lifespan`` protocol: the application's startup and shutdown.

One task runs ``app({"type": "lifespan", ...}, receive, send)`` for the life of the server.
:meth:`Lifespan.startup` sends ``lifespan.startup`` and waits for the answer; the ``state`` dict
the application fills is shared (as a shallow copy per scope) with every request.

Modes: ``on`` requires the protocol (any failure stops the server, exit status 3); ``off`` never
runs it; ``auto`` runs it, and an application that raises before answering the startup (many
frameworks raise on an unknown scope type) is taken as not supporting lifespan: logged at info
level, the server starts anyway. A ``lifespan.startup.failed`` is a failure in every mode.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["Lifespan"]

logger = logging.getLogger("asgiws.server")


class Lifespan:
    """Drive the application's lifespan; check :attr:`should_exit` after :meth:`startup`."""

    def __init__(self, config: Any, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.mode: str = getattr(config, "lifespan", "auto")
        self.state: dict[str, Any] = state if state is not None else {}
        self.startup_failed = False
        self.shutdown_failed = False
        self.error_occurred = False  # the app raised: lifespan unsupported (auto) or broken
        self.failure_message = ""
        self.should_exit = False
        self._receive_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    async def startup(self) -> None:
        """Run the application's startup; set :attr:`should_exit` when it failed."""
        if not self.enabled:
            return
        logger.info("Waiting for application startup.")
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._receive_queue.put({"type": "lifespan.startup"})
        await self._startup_done.wait()
        if self.startup_failed or (self.error_occurred and self.mode == "on"):
            logger.error("Application startup failed. Exiting.")
            self.should_exit = True
        elif not self.error_occurred:
            logger.info("Application startup complete.")

    async def shutdown(self) -> None:
        """Run the application's shutdown (not when the protocol is off or unsupported)."""
        if not self.enabled or self.error_occurred or self._task is None:
            return
        if self._task.done():
            return  # the application returned from the lifespan scope already
        logger.info("Waiting for application shutdown.")
        await self._receive_queue.put({"type": "lifespan.shutdown"})
        await self._shutdown_done.wait()
        if self.shutdown_failed or (self.error_occurred and self.mode == "on"):
            logger.error("Application shutdown failed.")
        else:
            logger.info("Application shutdown complete.")

    async def _main(self) -> None:
        app = self.config.loaded_app
        scope = {
            "type": "lifespan",
            "asgi": {"version": getattr(self.config, "asgi_version", "3.0"), "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await app(scope, self._receive, self._send)
        except BaseException as exc:
            self.error_occurred = True
            if self.startup_failed or self.shutdown_failed:
                pass  # already reported with the application's message
            elif self.mode == "auto" and not self._startup_done.is_set():
                logger.info("ASGI 'lifespan' protocol appears unsupported.")
                logger.debug("The lifespan scope raised", exc_info=exc)
            else:
                self.failure_message = f"{type(exc).__name__}: {exc}"
                logger.error("Exception in 'lifespan' protocol", exc_info=exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            self._startup_done.set()
            self._shutdown_done.set()

    async def _receive(self) -> dict[str, Any]:
        return await self._receive_queue.get()

    async def _send(self, message: MutableMapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self._check(not self._startup_done.is_set() and not self._shutdown_done.is_set())
            self._startup_done.set()
        elif kind == "lifespan.startup.failed":
            self._check(not self._startup_done.is_set() and not self._shutdown_done.is_set())
            self.startup_failed = True
            self.failure_message = message.get("message") or ""
            if self.failure_message:
                logger.error("%s", self.failure_message)
            self._startup_done.set()
        elif kind == "lifespan.shutdown.complete":
            self._check(self._startup_done.is_set() and not self._shutdown_done.is_set())
            self._shutdown_done.set()
        elif kind == "lifespan.shutdown.failed":
            self._check(self._startup_done.is_set() and not self._shutdown_done.is_set())
            self.shutdown_failed = True
            if message.get("message"):
                logger.error("%s", message["message"])
            self._shutdown_done.set()
        else:
            raise RuntimeError(f"Unexpected ASGI lifespan message {kind!r}.")

    @staticmethod
    def _check(ok: bool) -> None:
        if not ok:
            raise RuntimeError("Got invalid state transition on lifespan protocol.")
