"""asgiws: a WebSocket server and library, and an ASGI server on the same engine.

The names users of ``websockets`` 10.4 know are here, so that ``import asgiws as websockets``
runs their programs: :func:`serve`, :func:`connect`, :func:`broadcast`, the connection classes,
:class:`Headers` and the exceptions.
"""

from .asgi.runner import Server
from .client import Connect, WebSocketClientProtocol, connect, unix_connect
from .config import Config
from .datastructures import Headers, HeadersLike, MultipleValuesError
from .exceptions import *  # noqa: F403
from .exceptions import __all__ as _exceptions_all
from .main import run
from .protocol import Close, CloseCode, State
from .server.broadcast import broadcast
from .server.connection import Data, WebSocketCommonProtocol
from .server.native import Serve, WebSocketServer, WebSocketServerProtocol, serve, unix_serve
from .version import __version__

__all__ = [
    "Close",
    "CloseCode",
    "Config",
    "Connect",
    "Data",
    "Headers",
    "HeadersLike",
    "MultipleValuesError",
    "Serve",
    "Server",
    "State",
    "WebSocketClientProtocol",
    "WebSocketCommonProtocol",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "__version__",
    "broadcast",
    "connect",
    "run",
    "serve",
    "unix_connect",
    "unix_serve",
    *_exceptions_all,
]
