"""The exceptions asgiws raises, named and arranged as in ``websockets`` 10.4.

* :exc:`WebSocketException`
    * :exc:`ConnectionClosed` (:exc:`ConnectionClosedOK`, :exc:`ConnectionClosedError`)
    * :exc:`InvalidHandshake`
        * :exc:`SecurityError`, :exc:`InvalidMessage`
        * :exc:`InvalidHeader` (:exc:`InvalidHeaderFormat`, :exc:`InvalidHeaderValue`,
          :exc:`InvalidOrigin`, :exc:`InvalidUpgrade`)
        * :exc:`InvalidStatus`, :exc:`InvalidStatusCode`
        * :exc:`NegotiationError` (:exc:`DuplicateParameter`, :exc:`InvalidParameterName`,
          :exc:`InvalidParameterValue`)
        * :exc:`AbortHandshake`, :exc:`RedirectHandshake`
    * :exc:`InvalidState`, :exc:`InvalidURI`, :exc:`PayloadTooBig`, :exc:`ProtocolError`

Errors of the opening handshake carry the HTTP status a server answers them with
(:attr:`InvalidHandshake.status`), so the server layer never guesses.
"""

from __future__ import annotations

import http
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .datastructures import Headers, HeadersLike
    from .protocol.close import Close

__all__ = [
    "AbortHandshake",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DuplicateParameter",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidMessage",
    "InvalidOrigin",
    "InvalidParameterName",
    "InvalidParameterValue",
    "InvalidState",
    "InvalidStatus",
    "InvalidStatusCode",
    "InvalidURI",
    "InvalidUpgrade",
    "InvalidVersion",
    "NegotiationError",
    "PayloadTooBig",
    "ProtocolError",
    "RedirectHandshake",
    "SecurityError",
    "WebSocketException",
    "WebSocketProtocolError",
]


class WebSocketException(Exception):
    """Base class for every exception asgiws defines."""


class ConnectionClosed(WebSocketException):
    """Raised when using a connection that is closed or closing.

    :attr:`rcvd` is the close frame received (``None`` when none was), :attr:`sent` the close
    frame sent; :attr:`code` and :attr:`reason` are those of the received frame, or 1006 and
    ``""`` when the TCP connection went away without one (as ``websockets`` 10.4 has them).
    """

    def __init__(
        self, rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None = None
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    @property
    def code(self) -> int:
        """The close code received, or 1006 (abnormal closure) when none was."""
        return 1006 if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        """The close reason received, or ``""``."""
        return "" if self.rcvd is None else self.rcvd.reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally: close codes 1000, 1001 or none (1005) on both sides."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed abnormally: a protocol error, a timeout, or a lost TCP link."""


class InvalidHandshake(WebSocketException):
    """The opening handshake failed. :attr:`status` is the HTTP status a server answers with."""

    status: http.HTTPStatus = http.HTTPStatus.BAD_REQUEST


class SecurityError(InvalidHandshake):
    """The handshake would exceed a security limit (too many headers, too long a line)."""


class InvalidMessage(InvalidHandshake):
    """The handshake request or response is not a valid HTTP message."""


class InvalidHeader(InvalidHandshake):
    """A handshake header is missing or has a wrong value."""

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.value = value
        super().__init__(name, value)

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """A handshake header cannot be parsed."""

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {header}")


class InvalidHeaderValue(InvalidHeader):
    """A handshake header has a value the handshake cannot accept."""


class InvalidOrigin(InvalidHeader):
    """The Origin header is not one of the server's ``origins`` (HTTP 403)."""

    status = http.HTTPStatus.FORBIDDEN

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header does not ask for a WebSocket (HTTP 426)."""

    status = http.HTTPStatus.UPGRADE_REQUIRED


class InvalidVersion(InvalidHeader):
    """Sec-WebSocket-Version is not 13 (HTTP 426 with ``Sec-WebSocket-Version: 13``)."""

    status = http.HTTPStatus.UPGRADE_REQUIRED

    def __init__(self, value: str | None) -> None:
        super().__init__("Sec-WebSocket-Version", value)


class InvalidStatus(InvalidHandshake):
    """The server answered the handshake with a status other than 101."""

    def __init__(self, response: Any) -> None:
        self.response = response
        super().__init__(f"server rejected WebSocket connection: HTTP {response.status_code}")


class InvalidStatusCode(InvalidHandshake):
    """The server answered the handshake with this status code instead of 101."""

    def __init__(self, status_code: int, headers: Headers) -> None:
        self.status_code = status_code
        self.headers = headers
        super().__init__(f"server rejected WebSocket connection: HTTP {status_code}")


class NegotiationError(InvalidHandshake):
    """An extension or subprotocol negotiation failed."""


class DuplicateParameter(NegotiationError):
    """An extension parameter is given twice."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"duplicate parameter: {name}")


class InvalidParameterName(NegotiationError):
    """An extension parameter has an unknown name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"invalid parameter name: {name}")


class InvalidParameterValue(NegotiationError):
    """An extension parameter has an invalid value."""

    def __init__(self, name: str, value: str | None) -> None:
        self.name = name
        self.value = value
        super().__init__(f"invalid value for parameter {name}: {value}")


class AbortHandshake(InvalidHandshake):
    """Raise from ``process_request`` to answer the handshake with this HTTP response."""

    def __init__(
        self, status: http.HTTPStatus | int, headers: HeadersLike = None, body: bytes = b""
    ) -> None:
        from .datastructures import Headers

        self.status = http.HTTPStatus(status)
        self.headers = Headers(headers) if headers is not None else Headers()
        self.body = body
        super().__init__(f"HTTP {int(self.status)}, {len(self.headers)} headers, {len(body)} bytes")


class RedirectHandshake(InvalidHandshake):
    """The server redirected the client (3xx); ``connect()`` follows it."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        super().__init__(f"redirect to {uri}")


class InvalidState(WebSocketException, AssertionError):
    """An operation is not allowed in the connection's current state."""


class InvalidURI(WebSocketException):
    """A URI is not a valid ``ws://`` or ``wss://`` URI."""

    def __init__(self, uri: str, msg: str = "isn't a valid URI") -> None:
        self.uri = uri
        self.msg = msg
        super().__init__(f"{uri} {msg}")


class PayloadTooBig(WebSocketException):
    """A message is larger than ``max_size`` (close code 1009)."""


class ProtocolError(WebSocketException):
    """The peer broke RFC 6455 (close code 1002, or 1007 for invalid UTF-8)."""


WebSocketProtocolError = ProtocolError  # the name websockets 10.4 also exports
