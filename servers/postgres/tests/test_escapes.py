"""security.md section 1: every known escape from a "read-only" PostgreSQL MCP server, with a SUPERUSER DSN.

Each is refused in the read tier with a text that says why, and afterwards the data is untouched, no file
exists, no lock is held and no setting changed. A control at --access unrestricted shows the same
statements do work on this server when allowed, so the refusals are this server's doing.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pg_helpers import call, run_sql, server

from patchbay_common.testing.clients import connect

pytestmark = pytest.mark.anyio

MARKER = f"/tmp/pbpg_escape_{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def dblink_db(pgdb):
    asyncio.run(run_sql(pgdb.superuser_dsn, "CREATE EXTENSION IF NOT EXISTS dblink"))
    return pgdb


def escapes(db) -> list[tuple[str, str]]:
    loop_dsn = f"dbname={db.name} user=postgres host=127.0.0.1 port={urlsplit(db.superuser_dsn).port}"
    return [
        ("COMMIT; DROP TABLE customers", "holds 2 statements"),
        ("SELECT 1; -- harmless?\nCOMMIT", "holds 2 statements"),
        ("COMMIT", "Transaction control"),
        ("END", "Transaction control"),
        ("ROLLBACK; DELETE FROM orders", "holds 2 statements"),
        ("SET TRANSACTION READ WRITE", "SET TRANSACTION"),
        ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "SET SESSION CHARACTERISTICS"),
        ("SET default_transaction_read_only = off", "SET/RESET is not allowed"),
        ("RESET ALL", "SET/RESET is not allowed"),
        (f"COPY (SELECT 'x') TO PROGRAM 'touch {MARKER}'", "COPY is not allowed"),
        (f"COPY customers TO '{MARKER}'", "COPY is not allowed"),
        ("COPY customers FROM '/etc/hostname'", "COPY is not allowed"),
        ("SELECT pg_read_file('/etc/hostname')", "pg_read_file() is not allowed"),
        ("SELECT * FROM pg_read_file('/etc/passwd') AS f", "pg_read_file() is not allowed"),
        ("SELECT pg_catalog.pg_read_binary_file('/etc/hostname')", "pg_read_binary_file() is not allowed"),
        ("SELECT U&\"pg\\005fread_file\"('/etc/hostname')", "pg_read_file() is not allowed"),
        ("SELECT \"pg_read_file\"('/etc/hostname')", "pg_read_file() is not allowed"),
        ("SELECT pg_ls_dir('.')", "pg_ls_dir() is not allowed"),
        ("SELECT lo_import('/etc/hostname')", "lo_import() is not allowed"),
        (f"SELECT lo_export(1, '{MARKER}')", "lo_export() is not allowed"),
        (
            f"SELECT dblink_exec('{loop_dsn}', 'INSERT INTO customers (name) VALUES (''dblink'')')",  # noqa: S608
            "dblink_exec() is not allowed",
        ),
        (f"SELECT * FROM dblink('{loop_dsn}', 'SELECT 1') AS t(x int)", "dblink() is not allowed"),  # noqa: S608
        ("SELECT pg_advisory_lock(4242)", "pg_advisory_lock() is not allowed"),
        ("SELECT pg_try_advisory_lock(4242)", "pg_try_advisory_lock() is not allowed"),
        ("SELECT set_config('default_transaction_read_only', 'off', false)", "set_config() is not allowed"),
        (
            "SELECT query_to_xml('DELETE FROM orders RETURNING 1', true, false, '')",
            "query_to_xml() is not allowed",
        ),
        ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend() is not allowed"),
        ("SELECT pg_reload_conf()", "pg_reload_conf() is not allowed"),
        ("SELECT pg_notify('x', 'y')", "pg_notify() is not allowed"),
        ("SELECT pg_stat_reset()", "pg_stat_reset() is not allowed"),
        (
            "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
            "data-changing statement inside WITH",
        ),
        ("SELECT * FROM customers FOR UPDATE", "FOR UPDATE/SHARE"),
        ("SELECT * INTO stolen FROM customers", "SELECT INTO"),
        ("CREATE TEMP TABLE t AS SELECT 1", "CREATE TABLE AS"),
        ("DROP TABLE customers", "DROP is not allowed"),
        ("TRUNCATE orders", "TRUNCATE is not allowed"),
        ("INSERT INTO customers (name) VALUES ('x')", "INSERT is not allowed"),
        ("EXPLAIN ANALYZE DELETE FROM orders", "EXPLAIN ANALYZE of DELETE is not allowed"),
        ("DO $$ BEGIN DELETE FROM orders; END $$", "DO is not allowed"),
        ("CALL some_procedure()", "CALL is not allowed"),
        ("LOCK TABLE customers", "LOCK is not allowed"),
        ("LISTEN channel", "LISTEN is not allowed"),
        ("PREPARE p AS SELECT 1", "PREPARE is not allowed"),
        ("SET ROLE postgres", "SET/RESET is not allowed"),
        ("ALTER SYSTEM SET fsync = on", "ALTER SYSTEM is not allowed"),
        ("CREATE EXTENSION IF NOT EXISTS file_fdw", "CREATE EXTENSION is not allowed"),
        ("LOAD 'auto_explain'", "LOAD is not allowed"),
        ("CREATE ROLE evil SUPERUSER", "CREATE ROLE is not allowed"),
    ]


async def _snapshot(db) -> tuple:
    import asyncpg

    connection = await asyncpg.connect(db.superuser_dsn)
    try:
        return (
            await connection.fetchval("SELECT count(*) FROM customers"),
            await connection.fetchval("SELECT count(*) FROM orders"),
            await connection.fetchval("SELECT count(*) FROM pg_class WHERE relname = 'stolen'"),
            await connection.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            await connection.fetchval("SELECT count(*) FROM pg_largeobject_metadata"),
            await connection.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = 'evil'"),
            await connection.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'file_fdw'"),
        )
    finally:
        await connection.close()


async def test_every_escape_is_refused_with_a_superuser_dsn(dblink_db) -> None:
    db = dblink_db
    before = await _snapshot(db)
    assert before[:2] == (3, 20000)
    async with connect(server("--dsn", db.superuser_dsn), era="legacy") as client:
        for sql, expected in escapes(db):
            error, text, _ = await call(client, "query", sql=sql)
            assert error, f"{sql!r} was not refused: {text}"
            assert expected in text, f"{sql!r}: {text}"
            assert ("not allowed" in text) or ("statements" in text), text
        tools = {tool.name for tool in (await client.list_tools()).tools}
    assert "execute_sql" not in tools
    assert await _snapshot(db) == before
    assert not Path(MARKER).exists()  # noqa: ASYNC240 - a stat, not I/O worth a thread


async def test_statements_the_parser_allows_still_cannot_write(pgdb) -> None:
    """nextval() parses as a plain SELECT: the READ ONLY transaction stops it, and the text says so."""
    async with connect(server("--dsn", pgdb.superuser_dsn)) as client:
        error, text, _ = await call(client, "query", sql="SELECT nextval('orders_id_seq')")
        assert error
        assert "25006" in text and "read-only transaction" in text
        error, text, _ = await call(client, "query", sql="SELECT last_value FROM orders_id_seq")
    assert not error and '"last_value": 20000' in text


async def test_engine_layers_hold_when_the_parser_is_bypassed(pgdb) -> None:
    """If the classifier ever missed something, the extended protocol and READ ONLY still refuse it."""
    from patchbay_common.errors import UserError
    from patchbay_postgres.databases import Database, Target
    from patchbay_postgres.execute import Limits, run_read
    from patchbay_postgres.sqlcheck import Checked

    db = Database(Target("t", pgdb.superuser_dsn))
    try:
        async with db.connection() as connection:
            for sql, expected in [
                ("COMMIT; DROP TABLE customers", "cannot insert multiple commands into a prepared statement"),
                ("DELETE FROM orders", "cannot execute DELETE in a read-only transaction"),
                ("CREATE TABLE evil (x int)", "cannot execute CREATE TABLE in a read-only transaction"),
            ]:
                with pytest.raises(UserError) as caught:
                    await run_read(connection, Checked(sql=sql, needs="read", label="x"), [], limits=Limits())
                assert expected in str(caught.value)
    finally:
        await db.close()
    assert (await _snapshot(pgdb))[:2] == (3, 20000)


async def test_control_the_same_escape_works_when_unrestricted(pgdb) -> None:
    marker = f"{MARKER}_control"
    try:
        async with connect(server("--dsn", pgdb.superuser_dsn, "--access", "unrestricted")) as client:
            error, text, _ = await call(
                client, "execute_sql", sql=f"COPY (SELECT 'x') TO PROGRAM 'touch {marker}'"
            )
        assert not error, text
        assert "COPY 1" in text
        assert Path(marker).exists()  # noqa: ASYNC240
    finally:
        Path(marker).unlink(missing_ok=True)  # noqa: ASYNC240
