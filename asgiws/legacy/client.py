"""``websockets.legacy.client``: the same objects as :mod:`asgiws.client`."""

from ..client import Connect, WebSocketClientProtocol, connect, unix_connect

__all__ = ["Connect", "WebSocketClientProtocol", "connect", "unix_connect"]
