"""explain_query, top_queries, db_health and suggest_indexes, with and without the optional extensions.

hypopg must be installed on the test machine (Debian: postgresql-15-hypopg) for the costed path; the
"not installed" paths are tested in a database where the extension was never created. pg_stat_statements
with the library preloaded is tested on a private cluster in test_reliability.py.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from pg_helpers import call, drop_db, framed, make_db, run_sql, server

from patchbay_common.testing.clients import connect

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def hypo_db(postgres_instance):
    db = make_db(postgres_instance)
    try:
        asyncio.run(
            run_sql(
                db.superuser_dsn,
                f"CREATE EXTENSION hypopg; GRANT SELECT ON hypopg_list_indexes TO {db.reader}",
            )
        )
    except Exception as exc:
        drop_db(db)
        raise AssertionError(
            f"hypopg is not available on this PostgreSQL ({exc}): apt-get install -y postgresql-15-hypopg"
        ) from exc
    try:
        yield db
    finally:
        drop_db(db)


async def test_explain_plain_json_and_analyze(pgdb) -> None:
    async with connect(server("--dsn", pgdb.superuser_dsn)) as client:
        error, text, _ = await call(
            client, "explain_query", sql="SELECT * FROM orders WHERE id = $1", params=[5]
        )
        assert not error, text
        assert "Index Scan using orders_pkey on orders" in text
        error, text, _ = await call(client, "explain_query", sql="SELECT count(*) FROM orders", output="json")
        assert json.loads(framed(text))[0]["Plan"]["Node Type"] == "Aggregate"
        error, text, _ = await call(client, "explain_query", sql="SELECT count(*) FROM orders", analyze=True)
        assert "actual time=" in text and "Buffers:" in text and "rolled back" in text
        error, text, _ = await call(client, "explain_query", sql="DELETE FROM orders", analyze=True)
        assert error and "DELETE is not allowed" in text and "--access dml" in text
        error, text, _ = await call(client, "explain_query", sql="DELETE FROM orders")
        assert not error and "Delete on orders" in text, text
        error, text, _ = await call(client, "explain_query", sql="EXPLAIN SELECT 1")
        assert error and "without EXPLAIN" in text


async def test_explain_analyze_of_a_write_is_rolled_back(pgdb) -> None:
    async with connect(server("--dsn", pgdb.superuser_dsn, "--access", "dml")) as client:
        error, text, _ = await call(
            client, "explain_query", sql="DELETE FROM orders WHERE id < 100", analyze=True
        )
        assert not error, text
        assert "Delete on orders" in text and "actual time=" in text
    rows = await run_sql(pgdb.superuser_dsn, "SELECT count(*) FROM orders WHERE id < $1", 100)
    assert rows[0][0] == 99


async def test_top_queries_explains_a_missing_or_unloaded_extension(pgdb, postgres_instance) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn)) as client:
        error, text, _ = await call(client, "top_queries")
        assert error
        assert f"pg_stat_statements is not installed in database '{pgdb.name}'" in text
        assert "shared_preload_libraries" in text and "CREATE EXTENSION pg_stat_statements" in text
    other = await asyncio.to_thread(make_db, postgres_instance, "CREATE SCHEMA sales;")
    try:
        await run_sql(other.superuser_dsn, "CREATE EXTENSION pg_stat_statements")
        async with connect(server("--dsn", other.superuser_dsn)) as client:
            error, text, _ = await call(client, "top_queries")
        assert error
        assert "installed" in text and "but not loaded" in text and "restarts PostgreSQL" in text
    finally:
        await asyncio.to_thread(drop_db, other)


async def test_db_health_reports_each_area(pgdb) -> None:
    async with connect(server("--dsn", pgdb.superuser_dsn)) as client:
        error, text, _ = await call(client, "db_health")
    assert not error, text
    for area in (
        "connections:",
        "cache:",
        "wraparound:",
        "unused_indexes:",
        "duplicate_indexes:",
        "invalid_indexes:",
        "index_bloat:",
        "replication:",
        "vacuum:",
    ):
        assert area in text, area
    assert "orders_created_idx, orders_created_dup are identical" in text
    assert "WARNING unused_indexes: public.orders_created" in text
    assert "primary with 0 standby(s)" in text


async def test_suggest_indexes_without_hypopg_names_the_candidates(pgdb) -> None:
    async with connect(server("--dsn", pgdb.reader_dsn)) as client:
        error, text, _ = await call(
            client, "suggest_indexes", sql="SELECT * FROM orders WHERE status = 'paid' AND customer_id = 2"
        )
    assert error
    assert f"hypopg is not installed in database '{pgdb.name}'" in text
    assert "CREATE INDEX ON orders (status)" in text and "CREATE INDEX ON orders (customer_id)" in text
    assert "CREATE EXTENSION hypopg" in text


async def test_suggest_indexes_costs_hypothetical_indexes(hypo_db) -> None:
    sql = "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total = $1"
    sql += " ORDER BY o.created"
    async with connect(server("--dsn", hypo_db.reader_dsn, "--pool-size", "1")) as client:
        error, text, _ = await call(client, "suggest_indexes", sql=sql, params=[100.5])
        assert not error, text
        assert "Estimated cost now:" in text
        assert "CREATE INDEX ON orders (total);" in text and "% lower)" in text
        error, text, _ = await call(client, "suggest_indexes", sql="SELECT * FROM customers WHERE id = 1")
        assert "No single hypothetical index lowered the cost" in text
        _, text, data = await call(client, "query", sql="SELECT count(*) FROM hypopg_list_indexes")
        assert data is not None and data["rows"] == [[0]], (
            text
        )  # nothing left behind on the pooled connection
        error, text, _ = await call(
            client, "query", sql="SELECT * FROM hypopg_create_index('CREATE INDEX ON orders (note)')"
        )
        assert error and "hypopg_create_index() is not allowed" in text
    rows = await run_sql(
        hypo_db.superuser_dsn,
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1",
        "orders",
    )
    assert rows[0][0] == 3  # the two of the sample plus the primary key: nothing was built
