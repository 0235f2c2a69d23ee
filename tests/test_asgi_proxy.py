"""Proxy headers: which peers are trusted, and what they may say about the client and scheme."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from asgiws.asgi.proxy import TrustedProxies, apply_proxy_headers, parse_forwarded


def scope(
    headers: list[tuple[bytes, bytes]], client: Any = ("127.0.0.1", 5000), kind: str = "http"
) -> dict[str, Any]:
    return {
        "type": kind,
        "scheme": "ws" if kind == "websocket" else "http",
        "client": client,
        "headers": headers,
    }


def config(allowed: Any = "127.0.0.1", enabled: bool = True) -> Any:
    return SimpleNamespace(proxy_headers=enabled, forwarded_allow_ips=allowed)


@pytest.mark.parametrize(
    ("allowed", "host", "trusted"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.2", False),
        ("10.0.0.0/8, 192.168.1.1", "10.20.30.40", True),
        ("10.0.0.0/8, 192.168.1.1", "192.168.1.1", True),
        ("10.0.0.0/8, 192.168.1.1", "192.168.1.2", False),
        ("::1", "::1", True),
        ("2001:db8::/32", "2001:db8::7", True),
        ("127.0.0.1", "::ffff:127.0.0.1", True),
        ("*", "203.0.113.9", True),
        (["10.0.0.1", "10.0.0.2"], "10.0.0.2", True),
        ("127.0.0.1", "", False),
        ("127.0.0.1", "not-an-address", False),
    ],
)
def test_trusted_proxies(allowed: Any, host: str, trusted: bool) -> None:
    assert (host in TrustedProxies(allowed)) is trusted


def test_x_forwarded_for_picks_the_first_untrusted_from_the_right() -> None:
    headers = [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.5, 10.0.0.3")]
    s = scope(headers)
    apply_proxy_headers(s, config("127.0.0.1, 10.0.0.0/8"))
    assert s["client"] == ("203.0.113.5", 0)  # 198.51.100.1 could be spoofed by 203.0.113.5


def test_x_forwarded_proto_and_websocket_scheme() -> None:
    s = scope([(b"x-forwarded-proto", b"https")], kind="websocket")
    apply_proxy_headers(s, config())
    assert s["scheme"] == "wss"
    s = scope([(b"x-forwarded-proto", b"https")])
    apply_proxy_headers(s, config())
    assert s["scheme"] == "https"
    s = scope([(b"x-forwarded-proto", b"gopher")])
    apply_proxy_headers(s, config())
    assert s["scheme"] == "http"


def test_untrusted_peer_or_disabled_changes_nothing() -> None:
    headers = [(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"https")]
    s = scope(headers, client=("192.0.2.1", 1234))
    apply_proxy_headers(s, config())
    assert s["client"] == ("192.0.2.1", 1234) and s["scheme"] == "http"
    s = scope(headers)
    apply_proxy_headers(s, config(enabled=False))
    assert s["client"] == ("127.0.0.1", 5000) and s["scheme"] == "http"


def test_rfc7239_forwarded() -> None:
    headers = [
        (b"forwarded", b'for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.3;proto=http'),
        (b"x-forwarded-for", b"6.6.6.6"),  # Forwarded wins
    ]
    s = scope(headers, kind="websocket")
    apply_proxy_headers(s, config("127.0.0.1,10.0.0.0/8"))
    assert s["client"] == ("2001:db8:cafe::17", 4711)
    assert s["scheme"] == "wss"


def test_forwarded_obfuscated_client_keeps_the_peer() -> None:
    s = scope([(b"forwarded", b"for=_hidden;proto=https")])
    apply_proxy_headers(s, config())
    assert s["client"] == ("127.0.0.1", 5000)
    assert s["scheme"] == "https"


def test_parse_forwarded() -> None:
    assert parse_forwarded(['For="[::1]:80";Proto=https;by=x, for=1.2.3.4', "for=5.6.7.8"]) == [
        {"for": "[::1]:80", "proto": "https", "by": "x"},
        {"for": "1.2.3.4"},
        {"for": "5.6.7.8"},
    ]
    assert parse_forwarded(['for="a,b;c"']) == [{"for": "a,b;c"}]


def test_unix_socket_peers() -> None:
    headers = [(b"x-forwarded-for", b"1.2.3.4")]
    s = scope(headers, client=None)
    apply_proxy_headers(s, config())
    assert s["client"] is None
    apply_proxy_headers(s, config("unix:"))
    assert s["client"] == ("1.2.3.4", 0)
