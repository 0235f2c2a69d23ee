"""Run every program of the websockets 10.4 user's guide (examples/) for real.

Each example is a child process (``python examples/<name>.py``) on a free port of
127.0.0.1; the peer on the other side is the real ``websockets`` library. The tests check
what the programs print and send, the close codes, and how they shut down.

By default the examples import this repository's asgiws. With
``ASGIWS_EXAMPLES_IMPL=websockets`` they import the real websockets library instead
(tests/shims/websockets_as_asgiws), which shows that the tests themselves are right::

    ASGIWS_EXAMPLES_IMPL=websockets .venv/bin/pytest tests/test_examples.py
"""

from __future__ import annotations

import datetime
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
from helpers_examples import (
    EXAMPLES,
    HOST,
    REPO,
    SHIM,
    WAIT,
    Program,
    client_ssl_context,
    connect,
    example_env,
    free_port,
    implementation,
    server_ssl_context,
    wait_for_port,
    websockets_server,
)
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.sync.client import ClientConnection
from websockets.sync.server import ServerConnection

RunExample = Callable[..., Program]


@pytest.fixture(scope="session")
def impl() -> str:
    return implementation()


@pytest.fixture
def run_example(impl: str) -> Iterator[RunExample]:
    """Start example programs; all of them are killed when the test ends."""
    programs: list[Program] = []

    def start(
        script: str,
        port: int | None,
        *,
        host: str | None = HOST,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Program:
        program = Program(script, example_env(impl, port, host=host, extra=env), stdin=stdin)
        programs.append(program)
        return program

    try:
        yield start
    finally:
        for program in programs:
            program.stop()


def recv(websocket: ClientConnection | ServerConnection, timeout: float = WAIT) -> str:
    message = websocket.recv(timeout=timeout)
    assert isinstance(message, str), f"expected a text message, got {message!r}"
    return message


def recv_close(websocket: ClientConnection, timeout: float = WAIT) -> ConnectionClosedOK:
    """Wait for the peer to close the connection cleanly; return the exception."""
    with pytest.raises(ConnectionClosedOK) as closed:
        message = websocket.recv(timeout=timeout)
        pytest.fail(f"expected the connection to close, received {message!r}")
    return closed.value


def close_code_received(exc: ConnectionClosed) -> int | None:
    return exc.rcvd.code if exc.rcvd is not None else None


# ---------------------------------------------------------------- the setup itself


def test_examples_import_the_selected_library(impl: str) -> None:
    """``import asgiws`` in an example process loads what ASGIWS_EXAMPLES_IMPL says."""
    result = subprocess.run(
        [sys.executable, "-c", "import asgiws; print(asgiws.__file__)"],
        env=example_env(impl, None),
        cwd=str(EXAMPLES),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = result.stdout.strip()
    expected = SHIM if impl == "websockets" else REPO / "asgiws"
    assert loaded.startswith(str(expected)), f"{impl}: asgiws loaded from {loaded}"


GUIDE_PROGRAMS = [
    "hello_server.py",
    "hello_client.py",
    "server_secure.py",
    "client_secure.py",
    "localhost.pem",
    "show_time.py",
    "show_time.html",
    "show_time_2.py",
    "counter.py",
    "counter.html",
    "patterns_consumer.py",
    "patterns_producer.py",
    "patterns_both.py",
    "patterns_register.py",
    "handler_extra_args.py",
    "sigterm_server.py",
    "sigterm_client.py",
    "reconnecting_client.py",
    "recv_timeout.py",
    "logging_debug.py",
]


def test_readme_maps_every_example() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    missing = [name for name in GUIDE_PROGRAMS if not (EXAMPLES / name).is_file()]
    assert not missing, f"examples/ lacks {missing}"
    unmapped = [name for name in GUIDE_PROGRAMS if f"`{name}`" not in readme]
    assert not unmapped, f"examples/README.md does not mention {unmapped}"


def test_browser_pages_use_the_servers_default_ports() -> None:
    """show_time.html and counter.html talk to show_time.py and counter.py as shipped."""
    show_time = (EXAMPLES / "show_time.html").read_text(encoding="utf-8")
    counter = (EXAMPLES / "counter.html").read_text(encoding="utf-8")
    assert 'new WebSocket("ws://127.0.0.1:5678/")' in show_time
    assert "new WebSocket('ws://localhost:6789/')" in counter
    assert '"WS_PORT", "5678"' in (EXAMPLES / "show_time.py").read_text(encoding="utf-8")
    assert '"WS_PORT", "5678"' in (EXAMPLES / "show_time_2.py").read_text(encoding="utf-8")
    assert '"WS_PORT", "6789"' in (EXAMPLES / "counter.py").read_text(encoding="utf-8")


# ---------------------------------------------------------------- 1. Hello World


def test_hello_server(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("hello_server.py", port)
    with connect(server, port) as websocket:
        websocket.send("Alice")
        assert recv(websocket) == "Hello Alice!"
        # The handler returned: the server closes the connection with 1000.
        closed = recv_close(websocket)
        assert close_code_received(closed) == 1000
    server.wait_for_line("<<< Alice")
    server.wait_for_line(">>> Hello Alice!")
    assert server.stdout[:2] == ["<<< Alice", ">>> Hello Alice!"]


def test_hello_client(run_example: RunExample) -> None:
    port = free_port()
    received: queue.Queue[tuple[str, int | None]] = queue.Queue()

    def handler(websocket: ServerConnection) -> None:
        name = recv(websocket)
        websocket.send(f"Hello {name}!")
        try:
            websocket.recv(timeout=WAIT)
        except ConnectionClosed as exc:
            received.put((name, close_code_received(exc)))

    with websockets_server(handler, port):
        client = run_example("hello_client.py", port, stdin="Alice\n")
        assert client.wait() == 0, client.describe()
        name, close_code = received.get(timeout=WAIT)
    assert name == "Alice"
    assert close_code == 1000  # leaving `async with connect(...)` closes with 1000
    assert client.stdout == ["What's your name? >>> Alice", "<<< Hello Alice!"]


def test_hello_server_and_client_on_localhost(run_example: RunExample) -> None:
    """The two programs together, with the guide's own host name: "localhost"."""
    port = free_port()
    server = run_example("hello_server.py", port, host=None)
    server.wait_for_port(port)
    client = run_example("hello_client.py", port, host=None, stdin="Bob\n")
    assert client.wait() == 0, client.describe()
    assert "<<< Hello Bob!" in client.stdout
    server.wait_for_line(">>> Hello Bob!")
    assert "<<< Bob" in server.stdout


# ---------------------------------------------------------------- 2. wss


def test_server_secure(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("server_secure.py", port)
    with connect(server, port, ssl_context=client_ssl_context()) as websocket:
        websocket.send("Alice")
        assert recv(websocket) == "Hello Alice!"
        assert close_code_received(recv_close(websocket)) == 1000
    server.wait_for_line(">>> Hello Alice!")
    assert server.stdout[:2] == ["<<< Alice", ">>> Hello Alice!"]


def test_server_secure_refuses_plain_websocket(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("server_secure.py", port)
    server.wait_for_port(port)
    with pytest.raises(Exception):  # noqa: B017 - any failure to open is right
        connect(server, port).close()
    # It keeps serving TLS clients afterwards.
    with connect(server, port, ssl_context=client_ssl_context()) as websocket:
        websocket.send("Carol")
        assert recv(websocket) == "Hello Carol!"


def test_client_secure(run_example: RunExample) -> None:
    port = free_port()
    names: queue.Queue[str] = queue.Queue()

    def handler(websocket: ServerConnection) -> None:
        name = recv(websocket)
        names.put(name)
        websocket.send(f"Hello {name}!")

    with websockets_server(handler, port, ssl_context=server_ssl_context()):
        client = run_example("client_secure.py", port, stdin="Alice\n")
        assert client.wait() == 0, client.describe()
        assert names.get(timeout=WAIT) == "Alice"
    assert client.stdout == ["What's your name? >>> Alice", "<<< Hello Alice!"]


def test_server_secure_and_client_secure(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("server_secure.py", port)
    server.wait_for_port(port)
    client = run_example("client_secure.py", port, stdin="Dave\n")
    assert client.wait() == 0, client.describe()
    assert "<<< Hello Dave!" in client.stdout
    server.wait_for_line(">>> Hello Dave!")


# ---------------------------------------------------------------- 3. show_time


def parse_utc_timestamp(message: str) -> datetime.datetime:
    """show_time's messages: datetime.utcnow().isoformat() + "Z"."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", message), message
    return datetime.datetime.fromisoformat(message[:-1]).replace(tzinfo=datetime.timezone.utc)


def assert_recent(timestamp: datetime.datetime) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - timestamp).total_seconds()) < 300, f"{timestamp} is not the time ({now})"


def test_show_time(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("show_time.py", port)
    with connect(server, port) as websocket:
        first = parse_utc_timestamp(recv(websocket))
        second = parse_utc_timestamp(recv(websocket))
    assert_recent(first)
    assert first < second


def test_show_time_2_broadcasts_to_every_client(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("show_time_2.py", port)
    with connect(server, port) as first:
        with connect(server, port) as second:
            seen_by_second = [recv(second), recv(second)]
            # The first client was connected all along: it got the same broadcasts.
            seen_by_first: list[str] = []
            for _ in range(8):
                seen_by_first.append(recv(first))
                if seen_by_first[-1] == seen_by_second[-1]:
                    break
            assert set(seen_by_second) <= set(seen_by_first), (seen_by_first, seen_by_second)
        # The second one left; the first one still gets the broadcasts.
        later = recv(first)
        assert parse_utc_timestamp(later) > parse_utc_timestamp(seen_by_second[-1])
    for message in seen_by_first:
        assert_recent(parse_utc_timestamp(message))


# ---------------------------------------------------------------- 5. counter


def recv_event(websocket: ClientConnection) -> dict[str, object]:
    event = json.loads(recv(websocket))
    assert isinstance(event, dict)
    return event


def users(count: int) -> dict[str, object]:
    return {"type": "users", "count": count}


def value(number: int) -> dict[str, object]:
    return {"type": "value", "value": number}


def test_counter(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("counter.py", port)
    with connect(server, port) as alice:
        assert recv_event(alice) == users(1)
        assert recv_event(alice) == value(0)
        with connect(server, port) as bob:
            assert recv_event(bob) == users(2)
            assert recv_event(bob) == value(0)
            assert recv_event(alice) == users(2)

            alice.send(json.dumps({"action": "plus"}))
            assert recv_event(alice) == value(1)
            assert recv_event(bob) == value(1)

            bob.send(json.dumps({"action": "minus"}))
            assert recv_event(alice) == value(0)
            assert recv_event(bob) == value(0)

            bob.send(json.dumps({"action": "plus"}))
            bob.send(json.dumps({"action": "plus"}))
            assert [recv_event(alice), recv_event(alice)] == [value(1), value(2)]
            assert [recv_event(bob), recv_event(bob)] == [value(1), value(2)]

            # An unknown action is logged and changes nothing.
            alice.send(json.dumps({"action": "jump"}))
            server.wait_for_line("unsupported event: {'action': 'jump'}", stream="stderr")
            alice.send(json.dumps({"action": "plus"}))
            assert recv_event(alice) == value(3)
            assert recv_event(bob) == value(3)
        # Bob left.
        assert recv_event(alice) == users(1)
    line = server.wait_for_line("unsupported event", stream="stderr")
    assert server.stderr[line] == "ERROR:root:unsupported event: {'action': 'jump'}"


# ---------------------------------------------------------------- 6. patterns


def test_patterns_consumer(run_example: RunExample) -> None:
    """consumer_handler(websocket, path): the two-argument handler of 10.4 still runs."""
    port = free_port()
    server = run_example("patterns_consumer.py", port)
    with connect(server, port, path="/consume?x=1") as websocket:
        websocket.send("first")
        websocket.send("second")
        server.wait_for_line("consumer:  second")
    assert server.stdout[:2] == ["consumer:  first", "consumer:  second"]


def test_patterns_producer(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("patterns_producer.py", port)
    with connect(server, port) as websocket:
        assert recv(websocket) == "message1"
        assert recv(websocket) == "message2"


def test_patterns_consumer_and_producer(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("patterns_both.py", port)
    with connect(server, port) as websocket:
        websocket.send("hello")
        assert recv(websocket) == "message1"
        server.wait_for_line("consumer:  hello")
    # The consumer ended with the connection, so the producer task was cancelled:
    # the next connection gets the next message, none was skipped.
    with connect(server, port) as websocket:
        assert recv(websocket) == "message2"


def test_patterns_register(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("patterns_register.py", port)
    with connect(server, port) as first:
        assert recv(first) == "Hello!"
        with connect(server, port) as second:
            # Each new client says hello to every connected client.
            assert recv(second) == "Hello!"
            assert recv(first) == "Hello!"
        # The handler sleeps 10 s then returns: the server closes with 1000.
        closed = recv_close(first, timeout=WAIT + 10)
        assert close_code_received(closed) == 1000


# ---------------------------------------------------------------- FAQ: server


def test_handler_extra_args(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("handler_extra_args.py", port)
    with connect(server, port) as websocket:
        websocket.send("eggs")
        assert recv(websocket) == "eggs spam"
        websocket.send("ham")
        assert recv(websocket) == "ham spam"


def test_sigterm_server(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("sigterm_server.py", port)
    with connect(server, port) as websocket:
        websocket.send("ping")
        assert recv(websocket) == "ping"
        server.send_signal(signal.SIGTERM)
        # Leaving `async with serve(...)` closes open connections with 1001.
        closed = recv_close(websocket)
        assert close_code_received(closed) == 1001
    assert server.wait() == 0, server.describe()
    # And the port is closed.
    with pytest.raises(OSError):
        socket.create_connection((HOST, port), timeout=2).close()


def test_sigterm_server_without_connections(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("sigterm_server.py", port)
    server.wait_for_port(port)
    server.send_signal(signal.SIGTERM)
    assert server.wait() == 0, server.describe()
    assert server.stderr == []


# ---------------------------------------------------------------- FAQ: client


def test_sigterm_client(run_example: RunExample) -> None:
    port = free_port()
    closes: queue.Queue[tuple[int | None, bool | None]] = queue.Queue()

    def handler(websocket: ServerConnection) -> None:
        websocket.send("hello")
        try:
            websocket.recv(timeout=WAIT * 3)
        except ConnectionClosed as exc:
            closes.put((close_code_received(exc), exc.rcvd_then_sent))

    with websockets_server(handler, port):
        client = run_example("sigterm_client.py", port)
        # It printed the message, so its SIGTERM handler is installed.
        client.wait_for_line("<<< hello")
        client.send_signal(signal.SIGTERM)
        assert client.wait() == 0, client.describe()
        code, client_closed_first = closes.get(timeout=WAIT)
    assert code == 1000
    assert client_closed_first is True


def test_reconnecting_client(run_example: RunExample) -> None:
    port = free_port()
    connections = iter(range(1, 100))
    lock = threading.Lock()

    def handler(websocket: ServerConnection) -> None:
        with lock:
            number = next(connections)
        websocket.send(f"welcome {number}")
        if number == 2:
            # Drop the connection without a closing handshake (1006 for the client).
            websocket.socket.shutdown(socket.SHUT_RDWR)
            return
        try:
            websocket.recv(timeout=WAIT * 6)
        except ConnectionClosed:
            pass

    with websockets_server(handler, port):
        client = run_example("reconnecting_client.py", port)
        client.wait_for_line("<<< welcome 1")
    # The server restarted (it closed the connection with 1001 and came back).
    with websockets_server(handler, port):
        client.wait_for_line("<<< welcome 2", timeout=WAIT * 3)
        # After an abnormal closure, it reconnects too.
        client.wait_for_line("<<< welcome 3", timeout=WAIT * 3)
        lines = client.stdout
    assert lines[:6] == [
        "connected",
        "<<< welcome 1",
        "connected",
        "<<< welcome 2",
        "connected",
        "<<< welcome 3",
    ], client.describe()


# ---------------------------------------------------------------- FAQ: both sides


def test_recv_timeout(run_example: RunExample) -> None:
    port = free_port()
    server = run_example("recv_timeout.py", port, env={"RECV_TIMEOUT": "1"})

    def next_echo(websocket: ClientConnection) -> str:
        """The next message that is not "timeout" (the server may time out any time)."""
        for _ in range(int(WAIT)):
            message = recv(websocket)
            if message != "timeout":
                return message
        pytest.fail("only timeouts")

    with connect(server, port) as websocket:
        websocket.send("a")
        assert next_echo(websocket) == "a"
        # Nothing sent for a while: recv() times out on the server.
        assert recv(websocket) == "timeout"
        # recv() was cancelled, yet the connection still works and loses nothing.
        websocket.send("b")
        websocket.send("c")
        assert [next_echo(websocket), next_echo(websocket)] == ["b", "c"]
    server.wait_for_line("<<< c")
    stdout = server.stdout
    assert [line for line in stdout if line.startswith("<<<")] == ["<<< a", "<<< b", "<<< c"]
    assert "recv() timed out" in stdout[stdout.index("<<< a") : stdout.index("<<< b")]
    assert set(stdout) == {"<<< a", "<<< b", "<<< c", "recv() timed out"}


def test_logging_debug(run_example: RunExample) -> None:
    """The guide's logging snippet shows the library's INFO lines on stderr."""
    port = free_port()
    server = run_example("logging_debug.py", port)
    with connect(server, port) as websocket:
        server.wait_for_line(f"server listening on {HOST}:{port}", stream="stderr")
        websocket.send("echo me")
        assert recv(websocket) == "echo me"
        opened = server.wait_for_line("connection open", stream="stderr")
    server.wait_for_line("connection closed", stream="stderr", start=opened + 1)
    server.send_signal(signal.SIGTERM)
    assert server.wait() == 0, server.describe()
    closing = server.wait_for_line("server closing", stream="stderr", start=opened + 1)
    server.wait_for_line("server closed", stream="stderr", start=closing + 1)
    # Nothing but the library's log lines: no warning, no traceback.
    assert not [line for line in server.stderr if "Traceback" in line or "Error" in line]
    assert server.stdout == []


def test_logging_debug_is_quiet_without_the_snippet(run_example: RunExample) -> None:
    """Without the snippet (sigterm_server.py), the same events log nothing."""
    port = free_port()
    server = run_example("sigterm_server.py", port)
    with connect(server, port) as websocket:
        websocket.send("echo me")
        assert recv(websocket) == "echo me"
    server.send_signal(signal.SIGTERM)
    assert server.wait() == 0, server.describe()
    assert server.stderr == []


# ---------------------------------------------------------------- also: argv


def test_port_from_argv(impl: str) -> None:
    """Every server also takes its port as argv[1], as examples/README.md says."""
    port = free_port()
    env = example_env(impl, None)
    program = Program("patterns_producer.py", env, args=(str(port),))
    try:
        wait_for_port(port, alive=program.check_running)
        with connect(program, port) as websocket:
            assert recv(websocket) == "message1"
    finally:
        program.stop()
