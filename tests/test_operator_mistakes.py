"""Every operator mistake ends with one clear line, never a traceback, and never echoes a secret (issue 19).

Each server is run as its console entry would run it (`python -m patchbay_<name>`), in a clean environment,
with one mistake at a time: a port in use, an unreadable token file, a bad or malformed environment value,
an unknown flag, a missing flag value. Each must exit non-zero with one or two stderr lines naming what to
fix. `--help | head -1` (a reader that goes away) must end quietly, and `--help` must read well.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from shipping import clean_env, server_names

SERVERS = server_names()
SECRET = "hunter2-do-not-echo"


def _module(name: str) -> str:
    return f"patchbay_{name.replace('-', '_')}"


def _prefix(name: str) -> str:
    return f"PATCHBAY_{name.upper().replace('-', '_')}_"


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def _run(name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", _module(name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**(env or {})),
        stdin=subprocess.DEVNULL,
    )


MISTAKES: dict[str, tuple[list[str], dict[str, str], str]] = {
    # name: (args, environment, what the line must say)
    "port in use": (["--transport", "streamable-http", "--port", "{port}"], {}, "in use"),
    "token file missing": (
        ["--transport", "streamable-http", "--auth-token-file", "/no/such/token"],
        {},
        "--auth-token-file: cannot read /no/such/token",
    ),
    "unknown flag": (["--bogus-flag"], {}, "unrecognized arguments: --bogus-flag"),
    "flag without value": (["--port"], {}, "--port"),
    "bad number in env": ([], {"{prefix}PORT": "eighty"}, "PORT"),
    "broken JSON list in env": ([], {"{prefix}ALLOWED_HOST": '["a", '}, "{prefix}ALLOWED_HOST"),
    "secret beside a bad value": (["--auth-token", SECRET, "--tool-timeout", "-1"], {}, "--tool-timeout"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
@pytest.mark.parametrize("name", SERVERS)
def test_one_line_never_a_traceback(name: str, mistake: str, busy_port: int) -> None:
    args, env, needle = MISTAKES[mistake]
    fill = {"port": str(busy_port), "prefix": _prefix(name)}
    args = [arg.format(**fill) for arg in args]
    env = {key.format(**fill): value for key, value in env.items()}
    result = _run(name, args, env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, f"{name} {mistake}: exit 0\n{result.stderr}"
    assert "Traceback" not in result.stderr, f"{name} {mistake}:\n{result.stderr}"
    assert 1 <= len(lines) <= 2, f"{name} {mistake}: {len(lines)} stderr lines\n{result.stderr}"
    assert needle.format(**fill) in result.stderr, f"{name} {mistake}: {result.stderr!r}"
    assert SECRET not in result.stderr + result.stdout


def test_redis_password_file_missing() -> None:
    result = _run("redis", ["--password-file", "/no/such/password"])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == "patchbay-redis: error: --password-file: cannot read /no/such/password "
        + ("(No such file or directory)")
    )


def test_a_list_variable_takes_a_path_list(tmp_path: Path) -> None:
    """`PATCHBAY_SQLITE_DB=/x.db` (one path, no JSON) is a list of one; a bad path is a clear line."""
    database = tmp_path / "x.db"
    result = _run("sqlite", ["--version"], {"PATCHBAY_SQLITE_DB": str(database)})
    assert result.returncode == 0
    from patchbay_common.settings import parse_settings
    from patchbay_sqlite.server import Settings

    os.environ["PATCHBAY_SQLITE_DB"] = f"{database}{os.pathsep}b={tmp_path / 'b.db'}"
    try:
        assert parse_settings(Settings, []).db == [str(database), f"b={tmp_path / 'b.db'}"]
    finally:
        del os.environ["PATCHBAY_SQLITE_DB"]


@pytest.mark.parametrize("name", SERVERS)
def test_help_into_a_closed_pipe_is_quiet(name: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", _module(name), "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(COLUMNS="80"),
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # like `| head -1`
        errors = process.stderr.read().decode()
        process.wait(timeout=60)
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors


@pytest.mark.parametrize("name", SERVERS)
def test_help_reads_well(name: str) -> None:
    result = _run(name, ["--help"], {"COLUMNS": "100"})
    assert result.returncode == 0
    text = result.stdout
    lines = text.splitlines()
    assert lines[0].startswith(f"usage: patchbay-{name}")
    assert f"patchbay-{name} config CLIENT" in text and "--version" in text
    own = text.index(f"patchbay-{name} flags:") if f"patchbay-{name} flags:" in text else 0
    assert own < text.index("Flags every patchbay server shares:"), "own flags come first"
    assert len(lines[4]) > 10, "a one-line summary follows the usage"
    for python_name in (" str ", " SecretStr", " Path ", " int ", " float ", "list[str]", "default factory"):
        assert python_name not in text, f"{name} --help shows {python_name.strip()!r}"
    assert "--host HOST" in text and "--auth-token TOKEN" in text and "--auth-token-file PATH" in text
    assert "(default: 127.0.0.1)" in text and f"{_prefix(name)}PORT" in text
    assert max(map(len, lines)) <= 110


@pytest.mark.parametrize("name", SERVERS)
def test_version(name: str) -> None:
    result = _run(name, ["--version"])
    assert result.returncode == 0 and result.stdout.startswith(f"patchbay-{name} 0.")
