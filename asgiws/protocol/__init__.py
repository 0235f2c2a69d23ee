"""The sans-I/O WebSocket engine: frames, the close handshake, the opening handshake checks.

Nothing here imports asyncio or touches a socket (see DESIGN.md).
"""

from .close import OK_CLOSE_CODES, Close, CloseCode
from .connection import Connection
from .events import (
    CloseReceived,
    ConnectionFailed,
    Event,
    PingReceived,
    PongReceived,
    Role,
    State,
)
from .frames import Opcode, apply_mask, build_frame

__all__ = [
    "OK_CLOSE_CODES",
    "Close",
    "CloseCode",
    "CloseReceived",
    "Connection",
    "ConnectionFailed",
    "Event",
    "Opcode",
    "PingReceived",
    "PongReceived",
    "Role",
    "State",
    "apply_mask",
    "build_frame",
]
