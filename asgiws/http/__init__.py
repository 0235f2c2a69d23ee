"""HTTP/1.1 parsing and serialization, without I/O.

The request parser is an adapter with two implementations that emit the same events:
httptools (fast, the default when installed) and h11 (pure Python). Pick one with
:func:`create_parser`; the rest of asgiws never needs to know which one runs.
"""

from .parser import (
    HttpParseError,
    HttpParser,
    RequestHead,
    RequestSink,
    available_parsers,
    create_parser,
)
from .response import parse_response_head, serialize_response, serialize_response_head

__all__ = [
    "HttpParseError",
    "HttpParser",
    "RequestHead",
    "RequestSink",
    "available_parsers",
    "create_parser",
    "parse_response_head",
    "serialize_response",
    "serialize_response_head",
]
