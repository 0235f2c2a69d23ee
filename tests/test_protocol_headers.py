"""Handshake header grammar: token lists and Sec-WebSocket-Extensions (RFC 7230, RFC 6455 §9.1)."""

from __future__ import annotations

import pytest

from asgiws.exceptions import InvalidHeader, InvalidHeaderFormat
from asgiws.protocol.headers import (
    build_extension,
    build_extension_list,
    build_subprotocol_list,
    parse_extension_list,
    parse_subprotocol_list,
    parse_token_list,
    parse_upgrade_list,
)

# ------------------------------------------------------------------------------ tokens


@pytest.mark.parametrize(
    ("header", "tokens"),
    [
        ("", []),
        ("Upgrade", ["Upgrade"]),
        ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
        ("keep-alive,Upgrade", ["keep-alive", "Upgrade"]),
        ("  keep-alive ,\tUpgrade  ", ["keep-alive", "Upgrade"]),
        # RFC 7230 §7: empty list elements are allowed and skipped.
        (",", []),
        (", ,", []),
        (",a,,b,", ["a", "b"]),
        (" , a , , b , ", ["a", "b"]),
        ("!#$%&'*+-.^_`|~09azAZ", ["!#$%&'*+-.^_`|~09azAZ"]),
    ],
)
def test_parse_token_list(header: str, tokens: list[str]) -> None:
    assert parse_token_list(header) == tokens


@pytest.mark.parametrize(
    ("header", "pos"),
    [
        ("a b", 2),
        ("a;b", 1),
        ("a, b c", 5),
        ("(a)", 0),
        ('a, "b"', 3),
        ("é", 0),
        ("a,@", 2),
    ],
)
def test_parse_token_list_malformed(header: str, pos: int) -> None:
    with pytest.raises(InvalidHeaderFormat) as info:
        parse_token_list(header, "Upgrade")
    error = info.value
    assert isinstance(error, InvalidHeader)
    assert error.name == "Upgrade"
    assert error.status == 400
    assert f"at {pos} in {header}" in str(error)


def test_parse_token_list_default_name() -> None:
    with pytest.raises(InvalidHeaderFormat) as info:
        parse_token_list("a b")
    assert info.value.name == "Connection"
    assert str(info.value) == "invalid Connection header: expected comma at 2 in a b"


# ----------------------------------------------------------------------------- upgrade


@pytest.mark.parametrize(
    ("header", "protocols"),
    [
        ("websocket", ["websocket"]),
        ("WebSocket", ["WebSocket"]),
        # RFC 7230 §6.7: protocol-name ["/" protocol-version].
        ("TLS/1.2, websocket", ["TLS/1.2", "websocket"]),
        ("HTTP/2.0, SHTTP/1.3, IRC/6.9, RTA/x11", ["HTTP/2.0", "SHTTP/1.3", "IRC/6.9", "RTA/x11"]),
        ("", []),
    ],
)
def test_parse_upgrade_list(header: str, protocols: list[str]) -> None:
    assert parse_upgrade_list(header) == protocols


@pytest.mark.parametrize("header", ["web socket", "TLS/", "/1.0", "a/b/c", "websocket;"])
def test_parse_upgrade_list_malformed(header: str) -> None:
    with pytest.raises(InvalidHeaderFormat) as info:
        parse_upgrade_list(header)
    assert info.value.name == "Upgrade"
    assert info.value.status == 400


def test_connection_tokens_have_no_version() -> None:
    with pytest.raises(InvalidHeaderFormat):
        parse_token_list("Upgrade/1")


# ------------------------------------------------------------------------ subprotocols


def test_parse_subprotocol_list() -> None:
    assert parse_subprotocol_list("chat, superchat") == ["chat", "superchat"]
    assert parse_subprotocol_list("v1.chat.example") == ["v1.chat.example"]
    assert parse_subprotocol_list("") == []


def test_parse_subprotocol_list_malformed() -> None:
    with pytest.raises(InvalidHeaderFormat) as info:
        parse_subprotocol_list("chat/1")
    assert info.value.name == "Sec-WebSocket-Protocol"


def test_build_subprotocol_list() -> None:
    assert build_subprotocol_list(["chat", "superchat"]) == "chat, superchat"
    assert build_subprotocol_list([]) == ""
    assert parse_subprotocol_list(build_subprotocol_list(["a", "b"])) == ["a", "b"]


# -------------------------------------------------------------------------- extensions


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("", []),
        ("foo", [("foo", [])]),
        ("foo, bar", [("foo", []), ("bar", [])]),
        (
            "permessage-deflate; client_max_window_bits",
            [("permessage-deflate", [("client_max_window_bits", None)])],
        ),
        (
            "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
            [
                (
                    "permessage-deflate",
                    [("client_max_window_bits", "10"), ("server_no_context_takeover", None)],
                )
            ],
        ),
        # RFC 6455 §9.1: a parameter value may be a quoted string holding a token.
        ('foo; bar="baz"', [("foo", [("bar", "baz")])]),
        ('foo; bar="1"; qux=2', [("foo", [("bar", "1"), ("qux", "2")])]),
        ('foo;bar = "b\\az"', [("foo", [("bar", "baz")])]),
        ("foo ;bar ; baz=1 ,qux", [("foo", [("bar", None), ("baz", "1")]), ("qux", [])]),
        (
            "permessage-deflate; client_max_window_bits, permessage-deflate",
            [
                ("permessage-deflate", [("client_max_window_bits", None)]),
                ("permessage-deflate", []),
            ],
        ),
        (", foo ,, bar; x ,", [("foo", []), ("bar", [("x", None)])]),
    ],
)
def test_parse_extension_list(header: str, parsed: list) -> None:
    assert parse_extension_list(header) == parsed


@pytest.mark.parametrize(
    "header",
    [
        "foo;",  # a parameter name is expected
        "foo; =1",
        "foo; bar=",  # a value is expected
        'foo; bar="baz',  # unterminated quoted string
        'foo; bar="ba z"',  # quoted, but not a token
        'foo; bar=""',
        "foo; bar=ba z",
        "foo bar",
        "foo; bar baz",
        "@foo",
        'foo; bar="a\x7fb"',
    ],
)
def test_parse_extension_list_malformed(header: str) -> None:
    with pytest.raises(InvalidHeaderFormat) as info:
        parse_extension_list(header)
    assert info.value.name == "Sec-WebSocket-Extensions"
    assert info.value.status == 400


def test_parse_extension_list_error_positions() -> None:
    with pytest.raises(InvalidHeaderFormat, match='expected quoted string at 9 in foo; bar="baz'):
        parse_extension_list('foo; bar="baz')
    with pytest.raises(
        InvalidHeaderFormat, match='invalid quoted header content at 9 in foo; bar="a b"'
    ):
        parse_extension_list('foo; bar="a b"')
    with pytest.raises(InvalidHeaderFormat, match="expected token at 4 in foo;"):
        parse_extension_list("foo;")


def test_build_extension() -> None:
    assert build_extension("foo", []) == "foo"
    assert build_extension("foo", [("a", None), ("b", "1")]) == "foo; a; b=1"


def test_build_extension_list_round_trips() -> None:
    extensions = [
        (
            "permessage-deflate",
            [("client_max_window_bits", "10"), ("server_no_context_takeover", None)],
        ),
        ("x-foo", []),
    ]
    header = build_extension_list(extensions)
    assert header == (
        "permessage-deflate; client_max_window_bits=10; server_no_context_takeover, x-foo"
    )
    assert parse_extension_list(header) == extensions
    assert build_extension_list([]) == ""
