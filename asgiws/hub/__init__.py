"""Broadcast to WebSockets across processes and hosts: a :class:`Hub` of channels.

``Hub("memory://")`` delivers within one process; ``Hub("redis://host:6379/0")`` through
Redis pub/sub, to every process and host connected to the same Redis. See docs/hub.md.
"""

from .backend import Backend, Deliver, HubError, HubUnavailable, MemoryBackend
from .hub import Hub, backend_from_url
from .redis_backend import RedisBackend
from .subscribers import SCOPE_EXTENSION, ASGISubscriber, connection_of

__all__ = [
    "SCOPE_EXTENSION",
    "ASGISubscriber",
    "Backend",
    "Deliver",
    "Hub",
    "HubError",
    "HubUnavailable",
    "MemoryBackend",
    "RedisBackend",
    "backend_from_url",
    "connection_of",
]
