"""What every benchmark server script shares: arguments, the fd limit, the event loop."""

from __future__ import annotations

import argparse
import asyncio
import resource
from collections.abc import Coroutine
from typing import Any

BROADCAST_TRIGGER = "!broadcast"
BROADCAST_PAYLOAD = "b" * 64
MAX_MESSAGE_SIZE = 2**24


def raise_fd_limit() -> None:
    """Raise RLIMIT_NOFILE to its hard limit: 5,000 connections need more than 1,024 fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def parse_args(description: str, *, unmask: bool = False) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    if unmask:
        parser.add_argument(
            "--unmask",
            choices=["c", "int"],
            default="c",
            help="c: websockets' C masking loop when installed (default); int: big-integer XOR",
        )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--deflate", action="store_true", help="accept permessage-deflate when offered"
    )
    parser.add_argument(
        "--broadcast",
        action="store_true",
        help=f"a text message {BROADCAST_TRIGGER!r} broadcasts 64 B to every other connection "
        "and answers the sender with the nanoseconds the broadcast took",
    )
    return parser.parse_args()


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop (plain asyncio when uvloop is missing), with a raised fd limit."""
    raise_fd_limit()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in asgiws[standard]
        asyncio.run(main)
    else:
        uvloop.run(main)
