"""HTTP header containers shared by the handshake, the server and the client.

:class:`Headers` behaves like the ``websockets.datastructures.Headers`` that users of the
``websockets`` library know: a case-insensitive multi-dict whose ``[]`` returns the one value of
a header, ``get_all()`` every value, and whose ``[]=`` *adds* a value (HTTP headers may repeat).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

__all__ = ["Headers", "HeadersLike", "MultipleValuesError"]


class MultipleValuesError(LookupError):
    """Raised by ``Headers[name]`` when the header appears more than once."""

    def __str__(self) -> str:
        # Like KeyError, a one-argument error shows its argument with repr().
        if len(self.args) == 1:
            return repr(self.args[0])
        return super().__str__()


class Headers(MutableMapping[str, str]):
    """A case-insensitive, order-keeping multi-dict of HTTP headers.

    >>> headers = Headers(Host="example.com")
    >>> headers["Set-Cookie"] = "a=1"
    >>> headers["Set-Cookie"] = "b=2"  # adds a second value
    >>> headers.get_all("set-cookie")
    ['a=1', 'b=2']
    """

    __slots__ = ["_dict", "_list"]

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        self._dict: dict[str, list[str]] = {}
        self._list: list[tuple[str, str]] = []
        if args or kwargs:
            self.update(*args, **kwargs)

    def __str__(self) -> str:
        return "".join(f"{key}: {value}\r\n" for key, value in self._list) + "\r\n"

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._list!r})"

    def copy(self) -> Headers:
        """Return a shallow copy."""
        copy = self.__class__()
        copy._dict = {key: list(values) for key, values in self._dict.items()}
        copy._list = list(self._list)
        return copy

    def serialize(self) -> bytes:
        """Serialize as an HTTP header block, ending with the blank line."""
        return str(self).encode()

    # Mapping methods: keys are case-insensitive.

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __getitem__(self, key: str) -> str:
        values = self._dict[key.lower()]
        if len(values) == 1:
            return values[0]
        raise MultipleValuesError(key)

    def __setitem__(self, key: str, value: str) -> None:
        lower = _LOWER.get(key)
        if lower is None:
            lower = key.lower()
        values = self._dict.get(lower)
        if values is None:
            self._dict[lower] = [value]
        else:
            values.append(value)
        self._list.append((key, value))

    def __delitem__(self, key: str) -> None:
        key_lower = key.lower()
        del self._dict[key_lower]
        self._list = [(k, v) for k, v in self._list if k.lower() != key_lower]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._dict == other._dict

    def clear(self) -> None:
        """Remove every header."""
        self._dict = {}
        self._list = []

    def update(self, *args: HeadersLike, **kwargs: str) -> None:
        """Add headers from a mapping, a :class:`Headers` or an iterable of pairs."""
        args = tuple(arg.raw_items() if isinstance(arg, Headers) else arg for arg in args)
        super().update(*args, **kwargs)

    # Multi-value methods.

    def get_all(self, key: str) -> list[str]:
        """Return every value of a header, in order (an empty list when absent)."""
        return self._dict.get(key.lower(), [])

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """Return every ``(name, value)`` pair as received or set, in order."""
        return iter(self._list)

    @classmethod
    def from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Build from ``(name, value)`` byte pairs, as the HTTP parsers give them."""
        headers = cls()
        d = headers._dict
        items = headers._list
        names = _NAMES
        for raw_name, raw_value in raw:
            cached = names.get(raw_name)
            if cached is None:
                name = raw_name.decode("latin-1")
                lower = name.lower()
                if len(names) < _NAMES_LIMIT:
                    # Lower-case names (what the parsers give) share one str with their key.
                    names[raw_name] = (lower, lower) if lower == name else (name, lower)
            else:
                name, lower = cached
            value = raw_value.decode("latin-1")
            values = d.get(lower)
            if values is None:
                d[lower] = [value]
            else:
                values.append(value)
            items.append((name, value))
        return headers


# Header names seen by from_raw, decoded once: raw name -> (name, lower-cased name). Bounded, so
# that a client sending made-up names cannot grow it.
_NAMES: dict[bytes, tuple[str, str]] = {}
_NAMES_LIMIT = 512
# Lower-cased forms of the names the handshake and the servers set.
_LOWER: dict[str, str] = {
    name: name.lower()
    for name in (
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Server",
        "Host",
        "Origin",
        "User-Agent",
        "Content-Type",
        "Content-Length",
        "Date",
    )
}

HeadersLike = Headers | Mapping[str, str] | Iterable[tuple[str, str]] | Any
"""Anything :class:`Headers` accepts: a Headers, a mapping, or ``(name, value)`` pairs."""
