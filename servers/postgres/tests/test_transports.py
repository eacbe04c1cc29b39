"""The installed console script over stdio and streamable HTTP, and its command line."""

from __future__ import annotations

import subprocess

import pytest
from pg_helpers import call

from patchbay_common.testing.clients import ERAS, Launch, connect, http_server

pytestmark = pytest.mark.anyio


async def test_stdio(pgdb) -> None:
    async with connect(Launch("patchbay-postgres", ["--dsn", pgdb.reader_dsn]), era="legacy") as client:
        assert client.server_info.name == "patchbay-postgres"
        error, text, data = await call(client, "query", sql="SELECT name FROM customers ORDER BY id LIMIT 1")
        assert not error and data["rows"] == [["Ada"]]
        error, text, _ = await call(client, "query", sql="COMMIT; DROP TABLE customers")
        assert error and "2 statements" in text


@pytest.mark.parametrize("era", ERAS)
async def test_streamable_http(pgdb, era) -> None:
    launch = Launch("patchbay-postgres", ["--dsn", pgdb.reader_dsn, "--access", "dml"])
    with http_server(launch) as running:
        async with connect(running, era=era) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert "execute_sql" in tools
            error, _, data = await call(client, "query", sql="SELECT count(*) FROM orders")
            assert not error and data["rows"] == [[20000]]


def test_command_line_errors_exit_2_with_one_line() -> None:
    result = subprocess.run(
        ["patchbay-postgres", "--dsn", "mysql://root:hunter22@db/x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--dsn expects postgresql://" in result.stderr and "hunter22" not in result.stderr
    result = subprocess.run(
        ["patchbay-postgres", "--access", "admin"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "--access" in result.stderr
    result = subprocess.run(["patchbay-postgres", "--help"], capture_output=True, text=True, timeout=30)
    assert (
        result.returncode == 0
        and "--statement-timeout" in result.stdout
        and "PATCHBAY_POSTGRES_" in result.stdout
    )


def test_dsn_from_flags_and_environment(monkeypatch) -> None:
    from patchbay_postgres.server import Settings

    flags = ["--dsn", "a=postgresql://h1,h2/a", "--dsn", "postgresql://h/b"]
    assert Settings(_cli_parse_args=flags).dsn == ["a=postgresql://h1,h2/a", "postgresql://h/b"]
    monkeypatch.setenv("PATCHBAY_POSTGRES_DSN", "postgresql://u:pw@h/db")
    assert Settings(_cli_parse_args=[]).dsn == ["postgresql://u:pw@h/db"]
    monkeypatch.setenv("PATCHBAY_POSTGRES_DSN", "x=postgresql://h/x y=postgresql://h/y")
    assert Settings(_cli_parse_args=[]).dsn == ["x=postgresql://h/x", "y=postgresql://h/y"]
    monkeypatch.setenv("PATCHBAY_POSTGRES_DSN", '["z=postgresql://h/z"]')
    assert Settings(_cli_parse_args=[]).dsn == ["z=postgresql://h/z"]
