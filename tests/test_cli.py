"""The ``asgiws`` command: flags, ``ASGIWS_*`` environment variables, errors, ``--version``."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from helpers_asgi import HOST, asgiws_command, free_port, stop, wait_listening

from asgiws import Config, __version__
from asgiws.cli import build_parser, settings_from

APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = f"{scope['scheme']} {scope['root_path']} {scope['client'][0]}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})

def create_app():
    return app
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "cliapp.py").write_text(textwrap.dedent(APP))
    (tmp_path / "broken.py").write_text("import no_such_dependency_xyz\n")
    return tmp_path


def run_command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "asgiws", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_version() -> None:
    result = run_command("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"asgiws {__version__} with ")
    installed = subprocess.run(
        [str(Path(sys.executable).parent / "asgiws"), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert installed.returncode == 0 and installed.stdout == result.stdout


def test_module_that_cannot_be_imported_is_one_line_and_status_1(app_dir: Path) -> None:
    result = run_command("no_such_module_abc:app")
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        'asgiws: error: Could not import module "no_such_module_abc".'
    ]
    result = run_command("broken:app", "--app-dir", str(app_dir))
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        'asgiws: error: Error loading module "broken": No module named "no_such_dependency_xyz".'
    ]
    result = run_command("cliapp:missing", "--app-dir", str(app_dir))
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        'asgiws: error: Attribute "missing" not found in module "cliapp".'
    ]
    result = run_command("not-an-import-string", "--app-dir", str(app_dir))
    assert result.returncode == 1
    assert "must be in format" in result.stderr and "Traceback" not in result.stderr


def test_factory_hint(app_dir: Path) -> None:
    result = run_command("cliapp:create_app", "--app-dir", str(app_dir))
    assert result.returncode == 1
    assert "--factory" in result.stderr


def test_usage_errors_are_status_2() -> None:
    assert run_command().returncode == 2
    result = run_command("x:app", "--lifespan", "sometimes")
    assert result.returncode == 2 and "--lifespan" in result.stderr
    result = run_command("x:app", env={"ASGIWS_PORT": "eighty"})
    assert result.returncode == 2 and "ASGIWS_PORT" in result.stderr
    result = run_command("x:app", env={"ASGIWS_LOOP": "fastest"})
    assert result.returncode == 2 and "ASGIWS_LOOP" in result.stderr


def test_every_config_field_has_a_flag() -> None:
    fields = set(inspect.signature(Config).parameters) - {"app"}
    parser = build_parser()
    dests = {action.dest for action in parser._actions} - {"help", "version", "app"}
    assert fields == dests


def test_environment_fills_what_the_command_line_does_not() -> None:
    parser = build_parser()
    namespace = parser.parse_args(["m:app", "--port", "9001", "--no-access-log"])
    environ = {
        "ASGIWS_PORT": "9999",
        "ASGIWS_HOST": "127.0.0.2",
        "ASGIWS_PROXY_HEADERS": "false",
        "ASGIWS_WS_PER_MESSAGE_DEFLATE": "no",
        "ASGIWS_WS_PING_INTERVAL": "none",
        "ASGIWS_DRAIN_DELAY": "2.5",
        "ASGIWS_FACTORY": "1",
        "ASGIWS_HEALTH_PATH": "",
        "ASGIWS_HEADERS": "X-A: 1\nX-B: 2",
    }
    settings = settings_from(namespace, environ, parser)
    assert settings == {
        "port": 9001,  # the flag wins
        "host": "127.0.0.2",
        "access_log": False,
        "proxy_headers": False,
        "ws_per_message_deflate": False,
        "ws_ping_interval": None,
        "drain_delay": 2.5,
        "factory": True,
        "health_path": None,
        "headers": [("X-A", "1"), ("X-B", "2")],
    }
    config = Config("m:app", **settings)
    assert config.port == 9001 and config.health_path is None and config.factory


def test_flags_map_to_config() -> None:
    parser = build_parser()
    namespace = parser.parse_args(
        [
            "m:app",
            "--ws-max-size", "1024", "--ws-per-message-deflate", "false", "--lifespan", "off",
            "--forwarded-allow-ips", "10.0.0.0/8,*", "--header", "X-Served-By: me",
            "--timeout-graceful-shutdown", "3", "--limit-concurrency", "10", "--no-date-header",
        ]
    )  # fmt: skip
    settings = settings_from(namespace, {}, parser)
    config = Config("m:app", **settings)
    assert config.ws_max_size == 1024
    assert config.ws_per_message_deflate is False
    assert config.lifespan == "off"
    assert config.forwarded_allow_ips == "10.0.0.0/8,*"
    assert config.headers == [("X-Served-By", "me")]
    assert config.timeout_graceful_shutdown == 3
    assert config.limit_concurrency == 10
    assert config.date_header is False and config.server_header is True


def test_serves_with_settings_from_the_environment(app_dir: Path) -> None:
    port = free_port()
    process = asgiws_command(
        "--root-path",
        "/base",
        env={
            "ASGIWS_APP": "cliapp:create_app",
            "ASGIWS_FACTORY": "true",
            "ASGIWS_APP_DIR": str(app_dir),
            "ASGIWS_PORT": str(port),
            "ASGIWS_SERVER_HEADER": "false",
        },
    )
    try:
        wait_listening(process, port)
        response = httpx.get(f"http://{HOST}:{port}/", timeout=5)
        assert response.status_code == 200
        assert response.text == "http /base 127.0.0.1"
        assert "server" not in response.headers
        assert httpx.get(f"http://{HOST}:{port}/healthz", timeout=5).status_code == 200
    finally:
        status, _, err = stop(process)
    assert status == 0, err
    assert f"asgiws running on http://{HOST}:{port}" in err


def test_address_in_use_is_status_1(app_dir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_command(
            "cliapp:app", "--app-dir", str(app_dir), "--port", str(port), "--lifespan", "off"
        )
    assert result.returncode == 1
    assert "address already in use" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_the_installed_command_finds_modules_in_the_current_directory(app_dir: Path) -> None:
    port = free_port()
    command = str(Path(sys.executable).parent / "asgiws")
    process = subprocess.Popen(
        [command, "cliapp:app", "--port", str(port), "--lifespan", "off"],
        cwd=app_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(process, port)
        assert httpx.get(f"http://{HOST}:{port}/", timeout=5).text == "http  127.0.0.1"
    finally:
        status, _, err = stop(process)
    assert status == 0, err


def test_load_app_forms(app_dir: Path) -> None:
    from asgiws.asgi.app import AppLoadError, ASGI2Adapter, load_app

    app, version = load_app("cliapp:app", app_dir=str(app_dir))
    assert version == "3.0" and app.__name__ == "app"
    app, version = load_app("cliapp:create_app", factory=True, app_dir=str(app_dir))
    assert version == "3.0" and app.__name__ == "app"
    with pytest.raises(AppLoadError, match="--factory"):
        load_app("cliapp:create_app", app_dir=str(app_dir))

    class ASGI2App:
        def __init__(self, scope: dict) -> None:
            self.scope = scope

        async def __call__(self, receive: object, send: object) -> None:
            pass

    app, version = load_app(ASGI2App)
    assert version == "2.0" and isinstance(app, ASGI2Adapter)
