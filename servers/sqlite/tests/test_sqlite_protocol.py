"""Progress of long statements, cancellation that stops them inside SQLite, and completions; both eras.

That a statement stopped is read from the database file itself: while a statement reads it, it holds a
shared lock, so another connection cannot take an exclusive one (`BEGIN EXCLUSIVE` fails at once with
"database is locked"); once SQLite has stopped the statement, it can.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types import PromptReference, ResourceTemplateReference
from sqlite_helpers import settings

from patchbay_common.testing.clients import ERAS, Launch, connect, http_server
from patchbay_common.testing.results import text
from patchbay_sqlite.server import build

pytestmark = pytest.mark.anyio

SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) FROM c"
ENDLESS = "SELECT count(*) FROM big AS a, big AS b, big AS c"  # 10^9 rows: many minutes
TABLES = ResourceTemplateReference(type="ref/resource", uri="sqlite://{database}/table/{table}")


def locked(path: Path) -> bool:
    """Whether a statement still reads `path` (an exclusive lock cannot be taken at once)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        conn.close()


async def released_within(path: Path, seconds: float) -> float | None:
    """Seconds until `path` is no longer read by any statement, or None if it still is after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not locked(path):
            return time.monotonic() - started
        await anyio.sleep(0.02)
    return None


async def cancel_endless_query(client: Any, big: Path) -> None:
    """Start the endless query, see that it reads the file, cancel the call, see the statement stop."""
    with anyio.move_on_after(0.6):
        await client.call_tool("read_query", {"query": ENDLESS})
        raise AssertionError("the endless query answered")
    # The cancelled call is gone; the statement must be too, within a moment (not in minutes).
    assert await released_within(big, 3.0) is not None, "the statement kept running after the cancel"
    again = await client.call_tool("read_query", {"query": "SELECT count(*) FROM big"})
    assert not again.is_error and again.structured_content["rows"] == [[1000]]


@pytest.mark.parametrize("era", ERAS)
async def test_a_long_query_reports_its_seconds(era: str, big: Path) -> None:
    seen: list[tuple[float, float | None, str | None, float]] = []
    started = time.monotonic()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message, time.monotonic() - started))

    async with connect(build(settings("--db", f"big={big}")), era=era) as client:  # type: ignore[arg-type]
        result = await client.call_tool(
            "read_query", {"query": SLOW, "params": [5_000_000]}, progress_callback=on_progress
        )
        quick: list[Any] = []

        async def on_quick(progress: float, total: float | None, message: str | None) -> None:
            quick.append(progress)

        plain = await client.call_tool("read_query", {"query": "SELECT 1"}, progress_callback=on_quick)
    assert not result.is_error and result.structured_content["rows"] == [[5_000_000]]
    assert len(seen) >= 2, seen  # about four a second, the first after 0.25 s (the query runs 1-2 s)
    values = [v for v, _, _, _ in seen]
    assert values == sorted(values) and values[-1] >= 0.25  # seconds counted while it ran
    assert all(total is None for _, total, _, _ in seen)
    assert seen[-1][2] == f"running the query on database big: {values[-1]:g} s"
    assert seen[0][3] < 0.5  # the first notification comes at once, not after the statement
    assert not plain.is_error and len(quick) <= 2  # a quick query: its start and end at most


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_the_call_interrupts_the_statement(era: str, big: Path) -> None:
    server = build(settings("--db", f"big={big}", "--query-timeout", "600", "--tool-timeout", "600"))
    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        await cancel_endless_query(client, big)


async def test_a_call_past_its_deadline_interrupts_the_statement(big: Path) -> None:
    server = build(settings("--db", f"big={big}", "--query-timeout", "600", "--tool-timeout", "0.5"))
    async with connect(server) as client:
        result = await client.call_tool("read_query", {"query": ENDLESS})
        assert result.is_error and "did not finish within 0.5 s" in text(result)
        assert await released_within(big, 3.0) is not None, "the statement kept running past the deadline"


async def test_cancelling_a_destructive_dry_run_stops_it_and_keeps_the_rows(big: Path) -> None:
    server = build(settings("--db", f"big={big}", "--access", "dml", "--query-timeout", "600"))
    slow_delete = "DELETE FROM big WHERE i IN (SELECT a.i FROM big AS a, big AS b, big AS c)"
    async with connect(server) as client:
        with anyio.move_on_after(0.6):
            await client.call_tool("write_query", {"query": slow_delete})
            raise AssertionError("the dry run answered")
        assert await released_within(big, 3.0) is not None, "the dry run kept running after the cancel"
        rows = await client.call_tool("read_query", {"query": "SELECT count(*) FROM big"})
    assert rows.structured_content["rows"] == [[1000]]


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_over_stdio_interrupts_the_statement(era: str, big: Path) -> None:
    launch = Launch("patchbay-sqlite", ["--db", f"big={big}", "--query-timeout", "600"])
    async with connect(launch, era=era) as client:  # type: ignore[arg-type]
        await cancel_endless_query(client, big)


async def test_dropping_the_http_request_interrupts_the_statement(big: Path) -> None:
    launch = Launch("patchbay-sqlite", ["--db", f"big={big}", "--query-timeout", "600"])
    with http_server(launch) as running:
        for era in ERAS:
            async with connect(running, era=era) as client:
                await cancel_endless_query(client, big)
                done = await client.complete(TABLES, {"name": "table", "value": "b"}, {"database": "big"})
                assert done.completion.values == ["big"]


def weird_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    for name in ("customers", "Customer_notes", "orders", "cu%stom", "cu\u202etrap", "line\nbreak"):
        conn.execute(f'CREATE TABLE "{name}" (id INTEGER PRIMARY KEY AUTOINCREMENT)')
    conn.execute("CREATE VIEW customer_view AS SELECT * FROM customers")
    conn.execute("INSERT INTO customers DEFAULT VALUES")  # makes sqlite_sequence
    for i in range(150):
        conn.execute(f"CREATE TABLE t{i:03} (x)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("era", ERAS)
async def test_completions_of_databases_tables_and_the_prompt(era: str, tmp_path: Path, big: Path) -> None:
    shop = tmp_path / "shop.db"
    weird_database(shop)
    server = build(settings("--db", f"shop={shop}", "--db", f"big={big}"))
    prompt = PromptReference(type="ref/prompt", name="mcp-demo")
    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        databases = await client.complete(TABLES, {"name": "database", "value": ""})
        customers = await client.complete(TABLES, {"name": "table", "value": "cu"}, {"database": "shop"})
        percent = await client.complete(TABLES, {"name": "table", "value": "cu%"}, {"database": "shop"})
        first = await client.complete(TABLES, {"name": "table", "value": ""})
        other = await client.complete(TABLES, {"name": "table", "value": ""}, {"database": "big"})
        unknown = await client.complete(TABLES, {"name": "table", "value": ""}, {"database": "nope"})
        internal = await client.complete(TABLES, {"name": "table", "value": "sqlite"}, {"database": "shop"})
        topics = await client.complete(prompt, {"name": "topic", "value": "B"})
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            await client.complete(TABLES, {"name": "table", "value": "t1"}, {"database": "shop"})
            timings.append(time.perf_counter() - started)
    assert databases.completion.values == ["shop", "big"]
    assert customers.completion.values == ["Customer_notes", "cu%stom", "customer_view", "customers"]
    assert percent.completion.values == ["cu%stom"]
    assert len(first.completion.values) == 100 and first.completion.has_more
    assert first.completion.total == 155  # every table and view of shop but the hidden and unshowable
    assert other.completion.values == ["big"]
    assert unknown.completion.values == [] and internal.completion.values == []
    assert topics.completion.values == ["big"]
    assert min(timings) < 0.05, timings


async def test_completion_never_creates_a_database_file(tmp_path: Path) -> None:
    missing = tmp_path / "new.db"
    async with connect(build(settings("--db", f"new={missing}", "--access", "ddl"))) as client:
        found = await client.complete(TABLES, {"name": "table", "value": ""}, {"database": "new"})
    assert found.completion.values == [] and not missing.exists()
