"""Large values are measured and cut inside PostgreSQL; everything else about a result stays as it was.

A read query whose columns can hold large values (text, bytea, json, arrays, ...) runs wrapped, so that a
value over the limit leaves the database as its first characters and its size (test_heavy.py checks the
memory). These tests pin what the wrapper must not change: order and paging, parameters, duplicate column
names, a trailing semicolon or comment, NULLs, and small arrays or documents, which come back whole.
"""

from __future__ import annotations

import pytest
from pg_helpers import call, server

from patchbay_common.testing.clients import connect

pytestmark = pytest.mark.anyio


async def test_large_values_are_cut_in_the_database_and_small_ones_kept(pgdb) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn)) as client:
        error, text, data = await call(
            client,
            "query",
            sql="SELECT repeat('x', 1000000) AS t, decode(repeat('ab', 100000), 'hex') AS b, "
            "(SELECT array_agg(g) FROM generate_series(1, 100000) AS g) AS big_array, "
            "ARRAY[1, 2, 3] AS small_array, '{\"a\": [1, 2]}'::jsonb AS doc, NULL::text AS nothing, "
            "ROW(1, 'x') AS pair",
        )
        assert not error, text
        t, b, big_array, small_array, doc, nothing, pair = data["rows"][0]
        assert t == "x" * 2000 + "...(+998000 chars)"
        assert b.startswith("\\xabab") and b.endswith("...(+99000 bytes)")
        assert big_array.startswith("{1,2,3,") and big_array.endswith("bytes in all)")
        assert small_array == [1, 2, 3] and doc == '{"a": [1, 2]}' and nothing is None
        assert pair == [1, "x"]
        assert "3 long value(s) were cut" in text
        assert data["types"] == ["text", "bytea", "int4[]", "int4[]", "jsonb", "text", "record"]


async def test_order_paging_params_and_odd_statements_are_unchanged(pgdb) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn, "--max-rows", "5")) as client:
        sql = "SELECT id, repeat('p', 20000) AS pad FROM orders WHERE id > $1 ORDER BY id DESC; -- newest"
        error, text, data = await call(client, "query", sql=sql, params=[10])
        assert not error, text
        assert [r[0] for r in data["rows"]] == [20000, 19999, 19998, 19997, 19996]
        assert all(r[1].endswith("...(+18000 chars)") for r in data["rows"])
        error, text, data = await call(client, "read_more_rows", cursor=data["next_cursor"])
        assert [r[0] for r in data["rows"]] == [19995, 19994, 19993, 19992, 19991], text
        error, text, data = await call(
            client, "query", sql="SELECT $1::text AS a, $1::text AS a, 2 AS n /* trailing */", params=["v"]
        )
        assert not error and data["rows"] == [["v", "v", 2]] and '{"a": "v", "a_2": "v", "n": 2}' in text
        error, text, data = await call(
            client,
            "query",
            sql="WITH w AS (SELECT g FROM generate_series(1, 3) AS g) "
            "SELECT g::text FROM w UNION ALL VALUES ('four') ORDER BY 1",
        )
        assert not error and data["rows"] == [["1"], ["2"], ["3"], ["four"]], text
        error, text, data = await call(client, "query", sql="VALUES ('a', 1), ('b', 2)")
        assert not error and data["rows"] == [["a", 1], ["b", 2]], text
        error, text, data = await call(client, "query", sql="TABLE sales.orders")
        assert not error and data["rows"] == [], text
        error, text, data = await call(
            client, "query", sql="SELECT name FROM customers ORDER BY id LIMIT 1 OFFSET 1"
        )
        assert not error and data["rows"] == [["Grace"]], text
