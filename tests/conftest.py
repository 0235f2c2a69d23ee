"""Shared fixtures: HTTP parser and event loop matrices, free ports, TLS certificates."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator

import pytest
from helpers_env import require, unavailable

from asgiws.http import available_parsers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(params=["httptools", "h11"])
def http_parser(request: pytest.FixtureRequest) -> str:
    """Each server test runs with both HTTP parsers."""
    if request.param not in available_parsers():
        unavailable(f"HTTP parser {request.param} is not installed")
    return str(request.param)


@pytest.fixture(scope="session")
def tls_ca():  # type: ignore[no-untyped-def]
    import trustme

    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl_context(tls_ca) -> ssl.SSLContext:  # type: ignore[no-untyped-def]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_ssl_context(tls_ca) -> ssl.SSLContext:  # type: ignore[no-untyped-def]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls_ca.configure_trust(context)
    return context


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test under the default loop and under uvloop."""
    if request.param == "uvloop":
        uvloop = require("uvloop")
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield str(request.param)
    finally:
        asyncio.set_event_loop_policy(None)
