"""What the engine reports and in which state it is: roles, states and events."""

from __future__ import annotations

import enum

from .close import Close

__all__ = [
    "CloseReceived",
    "ConnectionFailed",
    "Event",
    "PingReceived",
    "PongReceived",
    "Role",
    "State",
]


class Role(enum.IntEnum):
    """Which end of the connection the engine plays."""

    SERVER = 0
    CLIENT = 1


class State(enum.IntEnum):
    """The connection's state (RFC 6455 §4, §7): the values websockets uses."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class _ControlData:
    """A received ping or pong and its application data."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.data!r})"


class PingReceived(_ControlData):
    """The peer sent a ping; the engine has queued the pong."""

    __slots__ = ()


class PongReceived(_ControlData):
    """The peer sent a pong."""

    __slots__ = ()


class CloseReceived:
    """The peer sent a close frame; the echo, if one was due, is queued."""

    __slots__ = ("close",)

    def __init__(self, close: Close) -> None:
        self.close = close

    def __repr__(self) -> str:
        return f"CloseReceived({self.close!r})"


class ConnectionFailed:
    """The peer broke the protocol: ``close`` is what the engine sent, ``error`` why."""

    __slots__ = ("close", "error")

    def __init__(self, close: Close, error: Exception) -> None:
        self.close = close
        self.error = error

    def __repr__(self) -> str:
        return f"ConnectionFailed({self.close!r}, {self.error!r})"


Event = str | bytes | PingReceived | PongReceived | CloseReceived | ConnectionFailed
