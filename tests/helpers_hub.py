"""What the hub tests share: a bounded run that fails on leftover tasks, and a bounded wait."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


def run(main: Callable[[], Awaitable[Any]], timeout: float = 90) -> Any:
    """Run ``main()`` in a new loop, bounded by ``timeout``; fail if it leaves tasks behind."""

    async def bounded() -> Any:
        before = set(asyncio.all_tasks())
        result = await asyncio.wait_for(main(), timeout)
        await asyncio.sleep(0)
        left = {t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()}
        assert not left, f"tasks left behind: {left}"
        return result

    return asyncio.run(bounded())


async def until(predicate: Callable[[], Any], timeout: float = 15.0) -> None:
    """Wait until ``predicate()`` is true, at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
