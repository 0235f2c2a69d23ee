"""The ``websockets.extensions`` module path: the extension interface of asgiws's engine.

The implementation lives in :mod:`asgiws.protocol.extensions`; this package only gives it the
path programs written for websockets import from.
"""

from ..protocol.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = ["ClientExtensionFactory", "Extension", "ServerExtensionFactory"]
