"""Headers: the case-insensitive HTTP multi-dict, with websockets.datastructures.Headers semantics.

Where behaviour is shared, it is checked side by side with the ``websockets`` class.
"""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers as WsHeaders
from websockets.datastructures import MultipleValuesError as WsMultipleValuesError

from asgiws.datastructures import Headers, MultipleValuesError


@pytest.fixture
def headers() -> Headers:
    return Headers([("Connection", "Upgrade"), ("Server", "asgiws")])


def test_str(headers: Headers) -> None:
    assert str(headers) == "Connection: Upgrade\r\nServer: asgiws\r\n\r\n"
    assert str(Headers()) == "\r\n"


def test_serialize(headers: Headers) -> None:
    assert headers.serialize() == b"Connection: Upgrade\r\nServer: asgiws\r\n\r\n"


def test_repr(headers: Headers) -> None:
    assert repr(headers) == "Headers([('Connection', 'Upgrade'), ('Server', 'asgiws')])"


def test_construct_from_kwargs_mapping_pairs_and_headers() -> None:
    assert Headers(Host="a").get_all("host") == ["a"]
    assert list(Headers({"A": "1", "B": "2"}).raw_items()) == [("A", "1"), ("B", "2")]
    pairs = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    from_pairs = Headers(pairs)
    assert list(from_pairs.raw_items()) == pairs
    # A Headers keeps its repeated values when copied through the constructor.
    assert list(Headers(from_pairs).raw_items()) == pairs
    assert Headers(from_pairs, X="y").get_all("x") == ["y"]


def test_getitem_is_case_insensitive(headers: Headers) -> None:
    assert headers["connection"] == "Upgrade"
    assert headers["CONNECTION"] == "Upgrade"
    assert headers["Connection"] == "Upgrade"


def test_getitem_missing(headers: Headers) -> None:
    with pytest.raises(KeyError):
        headers["Upgrade"]


def test_getitem_multiple_values_raises() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    with pytest.raises(MultipleValuesError) as info:
        headers["Set-Cookie"]
    assert isinstance(info.value, LookupError)
    assert not isinstance(info.value, KeyError)
    assert str(info.value) == "'Set-Cookie'"
    # Same as websockets.
    ws = WsHeaders([("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
    with pytest.raises(WsMultipleValuesError) as ws_info:
        ws["Set-Cookie"]
    assert str(ws_info.value) == str(info.value)


def test_multiple_values_error_str() -> None:
    assert str(MultipleValuesError("X")) == "'X'"
    assert str(MultipleValuesError("X", "Y")) == "('X', 'Y')"


def test_get(headers: Headers) -> None:
    assert headers.get("server") == "asgiws"
    assert headers.get("missing") is None
    assert headers.get("missing", "default") == "default"
    headers["Server"] = "other"
    with pytest.raises(MultipleValuesError):
        headers.get("server")


def test_setitem_appends(headers: Headers) -> None:
    headers["Server"] = "second"
    assert headers.get_all("server") == ["asgiws", "second"]
    assert list(headers.raw_items())[-1] == ("Server", "second")
    assert len(headers) == 2, "len counts header names"


def test_contains(headers: Headers) -> None:
    assert "connection" in headers
    assert "SERVER" in headers
    assert "Upgrade" not in headers
    assert 42 not in headers
    assert b"Server" not in headers


def test_iter_and_len(headers: Headers) -> None:
    headers["server"] = "again"
    assert list(headers) == ["connection", "server"]
    assert len(headers) == 2
    assert list(WsHeaders(list(headers.raw_items()))) == list(headers)


def test_delitem(headers: Headers) -> None:
    headers["SERVER"] = "second"
    del headers["server"]
    assert "Server" not in headers
    assert list(headers.raw_items()) == [("Connection", "Upgrade")]
    assert str(headers) == "Connection: Upgrade\r\n\r\n"
    with pytest.raises(KeyError):
        del headers["server"]


def test_pop_and_setdefault(headers: Headers) -> None:
    assert headers.pop("server") == "asgiws"
    assert "server" not in headers
    assert headers.setdefault("Upgrade", "websocket") == "websocket"
    assert headers["upgrade"] == "websocket"


def test_get_all(headers: Headers) -> None:
    assert headers.get_all("CONNECTION") == ["Upgrade"]
    assert headers.get_all("missing") == []


def test_raw_items_keep_case_and_order() -> None:
    headers = Headers()
    headers["X-One"] = "1"
    headers["x-two"] = "2"
    headers["X-ONE"] = "3"
    assert list(headers.raw_items()) == [("X-One", "1"), ("x-two", "2"), ("X-ONE", "3")]
    assert headers.get_all("x-one") == ["1", "3"]


def test_eq() -> None:
    a = Headers([("A", "1"), ("B", "2")])
    assert a == Headers([("a", "1"), ("b", "2")])
    assert a != Headers([("A", "1")])
    assert a != Headers([("A", "1"), ("B", "2"), ("B", "3")])
    assert a != {"a": "1", "b": "2"}
    assert a.__eq__("other") is NotImplemented


def test_copy_is_independent(headers: Headers) -> None:
    copy = headers.copy()
    assert copy == headers
    assert isinstance(copy, Headers)
    copy["Server"] = "other"
    assert headers.get_all("server") == ["asgiws"]
    assert copy.get_all("server") == ["asgiws", "other"]
    assert list(headers.raw_items()) == [("Connection", "Upgrade"), ("Server", "asgiws")]


def test_clear(headers: Headers) -> None:
    headers.clear()
    assert len(headers) == 0
    assert list(headers.raw_items()) == []
    assert str(headers) == "\r\n"


def test_update(headers: Headers) -> None:
    headers.update({"Upgrade": "websocket"}, Server="two")
    headers.update(Headers([("X", "1"), ("X", "2")]))
    headers.update([("Y", "3")])
    assert headers.get_all("server") == ["asgiws", "two"]
    assert headers.get_all("x") == ["1", "2"]
    assert headers["y"] == "3"
    assert headers["upgrade"] == "websocket"


def test_from_raw() -> None:
    headers = Headers.from_raw(
        [(b"Host", b"example.com"), (b"X-Name", b"caf\xe9"), (b"x-name", b"2")]
    )
    assert headers["host"] == "example.com"
    # HTTP header bytes are latin-1 (RFC 7230 §3.2.4).
    assert headers.get_all("X-NAME") == ["café", "2"]
    assert list(headers.raw_items()) == [
        ("Host", "example.com"),
        ("X-Name", "café"),
        ("x-name", "2"),
    ]
    assert Headers.from_raw([]) == Headers()


def test_same_serialization_as_websockets() -> None:
    pairs = [("Host", "h"), ("Set-Cookie", "a"), ("set-cookie", "b"), ("Upgrade", "websocket")]
    assert str(Headers(pairs)) == str(WsHeaders(pairs))
    ours, theirs = Headers(pairs), WsHeaders(pairs)
    del ours["SET-COOKIE"]
    del theirs["SET-COOKIE"]
    assert str(ours) == str(theirs)
    assert ours.get_all("host") == theirs.get_all("host")
