"""Parsing and building the header values of the opening handshake (RFC 7230 §3.2.6, §7).

``Connection``/``Upgrade`` token lists, ``Sec-WebSocket-Protocol`` lists and the
``Sec-WebSocket-Extensions`` grammar of RFC 6455 §9.1. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..exceptions import InvalidHeaderFormat

__all__ = [
    "ExtensionHeader",
    "ExtensionParameter",
    "build_extension",
    "build_extension_list",
    "build_subprotocol_list",
    "parse_extension_list",
    "parse_subprotocol_list",
    "parse_token_list",
    "parse_upgrade_list",
]

ExtensionParameter = tuple[str, "str | None"]
ExtensionHeader = tuple[str, list[ExtensionParameter]]

# RFC 7230 §3.2.6: token = 1*tchar
_token_re = re.compile(r"[-!#$%&\'*+.^_`|~0-9a-zA-Z]+")
# RFC 7230 §6.7: an Upgrade protocol is protocol-name ["/" protocol-version], both tokens.
_protocol_re = re.compile(r"[-!#$%&\'*+.^_`|~0-9a-zA-Z]+(?:/[-!#$%&\'*+.^_`|~0-9a-zA-Z]+)?")
# Optional whitespace.
_ows_re = re.compile(r"[\t ]*")
# RFC 7230 §3.2.6 quoted-string, without obs-text.
_quoted_string_re = re.compile(
    r'"(?:[\x09\x20-\x21\x23-\x5b\x5d-\x7e]|\\[\x09\x20-\x7e\x80-\xff])*"'
)
_unquote_re = re.compile(r"\\([\x09\x20-\x7e\x80-\xff])")


def _parse_ows(header: str, pos: int) -> int:
    match = _ows_re.match(header, pos)
    assert match is not None  # matches the empty string
    return match.end()


def _parse_token(header: str, pos: int, name: str) -> tuple[str, int]:
    match = _token_re.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token", header, pos)
    return match.group(), match.end()


def _parse_token_or_quoted(header: str, pos: int, name: str) -> tuple[str, int]:
    if pos < len(header) and header[pos] == '"':
        match = _quoted_string_re.match(header, pos)
        if match is None:
            raise InvalidHeaderFormat(name, "expected quoted string", header, pos)
        return _unquote_re.sub(r"\1", match.group()[1:-1]), match.end()
    return _parse_token(header, pos, name)


def _parse_list(header: str, name: str, parse_item) -> list:  # type: ignore[no-untyped-def]
    """Parse a comma-separated ``#rule`` list (RFC 7230 §7), allowing empty elements."""
    items = []
    pos = 0
    end = len(header)
    # Leading empty elements: ", , a" is valid.
    while True:
        pos = _parse_ows(header, pos)
        if pos < end and header[pos] == ",":
            pos += 1
            continue
        break
    while pos < end:
        item, pos = parse_item(header, pos, name)
        items.append(item)
        pos = _parse_ows(header, pos)
        if pos == end:
            break
        if header[pos] != ",":
            raise InvalidHeaderFormat(name, "expected comma", header, pos)
        # Skip the comma and any empty elements that follow it.
        while True:
            pos += 1
            pos = _parse_ows(header, pos)
            if pos < end and header[pos] == ",":
                continue
            break
    return items


def parse_token_list(header: str, name: str = "Connection") -> list[str]:
    """Parse a token list such as ``Connection: keep-alive, Upgrade``; tokens keep their case."""
    return _parse_list(header, name, _parse_token)


def _parse_protocol(header: str, pos: int, name: str) -> tuple[str, int]:
    match = _protocol_re.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected protocol", header, pos)
    return match.group(), match.end()


def parse_upgrade_list(header: str, name: str = "Upgrade") -> list[str]:
    """Parse ``Upgrade: websocket, TLS/1.2``: protocols, with an optional ``/version``."""
    return _parse_list(header, name, _parse_protocol)


def parse_subprotocol_list(header: str) -> list[str]:
    """Parse ``Sec-WebSocket-Protocol``: a list of tokens."""
    return _parse_list(header, "Sec-WebSocket-Protocol", _parse_token)


def build_subprotocol_list(subprotocols: Sequence[str]) -> str:
    """Build a ``Sec-WebSocket-Protocol`` value."""
    return ", ".join(subprotocols)


def _parse_extension_param(header: str, pos: int, name: str) -> tuple[ExtensionParameter, int]:
    param, pos = _parse_token(header, pos, name)
    pos = _parse_ows(header, pos)
    value: str | None = None
    if pos < len(header) and header[pos] == "=":
        pos = _parse_ows(header, pos + 1)
        start = pos
        value, pos = _parse_token_or_quoted(header, pos, name)
        # RFC 6455 §9.1: a quoted value must still be a token once unquoted.
        if _token_re.fullmatch(value) is None:
            raise InvalidHeaderFormat(name, "invalid quoted header content", header, start)
    return (param, value), pos


def _parse_extension(header: str, pos: int, name: str) -> tuple[ExtensionHeader, int]:
    ext_name, pos = _parse_token(header, pos, name)
    pos = _parse_ows(header, pos)
    params: list[ExtensionParameter] = []
    while pos < len(header) and header[pos] == ";":
        pos = _parse_ows(header, pos + 1)
        param, pos = _parse_extension_param(header, pos, name)
        params.append(param)
        pos = _parse_ows(header, pos)
    return (ext_name, params), pos


def parse_extension_list(header: str) -> list[ExtensionHeader]:
    """Parse ``Sec-WebSocket-Extensions`` into ``[(name, [(param, value or None), ...]), ...]``.

    >>> parse_extension_list("permessage-deflate; client_max_window_bits, x-foo")
    [('permessage-deflate', [('client_max_window_bits', None)]), ('x-foo', [])]
    """
    return _parse_list(header, "Sec-WebSocket-Extensions", _parse_extension)


def build_extension(name: str, params: Sequence[ExtensionParameter]) -> str:
    """Build one extension offer or answer: ``name; param; param=value``."""
    return "; ".join(
        [name] + [param if value is None else f"{param}={value}" for param, value in params]
    )


def build_extension_list(extensions: Sequence[tuple[str, Sequence[ExtensionParameter]]]) -> str:
    """Build a ``Sec-WebSocket-Extensions`` value."""
    return ", ".join(build_extension(name, params) for name, params in extensions)
