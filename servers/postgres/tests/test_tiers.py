"""Access tiers: which tools are listed, what each tier runs and refuses, and that refusals change nothing."""

from __future__ import annotations

import pytest
from pg_helpers import call, server

from patchbay_common.testing.clients import connect

pytestmark = pytest.mark.anyio


async def _one(dsn: str, sql: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def test_read_tier_lists_no_write_tool_and_true_annotations(pgdb) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {
        "query",
        "read_more_rows",
        "explain_query",
        "list_databases",
        "list_schemas",
        "list_objects",
        "describe_object",
        "search_objects",
        "top_queries",
        "db_health",
        "suggest_indexes",
    }  # replica_status only with a --replica-dsn (test_replica.py)
    for tool in tools.values():
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.annotations.open_world_hint is False
        assert tool.description.isascii()
    assert tools["query"].output_schema["properties"]["rows"]["type"] == "array"


async def test_dml_tier_writes_and_commits_but_refuses_schema_changes(pgdb) -> None:
    async with connect(server("--dsn", pgdb.superuser_dsn, "--access", "dml")) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert tools["execute_sql"].annotations.destructive_hint is True
        assert tools["execute_sql"].annotations.read_only_hint is False
        error, text, data = await call(
            client,
            "execute_sql",
            sql="INSERT INTO customers (name) VALUES ($1) RETURNING id, name",
            params=["Edsger"],
        )
        assert not error, text
        assert "columns: id int4, name text" in text and "INSERT 0 1: 1 row(s); committed" in text
        assert data["rows"][0][1] == "Edsger"
        assert await _one(pgdb.superuser_dsn, "SELECT count(*) FROM customers WHERE name = 'Edsger'") == 1
        error, text, _ = await call(client, "execute_sql", sql="DELETE FROM customers WHERE name = 'Edsger'")
        assert not error and "DELETE 1: 0 row(s); committed" in text
        error, text, _ = await call(
            client, "execute_sql", sql="INSERT INTO customers (id, name) VALUES (1, 'dup')"
        )
        assert error and "23505" in text and "DETAIL: Key (id)=(1) already exists." in text
        assert "Nothing was changed" in text
        for sql, expected in [
            ("DROP TABLE orders", "--access ddl"),
            ("CREATE TABLE t (x int)", "--access ddl"),
            ("COPY customers TO '/tmp/x'", "--access unrestricted"),
            ("SELECT pg_read_file('/etc/hostname')", "pg_read_file() is not allowed"),
            ("COMMIT", "Transaction control"),
            ("UPDATE orders SET status = 'x'; DROP TABLE orders", "2 statements"),
        ]:
            error, text, _ = await call(client, "execute_sql", sql=sql)
            assert error and expected in text, (sql, text)
        error, text, _ = await call(client, "query", sql="DELETE FROM orders")
        assert error and "read-only" in text
    assert await _one(pgdb.superuser_dsn, "SELECT count(*) FROM orders") == 20000
    assert await _one(pgdb.superuser_dsn, "SELECT count(*) FROM customers") == 3


async def test_write_tier_continuations_never_run_a_write_again(pgdb) -> None:
    async with connect(server("--dsn", pgdb.superuser_dsn, "--access", "dml", "--max-rows", "2")) as client:
        error, text, data = await call(client, "execute_sql", sql="SELECT id FROM orders ORDER BY id")
        assert not error and data["truncated"] and f"read_more_rows with cursor={data['next_cursor']}" in text
        error, text, data = await call(client, "read_more_rows", cursor=data["next_cursor"])
        assert not error and data["rows"] == [[3], [4]]
        error, text, data = await call(
            client, "execute_sql", sql="UPDATE orders SET note = note WHERE id <= 5 RETURNING id"
        )
        assert not error and data["truncated"] and data["next_cursor"] is None and data["next_offset"] == 2
        assert "not shown (running the statement again would repeat it)" in text
        assert "offset=" not in text and "cursor=" not in text


async def yes(context, params):
    from mcp_types import ElicitResult

    return ElicitResult(action="accept", content={"confirm": True})


async def test_ddl_tier_changes_schema_but_not_roles_or_extensions(pgdb) -> None:
    async with connect(
        server("--dsn", pgdb.superuser_dsn, "--access", "ddl"), elicitation_callback=yes
    ) as client:
        error, text, _ = await call(client, "execute_sql", sql="CREATE TABLE scratch (x int)")
        assert not error and "CREATE TABLE" in text
        error, text, _ = await call(client, "execute_sql", sql="DROP TABLE scratch")
        assert not error
        for sql, expected in [
            ("CREATE EXTENSION hstore", "CREATE EXTENSION is not allowed"),
            ("CREATE ROLE intruder", "CREATE ROLE is not allowed"),
            ("DO $$ BEGIN END $$", "DO is not allowed"),
        ]:
            error, text, _ = await call(client, "execute_sql", sql=sql)
            assert error and expected in text and "--access unrestricted" in text
    assert await _one(pgdb.superuser_dsn, "SELECT count(*) FROM pg_roles WHERE rolname = 'intruder'") == 0


async def test_unrestricted_runs_statements_outside_a_transaction(pgdb) -> None:
    async with connect(server("--dsn", pgdb.superuser_dsn, "--access", "unrestricted")) as client:
        error, text, _ = await call(client, "execute_sql", sql="VACUUM (ANALYZE) customers")
        assert not error, text
        error, text, _ = await call(client, "execute_sql", sql="SELECT 1; SELECT 2")
        assert error and "2 statements" in text


async def test_reader_role_is_limited_by_the_database_too(pgdb) -> None:
    flags = ("--access", "dml", "--allow-destructive")  # the database's refusal, not the confirmation's
    async with connect(server("--dsn", pgdb.reader_dsn, *flags)) as client:
        error, text, _ = await call(client, "execute_sql", sql="DELETE FROM orders")
        assert error and "42501" in text and "permission denied" in text
    assert await _one(pgdb.superuser_dsn, "SELECT count(*) FROM orders") == 20000
