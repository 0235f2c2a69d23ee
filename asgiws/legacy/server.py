"""``websockets.legacy.server``: the same objects as :mod:`asgiws.server`."""

from ..server.native import WebSocketServer, WebSocketServerProtocol, serve, unix_serve

__all__ = ["WebSocketServer", "WebSocketServerProtocol", "serve", "unix_serve"]
