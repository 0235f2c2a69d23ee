"""The opening handshake checks of both roles (RFC 6455 §4), without I/O.

Every rejection carries the HTTP status the server answers with: 400 for a malformed request,
426 for a missing upgrade or an unsupported version, 403 for a forbidden origin.
"""

from __future__ import annotations

import http
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgiws.datastructures import Headers
from asgiws.exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidOrigin,
    InvalidUpgrade,
    InvalidVersion,
    NegotiationError,
)
from asgiws.protocol.extensions.base import (
    ClientExtensionFactory,
    Extension,
    ServerExtensionFactory,
)
from asgiws.protocol.handshake import (
    GUID,
    Request,
    Response,
    accept_key,
    build_request_headers,
    build_response_headers,
    check_origin,
    check_request,
    check_response,
    client_subprotocols,
    generate_key,
    negotiate_extensions,
    scan_request,
    select_subprotocol,
)
from asgiws.protocol.headers import ExtensionParameter, parse_subprotocol_list

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def request_headers(**overrides: str | None) -> Headers:
    """A valid upgrade request; ``overrides`` replace (or, with None, drop) headers."""
    values: dict[str, str | None] = {
        "Host": "server.example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    values.update({name.replace("_", "-"): value for name, value in overrides.items()})
    return Headers([(name, value) for name, value in values.items() if value is not None])


def response_headers(**overrides: str | None) -> Headers:
    values: dict[str, str | None] = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": ACCEPT,
    }
    values.update({name.replace("_", "-"): value for name, value in overrides.items()})
    return Headers([(name, value) for name, value in values.items() if value is not None])


# ------------------------------------------------------------------------------ keys


def test_accept_key_rfc_example() -> None:
    # RFC 6455 §1.3.
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_key(KEY) == ACCEPT


def test_generate_key_is_16_random_bytes_base64() -> None:
    import base64

    keys = {generate_key() for _ in range(8)}
    assert len(keys) == 8
    for key in keys:
        assert len(base64.b64decode(key, validate=True)) == 16
        assert check_request(request_headers(Sec_WebSocket_Key=key)) == key


# ---------------------------------------------------------------------- check_request


def test_check_request_returns_the_key() -> None:
    assert check_request(request_headers()) == KEY


@pytest.mark.parametrize(
    "connection",
    ["Upgrade", "upgrade", "UPGRADE", "keep-alive, Upgrade", "Upgrade, keep-alive", "  , upgrade"],
)
def test_connection_token_lists_are_case_insensitive(connection: str) -> None:
    assert check_request(request_headers(Connection=connection)) == KEY


@pytest.mark.parametrize(
    "upgrade", ["websocket", "WebSocket", "WEBSOCKET", "foo, websocket", "TLS/1.2, websocket"]
)
def test_upgrade_token_lists_are_case_insensitive(upgrade: str) -> None:
    assert check_request(request_headers(Upgrade=upgrade)) == KEY


def test_connection_token_in_a_second_header() -> None:
    headers = request_headers(Connection="keep-alive")
    headers["Connection"] = "Upgrade"
    assert check_request(headers) == KEY


@pytest.mark.parametrize("connection", [None, "", "keep-alive", "close", "upgraded", "Upgrade2"])
def test_missing_connection_upgrade_is_426(connection: str | None) -> None:
    with pytest.raises(InvalidUpgrade) as info:
        check_request(request_headers(Connection=connection))
    assert info.value.status == http.HTTPStatus.UPGRADE_REQUIRED == 426
    assert info.value.name == "Connection"
    assert info.value.value == (connection or None)


@pytest.mark.parametrize("upgrade", [None, "h2c", "websockets", "websocket/13", "web socket"])
def test_missing_upgrade_websocket_is_426(upgrade: str | None) -> None:
    with pytest.raises((InvalidUpgrade, InvalidHeaderFormat)) as info:
        check_request(request_headers(Upgrade=upgrade))
    if upgrade == "web socket":
        # Not a token list at all: a malformed header, 400.
        assert info.value.status == 400
    else:
        assert isinstance(info.value, InvalidUpgrade)
        assert info.value.status == 426
        assert str(info.value) == (
            "missing Upgrade header" if upgrade is None else f"invalid Upgrade header: {upgrade}"
        )


def test_malformed_connection_header_is_400() -> None:
    with pytest.raises(InvalidHeaderFormat) as info:
        check_request(request_headers(Connection="Upgrade;"))
    assert info.value.status == 400


@pytest.mark.parametrize("version", [None, "8", "12", "14", "13, 8", "thirteen", ""])
def test_version_other_than_13_is_426(version: str | None) -> None:
    with pytest.raises(InvalidVersion) as info:
        check_request(request_headers(Sec_WebSocket_Version=version))
    assert info.value.status == 426
    assert info.value.name == "Sec-WebSocket-Version"


def test_two_version_headers_are_426() -> None:
    headers = request_headers()
    headers["Sec-WebSocket-Version"] = "13"
    with pytest.raises(InvalidVersion) as info:
        check_request(headers)
    assert info.value.value == "13, 13"


def test_missing_host_is_400() -> None:
    with pytest.raises(InvalidHeader) as info:
        check_request(request_headers(Host=None))
    assert info.value.status == 400
    assert str(info.value) == "missing Host header"


def test_two_host_headers_are_400() -> None:
    headers = request_headers()
    headers["Host"] = "other.example.com"
    with pytest.raises(InvalidHeader) as info:
        check_request(headers)
    assert info.value.status == 400
    assert str(info.value) == "invalid Host header: multiple values"


def test_missing_key_is_400() -> None:
    with pytest.raises(InvalidHeader) as info:
        check_request(request_headers(Sec_WebSocket_Key=None))
    assert info.value.status == 400
    assert info.value.name == "Sec-WebSocket-Key"


def test_two_keys_are_400() -> None:
    headers = request_headers()
    headers["Sec-WebSocket-Key"] = KEY
    with pytest.raises(InvalidHeader) as info:
        check_request(headers)
    assert info.value.status == 400


@pytest.mark.parametrize(
    "key",
    [
        "",
        "not base64!",
        "dGhlIHNhbXBsZSBub25jZQ",  # missing padding
        "dGhlIHNhbXBsZSBub25j",  # 15 bytes
        "dGhlIHNhbXBsZSBub25jZSE=",  # 17 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # 24 bytes
        "dGhlIHNhbXBsZSBub25jZQ==\x00",
        "dGhlIHNhbXBsZSBub25jZQ==é",
    ],
)
def test_invalid_key_is_400(key: str) -> None:
    with pytest.raises(InvalidHeaderValue) as info:
        check_request(request_headers(Sec_WebSocket_Key=key))
    assert info.value.status == 400
    assert info.value.name == "Sec-WebSocket-Key"
    assert info.value.value == key


def test_header_names_are_case_insensitive() -> None:
    headers = Headers(
        [
            ("host", "h"),
            ("UPGRADE", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-key", KEY),
            ("SEC-WEBSOCKET-VERSION", "13"),
        ]
    )
    assert check_request(headers) == KEY


# ------------------------------------------------------------------------ check_origin


def test_check_origin_without_origins_accepts_anything() -> None:
    assert check_origin(request_headers(), None) is None
    assert check_origin(request_headers(Origin="https://evil.example"), None) == (
        "https://evil.example"
    )


def test_check_origin_listed() -> None:
    origins = ["https://a.example", "https://b.example"]
    assert check_origin(request_headers(Origin="https://b.example"), origins) == (
        "https://b.example"
    )


def test_check_origin_not_listed_is_403() -> None:
    with pytest.raises(InvalidOrigin) as info:
        check_origin(request_headers(Origin="https://evil.example"), ["https://a.example"])
    assert info.value.status == http.HTTPStatus.FORBIDDEN == 403
    assert str(info.value) == "invalid Origin header: https://evil.example"


def test_check_origin_missing_needs_none_in_origins() -> None:
    with pytest.raises(InvalidOrigin) as info:
        check_origin(request_headers(), ["https://a.example"])
    assert str(info.value) == "missing Origin header"
    assert check_origin(request_headers(), ["https://a.example", None]) is None


def test_check_origin_is_case_sensitive() -> None:
    with pytest.raises(InvalidOrigin):
        check_origin(request_headers(Origin="https://A.example"), ["https://a.example"])


def test_check_origin_multiple_values_is_400() -> None:
    headers = request_headers(Origin="https://a.example")
    headers["Origin"] = "https://b.example"
    with pytest.raises(InvalidHeader) as info:
        check_origin(headers, None)
    assert info.value.status == 400
    assert not isinstance(info.value, InvalidOrigin)


# ------------------------------------------------------------------------- subprotocols


def test_client_subprotocols_in_order() -> None:
    headers = request_headers(Sec_WebSocket_Protocol="chat, superchat")
    headers["Sec-WebSocket-Protocol"] = "v2.chat"
    assert client_subprotocols(headers) == ["chat", "superchat", "v2.chat"]
    assert client_subprotocols(request_headers()) == []


def test_select_subprotocol_follows_server_preference() -> None:
    assert select_subprotocol(["chat", "superchat"], ["superchat", "chat"]) == "superchat"
    assert select_subprotocol(["superchat", "chat"], ["chat", "superchat"]) == "chat"
    assert select_subprotocol(["a", "b"], ["c", "b"]) == "b"


@pytest.mark.parametrize(
    ("offered", "available"),
    [([], ["chat"]), (["chat"], []), (["chat"], None), (["a"], ["b"]), ([], None)],
)
def test_select_subprotocol_none(offered: list[str], available: list[str] | None) -> None:
    assert select_subprotocol(offered, available) is None


def test_select_subprotocol_is_case_sensitive() -> None:
    assert select_subprotocol(["Chat"], ["chat"]) is None


# --------------------------------------------------------------------------- extensions


class FakeExtension(Extension):
    def __init__(self, name: str, params: Sequence[ExtensionParameter]) -> None:
        self.name = name
        self.params = list(params)

    def __repr__(self) -> str:
        return f"FakeExtension({self.name!r}, {self.params!r})"


class FakeServerFactory(ServerExtensionFactory):
    """Accepts offers of ``name`` unless they carry a ``decline`` parameter; echoes params."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[list[ExtensionParameter], list[Extension]]] = []

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        self.calls.append((list(params), list(accepted_extensions)))
        if any(name == "decline" for name, _ in params):
            raise NegotiationError("declined")
        if any(ext.name == self.name for ext in accepted_extensions):
            raise NegotiationError("duplicate")
        return list(params), FakeExtension(self.name, params)


class FakeClientFactory(ClientExtensionFactory):
    def __init__(self, name: str, params: list[ExtensionParameter] | None = None) -> None:
        self.name = name
        self.params = params or []

    def get_request_params(self) -> list[ExtensionParameter]:
        return self.params

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Extension:
        if any(name == "bad" for name, _ in params):
            raise NegotiationError("bad answer")
        return FakeExtension(self.name, params)


def test_factory_base_classes_are_abstract() -> None:
    server_factory = ServerExtensionFactory()
    client_factory = ClientExtensionFactory()
    assert server_factory.name == client_factory.name == ""
    with pytest.raises(NotImplementedError):
        server_factory.process_request_params([], [])
    with pytest.raises(NotImplementedError):
        client_factory.get_request_params()
    with pytest.raises(NotImplementedError):
        client_factory.process_response_params([], [])


def test_negotiate_extensions_without_factories() -> None:
    headers = request_headers(Sec_WebSocket_Extensions="x-a")
    assert negotiate_extensions(headers, None) == (None, [])
    assert negotiate_extensions(headers, []) == (None, [])


def test_negotiate_extensions_without_offers() -> None:
    assert negotiate_extensions(request_headers(), [FakeServerFactory("x-a")]) == (None, [])


def test_negotiate_extensions_accepts_in_client_order() -> None:
    headers = request_headers(Sec_WebSocket_Extensions="x-b; p=1, x-a")
    header, accepted = negotiate_extensions(
        headers, [FakeServerFactory("x-a"), FakeServerFactory("x-b")]
    )
    assert header == "x-b; p=1, x-a"
    assert [(ext.name, ext.params) for ext in accepted] == [("x-b", [("p", "1")]), ("x-a", [])]


def test_negotiate_extensions_declined_offer_falls_to_the_next() -> None:
    # RFC 6455 §9.1: the client lists alternatives; a declined offer lets the next one in.
    factory = FakeServerFactory("x-a")
    headers = request_headers(Sec_WebSocket_Extensions="x-a; decline, x-a; level=2")
    header, accepted = negotiate_extensions(headers, [factory])
    assert header == "x-a; level=2"
    assert [ext.params for ext in accepted] == [[("level", "2")]]
    assert [params for params, _ in factory.calls] == [[("decline", None)], [("level", "2")]]


def test_negotiate_extensions_declining_factory_falls_to_the_next_factory() -> None:
    class Picky(FakeServerFactory):
        def process_request_params(self, params, accepted_extensions):  # type: ignore[no-untyped-def]
            raise NegotiationError("never")

    headers = request_headers(Sec_WebSocket_Extensions="x-a")
    header, accepted = negotiate_extensions(headers, [Picky("x-a"), FakeServerFactory("x-a")])
    assert header == "x-a"
    assert len(accepted) == 1


def test_negotiate_extensions_passes_accepted_so_far() -> None:
    factory = FakeServerFactory("x-a")
    headers = request_headers(Sec_WebSocket_Extensions="x-b, x-a")
    headers["Sec-WebSocket-Extensions"] = "x-a; again"
    header, accepted = negotiate_extensions(headers, [FakeServerFactory("x-b"), factory])
    assert header == "x-b, x-a"
    assert [ext.name for ext in factory.calls[0][1]] == ["x-b"]
    # The second x-a offer sees the first accepted and is declined as a duplicate.
    assert [ext.name for ext in factory.calls[1][1]] == ["x-b", "x-a"]
    assert [ext.name for ext in accepted] == ["x-b", "x-a"]


def test_negotiate_extensions_ignores_unknown_offers() -> None:
    headers = request_headers(Sec_WebSocket_Extensions="x-unknown, x-a; decline")
    assert negotiate_extensions(headers, [FakeServerFactory("x-a")]) == (None, [])


def test_negotiate_extensions_malformed_header_is_400() -> None:
    headers = request_headers(Sec_WebSocket_Extensions="x-a; =1")
    with pytest.raises(InvalidHeaderFormat) as info:
        negotiate_extensions(headers, [FakeServerFactory("x-a")])
    assert info.value.status == 400
    assert info.value.name == "Sec-WebSocket-Extensions"


# --------------------------------------------------------------------- server response


def test_build_response_headers_minimal() -> None:
    headers = build_response_headers(KEY)
    assert list(headers.raw_items()) == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
    ]


def test_build_response_headers_full() -> None:
    headers = build_response_headers(
        KEY, subprotocol="chat", extensions="x-a; p=1", server_header="asgiws"
    )
    assert headers["Sec-WebSocket-Protocol"] == "chat"
    assert headers["Sec-WebSocket-Extensions"] == "x-a; p=1"
    assert headers["Server"] == "asgiws"
    # A server's answer passes the client's checks.
    subprotocol, accepted = check_response(
        headers, KEY, subprotocols=["chat"], extensions=[FakeClientFactory("x-a")]
    )
    assert subprotocol == "chat"
    assert [(ext.name, ext.params) for ext in accepted] == [("x-a", [("p", "1")])]


def test_request_and_response_records() -> None:
    request = Request("/chat", request_headers())
    assert request.path == "/chat" and request.headers["Host"] == "server.example.com"
    response = Response(403, "Forbidden", Headers(), b"no")
    assert (response.status_code, response.reason_phrase, response.body) == (
        403,
        "Forbidden",
        b"no",
    )
    assert Response(200, "OK", Headers()).body == b""


# ----------------------------------------------------------------------- client side


def test_build_request_headers_minimal() -> None:
    headers = build_request_headers("example.com:8080", KEY)
    assert list(headers.raw_items()) == [
        ("Host", "example.com:8080"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ]
    # The server side accepts it.
    assert check_request(headers) == KEY


def test_build_request_headers_full() -> None:
    headers = build_request_headers(
        "example.com",
        KEY,
        origin="https://example.com",
        subprotocols=["chat", "superchat"],
        extensions=[FakeClientFactory("x-a", [("p", None), ("q", "2")]), FakeClientFactory("x-b")],
        user_agent="asgiws/1",
    )
    assert headers["Origin"] == "https://example.com"
    assert headers["Sec-WebSocket-Protocol"] == "chat, superchat"
    assert headers["Sec-WebSocket-Extensions"] == "x-a; p; q=2, x-b"
    assert headers["User-Agent"] == "asgiws/1"
    assert client_subprotocols(headers) == ["chat", "superchat"]
    header, _ = negotiate_extensions(headers, [FakeServerFactory("x-b")])
    assert header == "x-b"


def test_check_response_minimal() -> None:
    assert check_response(response_headers(), KEY) == (None, [])


@pytest.mark.parametrize(
    "overrides",
    [{"Connection": None}, {"Connection": "close"}, {"Upgrade": None}, {"Upgrade": "h2c"}],
)
def test_check_response_without_upgrade(overrides: dict[str, str | None]) -> None:
    with pytest.raises(InvalidUpgrade):
        check_response(response_headers(**overrides), KEY)


def test_check_response_upgrade_with_versioned_protocols() -> None:
    headers = response_headers(Upgrade="websocket, TLS/1.2")
    assert check_response(headers, KEY) == (None, [])


def test_check_response_wrong_accept() -> None:
    with pytest.raises(InvalidHeaderValue) as info:
        check_response(response_headers(Sec_WebSocket_Accept=accept_key("other")), KEY)
    assert info.value.name == "Sec-WebSocket-Accept"


def test_check_response_missing_accept() -> None:
    with pytest.raises(InvalidHeader) as info:
        check_response(response_headers(Sec_WebSocket_Accept=None), KEY)
    assert str(info.value) == "missing Sec-WebSocket-Accept header"


def test_check_response_two_accepts() -> None:
    headers = response_headers()
    headers["Sec-WebSocket-Accept"] = ACCEPT
    with pytest.raises(InvalidHeader, match="multiple values"):
        check_response(headers, KEY)


def test_check_response_subprotocol() -> None:
    headers = response_headers(Sec_WebSocket_Protocol="superchat")
    assert check_response(headers, KEY, subprotocols=["chat", "superchat"]) == ("superchat", [])


@pytest.mark.parametrize("offered", [None, [], ["chat"]])
def test_check_response_unexpected_subprotocol(offered: list[str] | None) -> None:
    headers = response_headers(Sec_WebSocket_Protocol="superchat")
    with pytest.raises(NegotiationError, match="unsupported subprotocol: superchat"):
        check_response(headers, KEY, subprotocols=offered)


def test_check_response_several_subprotocols() -> None:
    headers = response_headers(Sec_WebSocket_Protocol="chat, superchat")
    with pytest.raises(InvalidHeader, match="multiple values"):
        check_response(headers, KEY, subprotocols=["chat", "superchat"])


def test_check_response_unoffered_extension() -> None:
    # RFC 6455 §9.1: the server may only use extensions the client offered.
    headers = response_headers(Sec_WebSocket_Extensions="x-b")
    with pytest.raises(NegotiationError, match="unsupported extension: x-b"):
        check_response(headers, KEY, extensions=[FakeClientFactory("x-a")])
    with pytest.raises(NegotiationError, match="unsupported extension: x-b"):
        check_response(headers, KEY)


def test_check_response_extension_the_factory_refuses() -> None:
    headers = response_headers(Sec_WebSocket_Extensions="x-a; bad")
    with pytest.raises(NegotiationError, match="unsupported extension: x-a"):
        check_response(headers, KEY, extensions=[FakeClientFactory("x-a")])


def test_check_response_extensions_in_server_order() -> None:
    headers = response_headers(Sec_WebSocket_Extensions='x-b; y="1"')
    headers["Sec-WebSocket-Extensions"] = "x-a"
    _, accepted = check_response(
        headers, KEY, extensions=[FakeClientFactory("x-a"), FakeClientFactory("x-b")]
    )
    assert [(ext.name, ext.params) for ext in accepted] == [("x-b", [("y", "1")]), ("x-a", [])]


def test_check_response_second_factory_of_the_same_name() -> None:
    headers = response_headers(Sec_WebSocket_Extensions="x-a; bad")

    class Lenient(FakeClientFactory):
        def process_response_params(self, params, accepted_extensions):  # type: ignore[no-untyped-def]
            return FakeExtension("x-a", [])

    _, accepted = check_response(
        headers, KEY, extensions=[FakeClientFactory("x-a"), Lenient("x-a")]
    )
    assert len(accepted) == 1


def test_handshake_errors_are_invalid_handshake() -> None:
    for error in [InvalidUpgrade("Upgrade"), InvalidVersion("8"), InvalidOrigin(None)]:
        assert isinstance(error, InvalidHandshake)
    assert InvalidHeader("X").status == 400
    assert str(InvalidHeader("X", "")) == "empty X header"
    assert str(InvalidVersion("8")) == "invalid Sec-WebSocket-Version header: 8"


# -- scan_request: the server's fast path agrees with the full checks -----------------------------

_VALID_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
_scan_values = {
    b"host": [b"example.com", b""],
    b"connection": [
        b"Upgrade",
        b"upgrade",
        b"keep-alive, Upgrade",
        b", upgrade",
        b"up grade",
        b"close",
    ],
    b"upgrade": [b"websocket", b"WebSocket", b"websocket/13", b"h2c"],
    b"sec-websocket-version": [b"13", b"8", b" 13"],
    b"sec-websocket-key": [
        _VALID_KEY,
        b"dGhlIHNhbXBsZSBub25jZQ=",
        b"AAAAAAAAAAAAAAAAAAAAAA=A",
        b"!" * 24,
    ],
    b"origin": [b"https://a.example", b"null"],
    b"sec-websocket-protocol": [b"chat", b"chat, superchat", b"bad value"],
    b"sec-websocket-extensions": [b"permessage-deflate", b"x; y=1"],
}


@st.composite
def _raw_requests(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"example.com")]
    for name, values in _scan_values.items():
        for value in draw(st.lists(st.sampled_from(values), max_size=2)):
            headers.append((name, value))
    if draw(st.booleans()):
        headers = headers[1:]
    return draw(st.permutations(headers))


@given(_raw_requests())
def test_scan_request_agrees_with_the_full_checks(raw: list[tuple[bytes, bytes]]) -> None:
    headers = Headers.from_raw(raw)
    scanned = scan_request(raw)
    try:
        key = check_request(headers)
        origin = check_origin(headers, None)
        offered = client_subprotocols(headers)
    except InvalidHandshake:
        assert scanned is None
        return
    if scanned is None:
        return  # unusual but valid: the full checks decide
    assert scanned.key == key
    assert scanned.origin == origin
    assert scanned.subprotocol_headers == headers.get_all("Sec-WebSocket-Protocol")
    assert scanned.extension_headers == headers.get_all("Sec-WebSocket-Extensions")
    assert [p for h in scanned.subprotocol_headers for p in parse_subprotocol_list(h)] == offered


def test_scan_request_common_request() -> None:
    raw = [
        (b"host", b"example.com"),
        (b"upgrade", b"websocket"),
        (b"connection", b"keep-alive, Upgrade"),
        (b"sec-websocket-key", _VALID_KEY),
        (b"sec-websocket-version", b"13"),
        (b"origin", b"https://a.example"),
        (b"sec-websocket-protocol", b"chat"),
    ]
    scanned = scan_request(raw)
    assert scanned is not None
    assert scanned.key == _VALID_KEY.decode()
    assert scanned.origin == "https://a.example"
    assert scanned.subprotocol_headers == ["chat"]
    assert scanned.extension_headers == []
