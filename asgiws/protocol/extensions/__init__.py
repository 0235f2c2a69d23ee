"""WebSocket extensions: the interface, and permessage-deflate (RFC 7692)."""

from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = ["ClientExtensionFactory", "Extension", "ServerExtensionFactory"]
