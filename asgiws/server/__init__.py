"""The asyncio layer: listening sockets, HTTP connections, WebSocket connections."""
