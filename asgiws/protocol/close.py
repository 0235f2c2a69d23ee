"""Close frames: codes, payload parsing and validation (RFC 6455 §5.5.1, §7.4)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..exceptions import ProtocolError

__all__ = ["OK_CLOSE_CODES", "Close", "CloseCode", "is_valid_close_code"]


class CloseCode(enum.IntEnum):
    """Close codes of RFC 6455 §7.4.1 and the IANA registry."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved.
    NO_STATUS_RCVD = 1005  # never sent on the wire
    ABNORMAL_CLOSURE = 1006  # never sent on the wire
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never sent on the wire


#: Close codes that mean a normal closure: ConnectionClosedOK rather than ConnectionClosedError.
OK_CLOSE_CODES = frozenset((1000, 1001, 1005))

# RFC 6455 §7.4.1 and the IANA registry: the codes an endpoint may send in a close frame.
_SENDABLE = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))

_EXPLANATIONS = {
    1000: "OK",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status received [internal]",
    1006: "connection closed abnormally [internal]",
    1007: "invalid frame payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "extension required",
    1011: "unexpected error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS failure [internal]",
}


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame (RFC 6455 §7.4): 3000-4999 are for
    libraries and applications; 0-999, 1004-1006, 1015 and the unassigned rest are not."""
    return code in _SENDABLE or 3000 <= code < 5000


@dataclass(frozen=True, slots=True)
class Close:
    """A close frame's content: ``code`` (1005 for an empty payload) and ``reason``."""

    code: int
    reason: str = ""

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = _EXPLANATIONS.get(self.code, "unknown")
        result = f"{self.code} ({explanation})"
        if self.reason:
            result = f"{result} {self.reason}"
        return result

    @classmethod
    def parse(cls, payload: bytes) -> Close:
        """Parse a close payload; raise ProtocolError (1002) or UnicodeDecodeError (1007)."""
        if len(payload) >= 2:
            code = int.from_bytes(payload[:2], "big")
            if not is_valid_close_code(code):
                raise ProtocolError(f"invalid close code {code}")
            return cls(code, payload[2:].decode())
        if len(payload) == 0:
            return cls(1005, "")
        # RFC 6455 §5.5.1: a body, if present, starts with a 2-byte code.
        raise ProtocolError("close frame with a 1-byte payload")

    def serialize(self) -> bytes:
        """The close frame payload; empty for 1005 (no status)."""
        if self.code == 1005:
            return b""
        return self.code.to_bytes(2, "big") + self.reason.encode()
