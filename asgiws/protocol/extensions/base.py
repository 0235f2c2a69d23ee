"""The extension interface of the engine (RFC 6455 §9): negotiation and per-frame transforms.

An extension is negotiated once per connection by a factory (one for each role) and then
transforms every *data* frame (TEXT, BINARY, CONTINUATION) in each direction. Control frames never
pass through extensions. The engine checks the RSV bits: a bit an accepted extension does not
claim in :attr:`Extension.rsv_bits` fails the connection with 1002.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..headers import ExtensionParameter

__all__ = ["ClientExtensionFactory", "Extension", "ServerExtensionFactory"]


class Extension:
    """One negotiated extension on one connection.

    Subclasses set :attr:`name` and :attr:`rsv_bits` and implement :meth:`decode` and
    :meth:`encode`.
    """

    name: str = ""
    #: The RSV bits this extension may set, as a mask of the frame's first byte
    #: (``0x40`` = RSV1, ``0x20`` = RSV2, ``0x10`` = RSV3).
    rsv_bits: int = 0

    def decode(
        self, opcode: int, payload: bytes, rsv: int, fin: bool, max_size: int | None
    ) -> bytes:
        """Transform one incoming data frame's (unmasked) payload.

        ``opcode`` is the frame's own opcode (0 for a continuation), ``rsv`` its RSV bits masked
        from the first byte (``0x40`` for RSV1). ``max_size`` is how many bytes this frame may
        still decode to before the message exceeds ``max_size`` (``None``: no limit); produce at
        most ``max_size + 1`` bytes and raise :exc:`~asgiws.exceptions.PayloadTooBig` when over.
        Raise :exc:`~asgiws.exceptions.ProtocolError` for invalid input (close 1002).
        """
        raise NotImplementedError

    def encode(self, opcode: int, payload: bytes, fin: bool) -> tuple[bytes, int]:
        """Transform one outgoing data frame's payload; return ``(payload, rsv bits to set)``."""
        raise NotImplementedError


class ServerExtensionFactory:
    """Accepts or declines a client's offer of one extension (server side)."""

    name: str = ""

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Accept one offer: return the response parameters and the extension.

        Raise :exc:`~asgiws.exceptions.NegotiationError` to decline this offer (the server
        then tries the client's next offer); ``accepted_extensions`` are those accepted so far.
        """
        raise NotImplementedError


class ClientExtensionFactory:
    """Offers one extension and checks the server's answer (client side)."""

    name: str = ""

    def get_request_params(self) -> list[ExtensionParameter]:
        """The parameters of this extension's offer."""
        raise NotImplementedError

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Extension:
        """Check the server's answer and return the extension; raise NegotiationError if invalid."""
        raise NotImplementedError
