"""The database module on its own: streaming, paging, deadlines, dry runs, identifiers as parameters."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlite_helpers import count, snapshot

from patchbay_common.errors import NotFound, UserError
from patchbay_sqlite.database import Database
from patchbay_sqlite.policy import Access, Purpose

pytestmark = pytest.mark.anyio

FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


async def test_a_long_query_is_interrupted_and_the_connection_stays_usable(shop: Path) -> None:
    db = Database("shop", shop, Access.READ, timeout=0.2)
    try:
        with pytest.raises(UserError, match=r"ran longer than 0.2 s and was stopped"):
            await db.read(FOREVER, (), first=10)
        result = await db.read("SELECT count(*) FROM customers", (), first=10)
        assert result.rows == [[24]]
    finally:
        await db.close()


async def test_a_long_write_is_interrupted_and_nothing_is_written(shop: Path) -> None:
    db = Database("shop", shop, Access.DML, timeout=0.2)
    before = count(shop, "reviews")
    try:
        with pytest.raises(UserError, match="was stopped; nothing was changed"):
            await db.write(
                "INSERT INTO reviews (product_id, customer_id, rating) "
                "SELECT 1, 1, 5 FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                "SELECT x FROM c)",
                (),
                Purpose.WRITE,
                max_rows=5,
            )
        assert count(shop, "reviews") == before
        changed, _ = await db.write("DELETE FROM reviews WHERE id = ?", (1,), Purpose.WRITE, max_rows=5)
        assert changed == 1
    finally:
        await db.close()


async def test_rows_are_streamed_and_paged_from_one_cursor(big: Path) -> None:
    db = Database("big", big, Access.READ, timeout=5)
    try:
        result = await db.read("SELECT i FROM big ORDER BY i", (), first=11)
        assert len(result.rows) == 11 and not result.exhausted  # only one page (+1) was fetched
        page = await db.page(result, 10, 10, budget_chars=10_000)
        assert [r[0] for r in page.rows] == list(range(11, 21)) and page.more
        again = await db.page(result, 0, 10, budget_chars=10_000)  # earlier rows are kept
        assert [r[0] for r in again.rows] == list(range(1, 11))
        offset, seen = 20, []
        while True:  # read on page by page; old rows are released past the budget
            page = await db.page(result, offset, 100, budget_chars=2_000)
            seen += [r[0] for r in page.rows]
            offset += len(page.rows)
            if not page.more:
                break
        assert seen == list(range(21, 1001)) and result.exhausted
        with pytest.raises(UserError, match="released to save memory"):
            await db.page(result, 0, 10, budget_chars=10_000)
        with pytest.raises(UserError, match="past the rows read"):
            await db.page(result, 5000, 10, budget_chars=10_000)
    finally:
        await db.close()


async def test_assess_finds_destructive_statements_without_changing_anything(shop: Path) -> None:
    db = Database("shop", shop, Access.DDL, timeout=5)
    before = snapshot(shop.parent)
    try:
        assert (await db.assess("DELETE FROM reviews", (), Purpose.WRITE)).destructive == (
            "It would delete all 40 rows of reviews."
        )
        everything = await db.assess("UPDATE products SET in_stock = 0 WHERE 1 = 1", (), Purpose.WRITE)
        assert everything.destructive == "It would update all 12 rows of products."
        assert (
            await db.assess("DELETE FROM reviews WHERE rating < ?", (3,), Purpose.WRITE)
        ).destructive is None
        assert (
            await db.assess("DROP TABLE reviews", (), Purpose.WRITE)
        ).destructive == "It drops table reviews."
        assert (await db.assess("DROP INDEX orders_by_customer", (), Purpose.WRITE)).destructive == (
            "It drops index orders_by_customer."
        )
        created = await db.assess("CREATE TABLE notes (a)", (), Purpose.CREATE_TABLE)
        assert created.destructive is None and created.creates_table == "notes"
        assert count(shop, "reviews") == 40
    finally:
        await db.close()
    assert snapshot(shop.parent) == before


async def test_identifiers_are_looked_up_as_parameters(shop: Path) -> None:
    db = Database("shop", shop, Access.DDL, timeout=5)
    try:
        info = await db.describe("ORDERS")
        assert info["name"] == "orders"
        assert [c["name"] for c in info["columns"]] == ["id", "customer_id", "ordered_on", "status"]
        assert info["foreign_keys"] == [
            {
                "column": "customer_id",
                "references": "customers(id)",
                "on_update": "NO ACTION",
                "on_delete": "NO ACTION",
            }
        ]
        for evil in [
            "orders); DROP TABLE reviews; --",
            "orders' OR '1'='1",
            'x") UNION SELECT sql FROM sqlite_master --',
        ]:
            with pytest.raises(NotFound, match="Tables: customers, order_items"):
                await db.describe(evil)
        assert count(shop, "reviews") == 40
    finally:
        await db.close()


async def test_a_failed_write_leaves_the_file_as_it_was(shop: Path) -> None:
    db = Database("shop", shop, Access.DML, timeout=5)
    before = snapshot(shop.parent)
    try:
        with pytest.raises(UserError, match=r"CHECK constraint failed.*Nothing was changed"):
            await db.write(
                "UPDATE reviews SET rating = rating + 10 WHERE id <= 30", (), Purpose.WRITE, max_rows=5
            )
    finally:
        await db.close()
    assert snapshot(shop.parent) == before


async def test_each_connection_runs_its_jobs_in_one_thread_of_its_own(tmp_path: Path) -> None:
    """thread.py stands in for aiosqlite: one thread per connection, errors passed back, closed for good."""
    import sqlite3
    import threading

    from patchbay_sqlite.thread import THREAD_NAME, ConnectionThread

    conn = await ConnectionThread.open(lambda: sqlite3.connect(tmp_path / "t.db"), "test")
    try:
        assert conn.thread.name.startswith(THREAD_NAME) and conn.thread.daemon

        def where(raw: sqlite3.Connection, value: int) -> tuple[str, int]:
            return threading.current_thread().name, raw.execute("SELECT ?", (value,)).fetchone()[0]

        first, second = await conn.run(where, 1), await conn.run(where, 2)
        assert first[0] == second[0] == conn.thread.name != threading.current_thread().name
        assert (first[1], second[1]) == (1, 2)
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await conn.run(lambda raw: raw.execute("SELECT * FROM nope"))
        assert (await conn.run(where, 3))[1] == 3  # an error leaves the connection usable
    finally:
        await conn.close()
    await conn.close()  # closing twice is fine
    conn.thread.join(timeout=5)
    assert not conn.thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        await conn.run(lambda raw: None)
    with pytest.raises(sqlite3.OperationalError):
        await ConnectionThread.open(
            lambda: sqlite3.connect("file:/nonexistent/x.db?mode=ro", uri=True), "bad"
        )


COUNT_TO = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) FROM c"
)


@pytest.fixture
def where_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Where each job of every connection ran: "here" (the event loop's thread) or "thread" (its own)."""
    from patchbay_sqlite.thread import ConnectionThread

    seen: list[str] = []
    run_here, submit = ConnectionThread.run_here, ConnectionThread._submit

    def here(self: ConnectionThread, fn: Any, *args: Any) -> Any:
        seen.append("here")
        return run_here(self, fn, *args)

    async def thread(self: ConnectionThread, fn: Any) -> Any:
        seen.append("thread")
        return await submit(self, fn)

    monkeypatch.setattr(ConnectionThread, "run_here", here)
    monkeypatch.setattr(ConnectionThread, "_submit", thread)
    return seen


async def test_a_short_read_of_a_wal_database_runs_in_the_loops_thread_a_long_one_moves(
    big: Path, where_run: list[str]
) -> None:
    """No lock can make a WAL reader wait, so a read tries the loop's thread for 2 ms before the hop."""
    conn = sqlite3.connect(big)
    assert conn.execute("PRAGMA journal_mode = wal").fetchone()[0] == "wal"
    conn.close()
    db = Database("big", big, Access.READ, timeout=5)
    try:
        await db.read("SELECT 1", (), first=10)  # opens the reader in its thread
        where_run.clear()
        result = await db.read("SELECT count(*), max(i) FROM big", (), first=10)
        assert result.rows == [[1000, 1000]] and where_run == ["here"]
        where_run.clear()
        result = await db.read(COUNT_TO, (1_000_000,), first=10)  # far past 2 ms: interrupted, run again
        assert result.rows == [[1_000_000]] and where_run == ["here", "thread"]
        where_run.clear()
        with pytest.raises(UserError, match="no such table: nope"):
            await db.read("SELECT * FROM nope", (), first=10)
        assert where_run == ["here"]  # a statement's own error is not a reason to try again
        paged = await db.read("SELECT i FROM big ORDER BY i", (), first=11)
        page = await db.page(paged, 10, 10, budget_chars=10_000)  # fetching on from the cursor: its thread
        assert [r[0] for r in page.rows] == list(range(11, 21)) and where_run[-1] == "thread"
    finally:
        await db.close()


async def test_a_read_that_can_wait_on_a_lock_never_runs_in_the_loops_thread(
    big: Path, where_run: list[str]
) -> None:
    """A rollback-journal database makes a reader wait while a writer commits: the read keeps its hop."""
    db = Database("big", big, Access.READ, timeout=5)
    try:
        await db.read("SELECT 1", (), first=10)
        where_run.clear()
        result = await db.read("SELECT count(*) FROM big", (), first=10)
        assert result.rows == [[1000]] and where_run == ["thread"]
        holder = sqlite3.connect(big, timeout=0)
        holder.execute("BEGIN EXCLUSIVE")  # a writer holding the lock: the read waits (in its thread)
        try:
            with pytest.raises(UserError, match="locked") as refused:
                await db.read("SELECT count(*) FROM big", (), first=10)
            assert where_run == ["thread", "thread"], refused.value
        finally:
            holder.rollback()
            holder.close()
    finally:
        await db.close()
