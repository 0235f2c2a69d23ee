"""Proxy headers: the client and scheme a trusted reverse proxy reports.

Behind a load balancer the TCP peer is the proxy, not the user. When ``proxy_headers`` is on and
the peer is listed in ``forwarded_allow_ips`` (addresses, CIDR networks, ``"*"`` for anyone,
``"unix:"`` for Unix-socket peers), :func:`apply_proxy_headers` rewrites the scope's ``client``
and ``scheme`` from RFC 7239 ``Forwarded`` or, when that is absent, ``X-Forwarded-For`` and
``X-Forwarded-Proto``. Each proxy appends the address it saw, so the list is read right to left
and the first address that is not itself a trusted proxy is the client. The same function serves
HTTP and WebSocket scopes; for a WebSocket, ``https`` becomes ``wss``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, MutableMapping
from typing import Any

__all__ = ["TrustedProxies", "apply_proxy_headers", "parse_forwarded", "trusted_proxies"]

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class TrustedProxies:
    """The set of peers whose proxy headers are believed."""

    def __init__(self, allowed: str | Iterable[str]) -> None:
        items = [allowed] if isinstance(allowed, str) else list(allowed)
        entries = [part.strip() for item in items for part in item.split(",") if part.strip()]
        self.everyone = "*" in entries
        self.unix = "unix:" in entries
        self.addresses: set[_IPAddress] = set()
        self.networks: list[_IPNetwork] = []
        self.names: set[str] = set()
        for entry in entries:
            try:
                if "/" in entry:
                    self.networks.append(ipaddress.ip_network(entry, strict=False))
                else:
                    self.addresses.add(ipaddress.ip_address(entry))
            except ValueError:
                self.names.add(entry)  # not an address: compared as written
        self._cache: dict[str, bool] = {}

    def __contains__(self, host: object) -> bool:
        if self.everyone:
            return True
        if not isinstance(host, str) or not host:
            return False
        known = self._cache.get(host)
        if known is None:
            known = self._check(host)
            if len(self._cache) < 4096:
                self._cache[host] = known
        return known

    def _check(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.names
        if address in self.addresses:
            return True
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
        if mapped is not None and mapped in self.addresses:
            return True
        return any(address in network for network in self.networks)


@functools.lru_cache(maxsize=16)
def _trusted(allowed: str | tuple[str, ...]) -> TrustedProxies:
    return TrustedProxies(allowed)


def trusted_proxies(config: Any) -> TrustedProxies:
    """The :class:`TrustedProxies` of ``config.forwarded_allow_ips`` (parsed once)."""
    allowed = getattr(config, "forwarded_allow_ips", None) or "127.0.0.1"
    return _trusted(allowed if isinstance(allowed, str) else tuple(allowed))


def _split_host_port(value: str) -> tuple[str, int]:
    """``1.2.3.4:80``, ``[::1]:80``, ``::1`` or ``1.2.3.4`` → (host, port or 0)."""
    value = value.strip().strip('"')
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else 0
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port) if port.isdigit() else 0
    return value, 0


def parse_forwarded(values: Iterable[str]) -> list[dict[str, str]]:
    """Parse RFC 7239 ``Forwarded`` header values into one dict per hop, in order.

    Parameter names are lower-cased, quoted values unquoted; a malformed pair is skipped.
    """
    hops: list[dict[str, str]] = []
    for value in values:
        for element in _split_outside_quotes(value, ","):
            hop: dict[str, str] = {}
            for pair in _split_outside_quotes(element, ";"):
                name, equals, raw = pair.partition("=")
                name = name.strip().lower()
                if not equals or not name:
                    continue
                raw = raw.strip()
                if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                    raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                hop[name] = raw
            if hop:
                hops.append(hop)
    return hops


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in (p.strip() for p in parts) if part]


def _pick(hops: list[tuple[str, int, str | None]], trusted: TrustedProxies) -> int:
    """Index of the client hop: the rightmost one that is not a trusted proxy."""
    if trusted.everyone:
        return 0
    for index in range(len(hops) - 1, -1, -1):
        if hops[index][0] not in trusted:
            return index
    return 0  # every hop is a trusted proxy: the first one is the client


def apply_proxy_headers(scope: MutableMapping[str, Any], config: Any) -> None:
    """Set ``scope["client"]`` and ``scope["scheme"]`` from trusted proxy headers, in place.

    Does nothing unless ``config.proxy_headers`` is true and the peer (``scope["client"]``) is
    trusted. Call it once the scope has its ``client``, ``scheme`` and ``headers``.
    """
    if not getattr(config, "proxy_headers", False):
        return
    trusted = trusted_proxies(config)
    client = scope.get("client")
    if client is None:
        if not (trusted.everyone or trusted.unix):
            return
    elif client[0] not in trusted:
        return
    forwarded: list[str] = []
    forwarded_for: list[str] = []
    forwarded_proto: str | None = None
    for name, value in scope["headers"]:
        if name == b"forwarded":
            forwarded.append(value.decode("latin-1"))
        elif name == b"x-forwarded-for":
            forwarded_for.append(value.decode("latin-1"))
        elif name == b"x-forwarded-proto":
            forwarded_proto = value.decode("latin-1")
    hops: list[tuple[str, int, str | None]] = []
    if forwarded:
        for hop in parse_forwarded(forwarded):
            host, port = _split_host_port(hop.get("for", ""))
            hops.append((host, port, hop.get("proto")))
    elif forwarded_for:
        for part in ",".join(forwarded_for).split(","):
            if part.strip():
                host, port = _split_host_port(part)
                hops.append((host, port, None))
    proto: str | None = None
    index = 0
    if hops:
        index = _pick(hops, trusted)
        host, port, proto = hops[index]
        # "unknown" and obfuscated "_name" identifiers (RFC 7239 §6) are not addresses.
        if host and host != "unknown" and not host.startswith("_"):
            scope["client"] = (host, port)
    if proto is None and not forwarded and forwarded_proto is not None:
        # One value per hop when proxies append; otherwise the rightmost, set by the proxy that
        # spoke to us, is the one to believe.
        protos = forwarded_proto.split(",")
        proto = protos[index] if len(protos) == len(hops) else protos[-1]
    if proto is not None:
        base = _SCHEMES.get(proto.strip().lower())
        if base is not None:
            if scope.get("type") == "websocket":
                base = "wss" if base == "https" else "ws"
            scope["scheme"] = base
