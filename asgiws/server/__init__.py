"""The asyncio layer: listening sockets, HTTP connections, WebSocket connections.

Also the module path ``websockets.server`` programs use: ``asgiws.server.serve``,
``asgiws.server.WebSocketServerProtocol``, ``asgiws.server.WebSocketServer``.
(``broadcast`` stays at the top level, as in websockets: ``asgiws.server.broadcast`` is its module.)
"""

from .connection import WebSocketCommonProtocol
from .native import WebSocketServer, WebSocketServerProtocol, serve, unix_serve

__all__ = [
    "WebSocketCommonProtocol",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "serve",
    "unix_serve",
]
