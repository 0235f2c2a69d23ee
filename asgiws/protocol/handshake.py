"""The opening handshake for both roles (RFC 6455 §4), without I/O.

Server side: :func:`check_request` validates an upgrade request and returns the client's key;
:func:`check_origin`, :func:`select_subprotocol` and :func:`negotiate_extensions` make the choices;
:func:`build_response_headers` builds the 101 answer. Client side: :func:`build_request_headers`
and :func:`check_response`. Each error carries the HTTP status a server answers it with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ..datastructures import Headers, MultipleValuesError
from ..exceptions import (
    InvalidHeader,
    InvalidHeaderValue,
    InvalidOrigin,
    InvalidUpgrade,
    InvalidVersion,
    NegotiationError,
)
from .extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from .headers import (
    build_extension,
    build_extension_list,
    build_subprotocol_list,
    parse_extension_list,
    parse_subprotocol_list,
    parse_token_list,
    parse_upgrade_list,
)

__all__ = [
    "GUID",
    "Request",
    "Response",
    "ScannedRequest",
    "accept_key",
    "build_request_headers",
    "build_response_headers",
    "check_origin",
    "check_request",
    "check_response",
    "generate_key",
    "negotiate_extension_headers",
    "negotiate_extensions",
    "scan_request",
    "select_subprotocol",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


@dataclass
class Request:
    """An opening-handshake request, as hooks of the newer websockets API receive it."""

    path: str
    headers: Headers


@dataclass
class Response:
    """An HTTP response a hook returns to answer the handshake instead of upgrading."""

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes = b""
    _extra: dict[str, object] = field(default_factory=dict, repr=False)


def generate_key() -> str:
    """A fresh Sec-WebSocket-Key: 16 random bytes, base64-encoded (RFC 6455 §4.1)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def _single(headers: Headers, name: str) -> str:
    try:
        return headers[name]
    except KeyError:
        raise InvalidHeader(name) from None
    except MultipleValuesError:
        raise InvalidHeader(name, "multiple values") from None


def _has_token(headers: Headers, name: str, token: str) -> bool:
    # Connection holds tokens; Upgrade holds protocols, which may carry a "/version".
    parse = parse_upgrade_list if name == "Upgrade" else parse_token_list
    return any(
        value.lower() == token for header in headers.get_all(name) for value in parse(header, name)
    )


def check_request(headers: Headers) -> str:
    """Validate the headers of a WebSocket upgrade request; return Sec-WebSocket-Key.

    Raises :exc:`InvalidUpgrade` (426) when Connection or Upgrade does not ask for a
    WebSocket, :exc:`InvalidVersion` (426) for a version other than 13, and
    :exc:`InvalidHeader` (400) for a missing Host or a malformed key.
    """
    # RFC 6455 §4.2.1: tokens compare case-insensitively, inside comma-separated lists.
    if not _has_token(headers, "Connection", "upgrade"):
        raise InvalidUpgrade("Connection", ", ".join(headers.get_all("Connection")) or None)
    if not _has_token(headers, "Upgrade", "websocket"):
        raise InvalidUpgrade("Upgrade", ", ".join(headers.get_all("Upgrade")) or None)
    versions = headers.get_all("Sec-WebSocket-Version")
    if len(versions) != 1 or versions[0].strip() != "13":
        raise InvalidVersion(", ".join(versions) or None)
    _single(headers, "Host")
    key = _single(headers, "Sec-WebSocket-Key")
    try:
        raw_key = base64.b64decode(key.encode(), validate=True)
    except binascii.Error:
        raise InvalidHeaderValue("Sec-WebSocket-Key", key) from None
    if len(raw_key) != 16:
        raise InvalidHeaderValue("Sec-WebSocket-Key", key)
    return key


# RFC 9110 §5.6.2: the characters of a token.
_TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _decode_key(key: bytes) -> bytes:
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(key, strict_mode=True)
    return base64.b64decode(key, validate=True)  # pragma: no cover - Python 3.10


class ScannedRequest(NamedTuple):
    """What the server handshake needs from a common upgrade request: see :func:`scan_request`."""

    key: str
    origin: str | None
    subprotocol_headers: list[str]
    extension_headers: list[str]


def scan_request(raw_headers: Sequence[tuple[bytes, bytes]]) -> ScannedRequest | None:
    """Check a well-formed upgrade request straight from the HTTP parser's byte pairs.

    ``raw_headers`` are ``(lower-case name, value)`` pairs as the HTTP parsers give them. When
    the request is the common one (one ``Connection`` with a plain token list naming
    ``upgrade``, ``Upgrade: websocket``, ``Sec-WebSocket-Version: 13``, one ``Host``, one valid
    ``Sec-WebSocket-Key``, at most one ``Origin``), return what :func:`check_request`,
    :func:`check_origin`, :func:`client_subprotocols` and :func:`negotiate_extensions` would
    read, without building a :class:`Headers`. Return None for anything else: the full checks
    then decide, and raise the precise error.
    """
    connection = upgrade = version = key = origin = None
    hosts = 0
    subprotocols: list[str] = []
    extensions: list[str] = []
    for name, value in raw_headers:
        if name == b"host":
            hosts += 1
        elif name == b"connection":
            if connection is not None:
                return None
            connection = value
        elif name == b"upgrade":
            if upgrade is not None:
                return None
            upgrade = value
        elif name == b"sec-websocket-key":
            if key is not None:
                return None
            key = value
        elif name == b"sec-websocket-version":
            if version is not None:
                return None
            version = value
        elif name == b"origin":
            if origin is not None:
                return None
            origin = value
        elif name == b"sec-websocket-protocol":
            subprotocols.append(value.decode("latin-1"))
        elif name == b"sec-websocket-extensions":
            extensions.append(value.decode("latin-1"))
    if (
        hosts != 1
        or version != b"13"
        or key is None
        or len(key) != 24
        or upgrade is None
        or upgrade.lower() != b"websocket"
        or connection is None
    ):
        return None
    connection = connection.lower()
    if connection != b"upgrade":
        tokens = [token.strip(b" \t") for token in connection.split(b",")]
        if b"upgrade" not in tokens:
            return None
        for token in tokens:
            if not token or token.translate(None, _TOKEN_CHARS):
                return None  # empty elements, odd characters: the full parser decides
    try:
        if len(_decode_key(key)) != 16:
            return None
    except binascii.Error:
        return None
    return ScannedRequest(
        key.decode("latin-1"),
        None if origin is None else origin.decode("latin-1"),
        subprotocols,
        extensions,
    )


def check_origin(headers: Headers, origins: Sequence[str | None] | None) -> str | None:
    """Return the request's Origin; raise :exc:`InvalidOrigin` (403) when ``origins`` is set
    and does not list it (list ``None`` in ``origins`` to accept requests without Origin)."""
    try:
        origin = headers.get("Origin")
    except MultipleValuesError:
        raise InvalidHeader("Origin", "multiple values") from None
    if origins is not None and origin not in origins:
        raise InvalidOrigin(origin)
    return origin


def client_subprotocols(headers: Headers) -> list[str]:
    """The subprotocols the client offered, in its order."""
    return [
        protocol
        for header in headers.get_all("Sec-WebSocket-Protocol")
        for protocol in parse_subprotocol_list(header)
    ]


def select_subprotocol(offered: Sequence[str], available: Sequence[str] | None) -> str | None:
    """The first of the server's ``available`` subprotocols (its preference order) that the
    client offered, or None."""
    if not offered or not available:
        return None
    offered_set = set(offered)
    for protocol in available:
        if protocol in offered_set:
            return protocol
    return None


def negotiate_extensions(
    headers: Headers, factories: Sequence[ServerExtensionFactory] | None
) -> tuple[str | None, list[Extension]]:
    """Accept the client's extension offers the server supports, in the client's order.

    Returns the Sec-WebSocket-Extensions response value (None when nothing was accepted) and
    the accepted extensions. An offer a factory declines (NegotiationError) is skipped (RFC 6455
    §9.1); a malformed header raises InvalidHeaderFormat (400).
    """
    if not factories:
        return None, []
    return negotiate_extension_headers(headers.get_all("Sec-WebSocket-Extensions"), factories)


def negotiate_extension_headers(
    values: Sequence[str], factories: Sequence[ServerExtensionFactory] | None
) -> tuple[str | None, list[Extension]]:
    """:func:`negotiate_extensions` for the ``Sec-WebSocket-Extensions`` values of a request."""
    if not factories or not values:
        return None, []
    accepted: list[Extension] = []
    answers: list[str] = []
    for header in values:
        for name, params in parse_extension_list(header):
            for factory in factories:
                if factory.name != name:
                    continue
                try:
                    response_params, extension = factory.process_request_params(params, accepted)
                except NegotiationError:
                    continue
                accepted.append(extension)
                answers.append(build_extension(name, response_params))
                break
    return (", ".join(answers) if answers else None), accepted


def build_response_headers(
    key: str,
    *,
    subprotocol: str | None = None,
    extensions: str | None = None,
    server_header: str | None = None,
) -> Headers:
    """The headers of the 101 Switching Protocols answer (RFC 6455 §4.2.2)."""
    headers = Headers()
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Accept"] = accept_key(key)
    if extensions is not None:
        headers["Sec-WebSocket-Extensions"] = extensions
    if subprotocol is not None:
        headers["Sec-WebSocket-Protocol"] = subprotocol
    if server_header:
        headers["Server"] = server_header
    return headers


# ---------------------------------------------------------------------------------- client


def build_request_headers(
    host: str,
    key: str,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] | None = None,
    extensions: Sequence[ClientExtensionFactory] | None = None,
    user_agent: str | None = None,
) -> Headers:
    """The headers of a client's upgrade request (RFC 6455 §4.1)."""
    headers = Headers()
    headers["Host"] = host
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Key"] = key
    headers["Sec-WebSocket-Version"] = "13"
    if origin is not None:
        headers["Origin"] = origin
    if extensions:
        headers["Sec-WebSocket-Extensions"] = build_extension_list(
            [(factory.name, factory.get_request_params()) for factory in extensions]
        )
    if subprotocols:
        headers["Sec-WebSocket-Protocol"] = build_subprotocol_list(subprotocols)
    if user_agent:
        headers["User-Agent"] = user_agent
    return headers


def check_response(
    headers: Headers,
    key: str,
    *,
    subprotocols: Sequence[str] | None = None,
    extensions: Sequence[ClientExtensionFactory] | None = None,
) -> tuple[str | None, list[Extension]]:
    """Validate a 101 answer's headers; return the subprotocol and the accepted extensions."""
    if not _has_token(headers, "Connection", "upgrade"):
        raise InvalidUpgrade("Connection", ", ".join(headers.get_all("Connection")) or None)
    if not _has_token(headers, "Upgrade", "websocket"):
        raise InvalidUpgrade("Upgrade", ", ".join(headers.get_all("Upgrade")) or None)
    accept = _single(headers, "Sec-WebSocket-Accept")
    if accept != accept_key(key):
        raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)

    accepted: list[Extension] = []
    for header in headers.get_all("Sec-WebSocket-Extensions"):
        for name, params in parse_extension_list(header):
            refusal: NegotiationError | None = None
            for factory in extensions or ():
                if factory.name != name:
                    continue
                try:
                    accepted.append(factory.process_response_params(params, accepted))
                except NegotiationError as exc:
                    refusal = exc  # another factory of the same name may accept it
                    continue
                break
            else:
                # RFC 6455 §9.1 and RFC 7692 §7: the client fails the connection when the
                # server accepts what it did not offer, or answers with invalid parameters.
                detail = f": {refusal}" if refusal is not None else ""
                raise NegotiationError(f"unsupported extension: {name}{detail}") from refusal

    subprotocol: str | None = None
    chosen = [
        protocol
        for header in headers.get_all("Sec-WebSocket-Protocol")
        for protocol in parse_subprotocol_list(header)
    ]
    if chosen:
        if len(chosen) > 1:
            raise InvalidHeader("Sec-WebSocket-Protocol", "multiple values")
        subprotocol = chosen[0]
        if subprotocol not in (subprotocols or ()):
            raise NegotiationError(f"unsupported subprotocol: {subprotocol}")
    return subprotocol, accepted


SelectSubprotocol = Callable[[Sequence[str], Sequence[str]], "str | None"]
