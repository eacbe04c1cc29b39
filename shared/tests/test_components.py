"""The real components the test suite runs against: each one starts, answers, and is gone afterwards."""

from __future__ import annotations

import io
import os
import socket
import subprocess
from pathlib import Path

import pytest

from patchbay_common.testing import components
from patchbay_common.testing.components import (
    CHROMIUM_ARGS,
    ComponentMissing,
    chromium_executable,
    free_port,
    postgres_server,
    redis_server,
)


def read_reply(f: io.BufferedIOBase) -> object:
    """Read one RESP2 reply: str for +/-, int for :, bytes or None for $, list for *."""
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-"):
        return (kind + rest).decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        return None if rest == b"-1" else f.read(int(rest) + 2)[:-2]
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    raise AssertionError(f"not a RESP reply: {line!r}")


def redis_call(port: int, *commands: tuple[str, ...]) -> list[object]:
    """Send commands over a raw socket (no redis-py) and return their decoded replies."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, sock.makefile("rwb") as f:
        for args in commands:
            f.write(f"*{len(args)}\r\n".encode())
            for arg in args:
                data = arg.encode()
                f.write(b"$%d\r\n%s\r\n" % (len(data), data))
            f.flush()
            replies.append(read_reply(f))
    return replies


def is_listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def psql(dsn: str, sql: str) -> str:
    result = subprocess.run(
        ["psql", dsn, "-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_redis_server_answers_and_is_gone_afterwards() -> None:
    with redis_server() as redis:
        assert redis.url == f"redis://127.0.0.1:{redis.port}/0"
        assert redis.dir.is_dir()
        replies = redis_call(
            redis.port,
            ("PING",),
            ("SET", "patchbay:key", "héllo wörld"),
            ("GET", "patchbay:key"),
            ("GET", "patchbay:missing"),
            ("EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", "1", "patchbay:n", "41"),
        )
        assert replies == ["+PONG", "+OK", "héllo wörld".encode(), None, 41]
        # Nothing is persisted: `--save ""` and no AOF.
        assert redis_call(redis.port, ("CONFIG", "GET", "save"), ("CONFIG", "GET", "appendonly")) == [
            [b"save", b""],
            [b"appendonly", b"no"],
        ]
    assert not is_listening(redis.port)
    assert not redis.dir.exists()


def test_two_redis_servers_are_independent() -> None:
    with redis_server() as first, redis_server() as second:
        assert first.port != second.port
        redis_call(first.port, ("SET", "k", "first"))
        assert redis_call(second.port, ("GET", "k")) == [None]


def test_postgres_server_runs_sql_and_is_gone_afterwards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(components.POSTGRES_DSN_ENV, raising=False)
    with postgres_server() as pg:
        assert (pg.host, pg.user, pg.dbname) == ("127.0.0.1", "postgres", "postgres")
        assert pg.dsn == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        assert psql(pg.dsn, "select 1") == "1"
        psql(pg.dsn, "create table notes (id serial primary key, body text not null)")
        psql(pg.dsn, "insert into notes (body) values ('first'), ('sécond')")
        assert psql(pg.dsn, "select id, body from notes order by id") == "1|first\n2|sécond"
        assert psql(pg.dsn, "show fsync") == "off"
        assert psql(pg.dsn, "show server_encoding") == "UTF8"
        assert psql(pg.dsn, "show listen_addresses") == "127.0.0.1"
        data_dir = Path(psql(pg.dsn, "show data_directory"))
        assert data_dir.is_dir()
    assert not is_listening(pg.port)
    assert not data_dir.exists()


def test_postgres_server_honours_an_external_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(components.POSTGRES_DSN_ENV, raising=False)
    with postgres_server() as real:
        external = f"postgresql://postgres@127.0.0.1:{real.port}/template1"
        monkeypatch.setenv(components.POSTGRES_DSN_ENV, external)
        with postgres_server() as pg:
            assert (pg.dsn, pg.host, pg.port, pg.user, pg.dbname) == (
                external,
                "127.0.0.1",
                real.port,
                "postgres",
                "template1",
            )
            assert psql(pg.dsn, "select current_database()") == "template1"
        # Nothing was started, so nothing was stopped: the real server still answers.
        assert psql(real.dsn, "select 1") == "1"


def test_postgres_key_value_dsn_is_understood(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(components.POSTGRES_DSN_ENV, "host=db.internal port=6543 user=app dbname=appdb")
    with postgres_server() as pg:
        assert (pg.host, pg.port, pg.user, pg.dbname) == ("db.internal", 6543, "app", "appdb")


def test_chromium_executable_answers_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(components.CHROMIUM_ENV, raising=False)
    path = chromium_executable()
    assert os.path.isfile(path) and os.access(path, os.X_OK)
    result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "Chromium" in result.stdout
    assert "--no-sandbox" in CHROMIUM_ARGS and "--disable-quic" in CHROMIUM_ARGS


def test_chromium_env_override_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\necho Chromium 1.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv(components.CHROMIUM_ENV, str(fake))
    assert chromium_executable() == str(fake)
    monkeypatch.setenv(components.CHROMIUM_ENV, str(tmp_path / "nope"))
    with pytest.raises(ComponentMissing, match=r"PATCHBAY_CHROMIUM=.*nope is not an executable file"):
        chromium_executable()


@pytest.fixture
def nothing_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PATH and the Debian locations all point at an empty directory."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv(components.CHROMIUM_ENV, raising=False)
    monkeypatch.delenv(components.POSTGRES_DSN_ENV, raising=False)
    monkeypatch.setattr(components, "_POSTGRES_BIN_GLOB", str(empty / "*" / "bin"))
    monkeypatch.setattr(components, "_CHROMIUM_DEFAULT", str(empty / "chromium"))


@pytest.mark.usefixtures("nothing_installed")
def test_missing_redis_says_how_to_install_it() -> None:
    with pytest.raises(ComponentMissing) as caught, redis_server():
        pass
    assert "make setup" in str(caught.value)
    assert "apt-get install -y redis-server" in str(caught.value)


@pytest.mark.usefixtures("nothing_installed")
def test_missing_postgres_says_how_to_install_it() -> None:
    with pytest.raises(ComponentMissing) as caught, postgres_server():
        pass
    assert "make setup" in str(caught.value)
    assert "apt-get install -y postgresql-15" in str(caught.value)
    assert components.POSTGRES_DSN_ENV in str(caught.value)


@pytest.mark.usefixtures("nothing_installed")
def test_missing_chromium_says_how_to_install_it() -> None:
    with pytest.raises(ComponentMissing) as caught:
        chromium_executable()
    assert "make setup" in str(caught.value)
    assert "apt-get install -y --no-install-recommends chromium" in str(caught.value)
    assert issubclass(ComponentMissing, RuntimeError)
