"""``websockets.legacy.protocol``: the connection class and ``broadcast``."""

from ..server.broadcast import broadcast
from ..server.connection import WebSocketCommonProtocol

__all__ = ["WebSocketCommonProtocol", "broadcast"]
