"""Test shim: a module named ``asgiws`` that is the real ``websockets`` library.

tests/test_examples.py puts the directory above this package first on PYTHONPATH
when ``ASGIWS_EXAMPLES_IMPL=websockets``: the example programs, which say
``import asgiws as websockets``, then run on websockets' legacy API — the one that
matches websockets 10.4, the API asgiws copies. This shows that the tests are right
before asgiws is measured by them.
"""

import warnings

import websockets as _websockets

with warnings.catch_warnings():
    # websockets >= 14 deprecates its legacy package; it is still what 10.4 was.
    warnings.simplefilter("ignore", DeprecationWarning)
    from websockets.legacy.client import WebSocketClientProtocol, connect, unix_connect
    from websockets.legacy.protocol import WebSocketCommonProtocol, broadcast
    from websockets.legacy.server import (
        WebSocketServer,
        WebSocketServerProtocol,
        serve,
        unix_serve,
    )

from websockets.datastructures import Headers, MultipleValuesError
from websockets.exceptions import *  # noqa: F403
from websockets.exceptions import __all__ as _exceptions_all

__version__ = _websockets.__version__

__all__ = [
    "Headers",
    "MultipleValuesError",
    "WebSocketClientProtocol",
    "WebSocketCommonProtocol",
    "WebSocketServer",
    "WebSocketServerProtocol",
    "__version__",
    "broadcast",
    "connect",
    "serve",
    "unix_connect",
    "unix_serve",
    *_exceptions_all,
]
