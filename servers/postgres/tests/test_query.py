"""The query tool end to end (in-process client, both eras): rows, params, caps, paging, SQL errors."""

from __future__ import annotations

import pytest
from pg_helpers import call, server

from patchbay_common.testing.clients import ERAS, connect

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("era", ERAS)
async def test_query_returns_rows_and_structured_content(pgdb, era) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn), era=era) as client:
        error, text, data = await call(
            client,
            "query",
            sql="SELECT id, name, email FROM customers WHERE id <= $1 ORDER BY id",
            params=[2],
        )
    assert not error, text
    assert "2 row(s)" in text and "columns: id int4, name text, email text" in text
    assert '{"id": 1, "name": "Ada", "email": "ada@example.com"}' in text
    assert "<untrusted-data-" in text
    assert data["columns"] == ["id", "name", "email"]
    assert data["rows"] == [[1, "Ada", "ada@example.com"], [2, "Grace", "grace@example.com"]]
    assert data["truncated"] is False


async def test_rows_are_capped_with_a_continuation(pgdb) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn, "--max-rows", "50")) as client:
        error, text, data = await call(client, "query", sql="SELECT id FROM orders ORDER BY id")
        assert not error
        assert data["row_count"] == 50 and data["truncated"] and data["next_offset"] == 50
        cursor = data["next_cursor"]
        assert (
            f"[truncated: showing rows 1-50 (row limit 50); call read_more_rows with cursor={cursor}]" in text
        )
        error, text, data = await call(client, "read_more_rows", cursor=cursor)
        assert [r[0] for r in data["rows"]] == list(range(51, 101)) and data["offset"] == 50
        assert "skipped to row 51" in text and "may have changed since the first page" in text
        assert "Without ORDER BY" not in text
        error, text, data = await call(client, "query", sql="SELECT id FROM orders ORDER BY id", offset=19990)
        assert data["rows"][0] == [19991] and data["row_count"] == 10 and not data["truncated"]
        assert data["next_cursor"] is None and "skipped to row 19991" in text
        error, text, data = await call(client, "query", sql="SELECT id FROM orders", offset=50)
        assert "Without ORDER BY, the rows may also come in another order" in text
        error, text, _ = await call(client, "read_more_rows", cursor=cursor[:-3] + "abc")
        assert error and "The cursor is not valid" in text
        error, text, data = await call(client, "query", sql="SELECT id FROM orders ORDER BY id", offset=30000)
        assert not error and data["row_count"] == 0 and "past the last row" in text


async def test_characters_are_capped_and_long_values_cut(pgdb) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn, "--max-output-chars", "4000")) as client:
        error, text, data = await call(client, "query", sql="SELECT repeat('x', 100000) AS big, 1 AS n")
        assert not error
        assert len(text) < 4000
        assert "...(+99500 chars)" in text and "long value(s) were cut to 500 characters" in text
        error, text, data = await call(client, "query", sql="SELECT id, repeat('y', 300) FROM orders")
        assert data["truncated"] and "character limit" in text and len(text) < 4000
        # Rows, cursor and notes fit the answer's budget together: the common layer cuts nothing.
        assert f"call read_more_rows with cursor={data['next_cursor']}]" in text
        assert "[truncated: showing characters" not in text


async def test_parameters_are_converted_to_the_placeholder_types(pgdb) -> None:
    sql = "SELECT count(*) AS n FROM orders WHERE created >= $1 AND total > $2 AND status = ANY($3) AND $4"
    async with connect(server("--dsn", pgdb.reader_dsn)) as client:
        error, text, data = await call(
            client, "query", sql=sql, params=["2024-12-01", "100.5", ["paid", "new"], True]
        )
        assert not error, text
        assert data["rows"][0][0] > 0
        error, text, _ = await call(client, "query", sql=sql, params=["2024-13-45", 1, [], True])
        assert error and "Parameter $1 ('2024-13-45') is not a valid date" in text
        error, text, _ = await call(client, "query", sql=sql, params=["2024-01-01"])
        assert error and "4 placeholder(s)" in text and "1 parameter(s)" in text


async def test_sql_errors_carry_message_detail_hint_and_position(pgdb) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn)) as client:
        error, text, _ = await call(client, "query", sql="SELECT id,\n       nmae FROM customers")
        assert error
        assert 'PostgreSQL error 42703: column "nmae" does not exist' in text
        assert "HINT: Perhaps you meant to reference the column" in text
        assert "POSITION: character 19 (line 2, column 8)" in text and "       ^" in text
        assert "describe_object" in text
        error, text, _ = await call(client, "query", sql="SELECT * FROM nope")
        assert "42P01" in text and "list_objects" in text
        error, text, _ = await call(client, "query", sql="SELEC 1")
        assert error and "does not parse" in text and "line 1, column 1" in text
        error, text, _ = await call(client, "query", sql="SELECT 1/0")
        assert error and "22012" in text and "division by zero" in text


async def test_statement_timeout_stops_long_queries(pgdb) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn, "--statement-timeout", "0.3")) as client:
        error, text, _ = await call(client, "query", sql="SELECT pg_sleep(5)")
        assert error and "57014" in text and "statement timeout" in text and "explain_query" in text
        error, text, _ = await call(client, "query", sql="SELECT 1 AS ok")
        assert not error


async def test_no_session_state_passes_between_calls(pgdb) -> None:
    """Settings, prepared statements and cursors from one call are gone in the next (DISCARD ALL)."""
    async with connect(
        server("--dsn", pgdb.superuser_dsn, "--access", "unrestricted", "--pool-size", "1")
    ) as client:
        assert not (await call(client, "execute_sql", sql="SET search_path TO sales"))[0]
        assert not (await call(client, "execute_sql", sql="PREPARE leak AS SELECT 1"))[0]
        assert not (await call(client, "execute_sql", sql="CREATE TEMP TABLE scratch (x int)"))[0]
        assert not (await call(client, "execute_sql", sql="SELECT pg_advisory_lock(99)"))[0]
        _, _, data = await call(client, "query", sql="SHOW search_path")
        assert data["rows"] == [['"$user", public']]
        _, _, data = await call(client, "query", sql="SELECT count(*) FROM pg_prepared_statements")
        assert data["rows"] == [[0]]
        _, _, data = await call(
            client, "query", sql="SELECT count(*) FROM pg_class WHERE relname = 'scratch'"
        )
        assert data["rows"] == [[0]]
        _, _, data = await call(
            client, "query", sql="SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        )
        assert data["rows"] == [[0]]


async def test_several_databases_in_one_server(pgdb) -> None:
    async with connect(
        server("--dsn", f"main={pgdb.reader_dsn}", "--dsn", f"admin={pgdb.admin_dsn}")
    ) as client:
        _, text, data = await call(client, "query", sql="SELECT current_database()")
        assert data["rows"] == [[pgdb.name]]
        _, text, data = await call(client, "query", sql="SELECT current_database()", database="admin")
        assert data["rows"] == [["postgres"]]
        error, text, _ = await call(client, "query", sql="SELECT 1", database="nope")
        assert error and "no database called 'nope'" in text and "main, admin" in text
        error, text, _ = await call(client, "list_databases")
        assert not error
        assert f"main: postgresql://{pgdb.reader}@" in text and "admin: postgresql://postgres@" in text
        assert "superuser" in text.split("admin:")[1] and "superuser" not in text.split("admin:")[0]
