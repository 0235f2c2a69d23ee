"""Autobahn|Testsuite against the native echo server, compression off.

Runs ``../shared/autobahn/run.sh`` (see its README) with the echo server of
``../shared/autobahn/servers/asgiws_echo.py`` on this checkout's asgiws. Every case but the
permessage-deflate groups 12/13 must pass: 247 cases, 0 FAILED; with ``--with-9`` (the 54
large-message cases of group 9, ~30 s) 301 cases. Under CI a missing ``../shared`` or a failed
setup is a failure; locally it is a skip.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
AUTOBAHN = REPO.parent / "shared" / "autobahn"
IN_CI = os.environ.get("CI") == "true"
SUMMARY = re.compile(
    r"^autobahn (?P<agent>\S+): total=(?P<total>\d+) ok=(?P<ok>\d+) "
    r"non_strict=(?P<non_strict>\d+) informational=(?P<informational>\d+) "
    r"unimplemented=(?P<unimplemented>\d+) failed=(?P<failed>\d+)$",
    re.MULTILINE,
)

# Each run takes 15-35 s; the suite's default per-test timeout (120 s) is too tight on a loaded
# machine, and run.sh must be stopped by the code above, not killed from outside.
pytestmark = [pytest.mark.autobahn, pytest.mark.timeout(400)]


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM run.sh's process group (its EXIT trap stops the server), then SIGKILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def run_autobahn(port: int, agent: str, out: Path, *options: str) -> dict[str, int]:
    """Run the suite against a fresh echo server; return the summary line's counts."""
    run_sh = AUTOBAHN / "run.sh"
    echo_server = AUTOBAHN / "servers" / "asgiws_echo.py"
    if not run_sh.is_file() or not echo_server.is_file():
        unavailable(f"Autobahn|Testsuite not found at {AUTOBAHN}")
    serve = shlex.join([sys.executable, str(echo_server), str(port), "--no-deflate"])
    command = [
        str(run_sh),
        f"ws://127.0.0.1:{port}",
        agent,
        "--exclude",
        "12.*,13.*",
        "--out",
        str(out),
        "--timeout",
        "280",
        *options,
        "--serve",
        serve,
    ]
    # The echo server imports this checkout's asgiws, whatever is installed.
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    # run.sh leads its own process group, so that stop() can reach wstest too. run.sh prints the
    # per-group summary and the failed cases itself.
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        stop(process)
        pytest.fail("run.sh did not finish in 300 s")
    except BaseException:  # KeyboardInterrupt, pytest-timeout: leave no server behind
        stop(process)
        raise
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    output = result.stdout + result.stderr
    if result.returncode == 2 and "setup.sh failed" in output:
        unavailable(f"Autobahn|Testsuite setup failed:\n{output}")
    server_log = out / "server.log"
    details = output + (
        f"\n--- server.log ---\n{server_log.read_text()[-4000:]}" if server_log.exists() else ""
    )
    assert result.returncode == 0, details
    match = SUMMARY.search(result.stdout)
    assert match is not None, details
    assert match["agent"] == agent
    return {name: int(value) for name, value in match.groupdict().items() if name != "agent"}


def test_autobahn_all_but_deflate(port: int, tmp_path: Path) -> None:
    summary = run_autobahn(port, "asgiws-ci", tmp_path / "report")
    assert summary["failed"] == 0, summary
    assert summary["total"] == 247, summary
    assert summary["unimplemented"] == 0, summary
    assert summary["ok"] + summary["non_strict"] + summary["informational"] == 247, summary


def test_autobahn_with_large_messages(port: int, tmp_path: Path) -> None:
    """The same run plus the 9.* cases: messages and frames up to 16 MiB."""
    summary = run_autobahn(port, "asgiws-ci-9", tmp_path / "report", "--with-9")
    assert summary["failed"] == 0, summary
    assert summary["total"] == 247 + 54, summary
