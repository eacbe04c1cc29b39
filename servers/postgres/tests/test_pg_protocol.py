"""Progress of long statements, cancellation that stops them in PostgreSQL, and completions; both eras.

That a statement stopped is read from PostgreSQL itself: `pg_stat_activity` (seen by the superuser) must
show no active `pg_sleep(30)` of this module's database within a second of the call ending, however it
ended (cancelled by the client, past --tool-timeout, its stdio or HTTP client gone).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pg_helpers
import pytest
from mcp_types import PromptReference, ResourceTemplateReference
from pg_helpers import drop_db, make_db, run_sql, server

from patchbay_common.testing.clients import ERAS, Launch, connect, http_server
from patchbay_common.testing.components import PostgresInstance
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio

SLEEP = "SELECT pg_sleep(30)"
TABLES = ResourceTemplateReference(type="ref/resource", uri="postgres://{database}/{schema}/{table}/schema")
CHANNELS = ResourceTemplateReference(type="ref/resource", uri="postgres://{database}/listen/{channel}")
HEALTH = PromptReference(type="ref/prompt", name="review_database_health")

HIDDEN = """
CREATE SCHEMA secret;
CREATE TABLE secret.keys (k text);
CREATE TABLE public.hidden_payroll (x int);
CREATE TABLE public."odd name/with slash" (x int);
CREATE TABLE public."cu\u202etrap" (x int);
CREATE TABLE public.customers_2024 (id int) ;
CREATE TABLE public.parted (id int) PARTITION BY RANGE (id);
CREATE TABLE public.parted_1 PARTITION OF public.parted FOR VALUES FROM (0) TO (10);
CREATE SCHEMA wide;
"""


@pytest.fixture(scope="module")
def pgdb(postgres_instance: PostgresInstance) -> Iterator[pg_helpers.TestDb]:
    """The sample database plus objects the reader may not see (and some it may)."""
    import asyncio

    db = make_db(postgres_instance)
    grants = f"""
    GRANT USAGE ON SCHEMA wide TO {db.reader};
    GRANT SELECT ON public."odd name/with slash", public."cu\u202etrap", public.customers_2024,
        public.parted, public.parted_1 TO {db.reader};
    GRANT SELECT ON ALL TABLES IN SCHEMA wide TO {db.reader};
    """
    wide = "".join(f"CREATE TABLE wide.t{i:03} (x int);" for i in range(150))
    asyncio.run(run_sql(db.superuser_dsn, HIDDEN + wide + grants))
    try:
        yield db
    finally:
        drop_db(db)


async def sleeping(pgdb: pg_helpers.TestDb) -> list[Any]:
    """The active `pg_sleep(30)` statements of this module's database (seen by the superuser)."""
    return await run_sql(
        pgdb.superuser_dsn,
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' "
        "AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()",
        pgdb.name,
    )


async def wait_until(pgdb: pg_helpers.TestDb, running: bool, seconds: float) -> float | None:
    """Seconds until a sleeping statement is (or is no longer) active, or None after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if bool(await sleeping(pgdb)) == running:
            return time.monotonic() - started
        await anyio.sleep(0.05)
    return None


async def cancel_sleep(client: Any, pgdb: pg_helpers.TestDb) -> None:
    """Start pg_sleep(30), see it run in PostgreSQL, cancel the call, see PostgreSQL stop it within 1 s."""
    async with anyio.create_task_group() as group:

        async def call() -> None:
            await client.call_tool("query", {"sql": SLEEP})
            raise AssertionError("pg_sleep(30) answered")

        group.start_soon(call)
        assert await wait_until(pgdb, True, 15.0) is not None, "the statement never started"
        group.cancel_scope.cancel()
    assert await wait_until(pgdb, False, 1.0) is not None, "the statement kept running after the cancel"
    again = await client.call_tool("query", {"sql": "SELECT 1 AS one"})
    assert not again.is_error and again.structured_content["rows"] == [[1]]


@pytest.mark.parametrize("era", ERAS)
async def test_a_long_statement_reports_the_seconds_elapsed(era: str, pgdb: pg_helpers.TestDb) -> None:
    seen: list[tuple[float, float | None, str | None, float]] = []
    started = time.monotonic()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message, time.monotonic() - started))

    quick: list[float] = []

    async def on_quick(progress: float, total: float | None, message: str | None) -> None:
        quick.append(progress)

    async with connect(server("--dsn", f"shop={pgdb.reader_dsn}"), era=era) as client:  # type: ignore[arg-type]
        await client.call_tool("query", {"sql": "SELECT 1"})  # the first connection learns the role
        started = time.monotonic()
        result = await client.call_tool(
            "query", {"sql": "SELECT pg_sleep(1.5) AS slept"}, progress_callback=on_progress
        )
        plain = await client.call_tool("query", {"sql": "SELECT 1"}, progress_callback=on_quick)
        explained: list[str | None] = []

        async def on_explain(progress: float, total: float | None, message: str | None) -> None:
            explained.append(message)

        plan = await client.call_tool(
            "explain_query", {"sql": "SELECT pg_sleep(1.2)", "analyze": True}, progress_callback=on_explain
        )
    assert not result.is_error, text(result)
    assert len(seen) >= 4, seen
    values = [v for v, _, _, _ in seen]
    assert values == sorted(values) and values[-1] >= 1.5
    assert all(total is None for _, total, _, _ in seen)
    assert seen[-1][2] == f"query on database shop: {values[-1]:g} s"
    assert seen[0][3] < 0.5  # the first notification comes at once, not after the statement
    assert not plain.is_error and len(quick) <= 2  # a quick query: its start and end at most
    assert not plan.is_error and len(explained) >= 3
    assert all(m and m.startswith("explain_query on database shop: ") for m in explained)


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_the_call_cancels_the_statement_in_postgres(
    era: str, pgdb: pg_helpers.TestDb
) -> None:
    mcp = server("--dsn", pgdb.reader_dsn, "--statement-timeout", "600", "--tool-timeout", "600")
    async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
        await cancel_sleep(client, pgdb)


async def test_a_call_past_its_deadline_cancels_the_statement_in_postgres(pgdb: pg_helpers.TestDb) -> None:
    mcp = server("--dsn", pgdb.reader_dsn, "--statement-timeout", "600", "--tool-timeout", "3")
    async with connect(mcp) as client:
        await client.call_tool("query", {"sql": "SELECT 1"})  # the first connection learns the role
        async with anyio.create_task_group() as group:
            outcome: list[Any] = []

            async def call() -> None:
                outcome.append(await client.call_tool("query", {"sql": SLEEP}))

            group.start_soon(call)
            assert await wait_until(pgdb, True, 5.0) is not None, "the statement never started"
        assert outcome[0].is_error and "did not finish within 3 s" in text(outcome[0])
        assert await wait_until(pgdb, False, 1.0) is not None, "the statement kept running past the deadline"


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_over_stdio_cancels_the_statement(era: str, pgdb: pg_helpers.TestDb) -> None:
    launch = Launch("patchbay-postgres", ["--dsn", pgdb.reader_dsn, "--statement-timeout", "600"])
    async with connect(launch, era=era) as client:  # type: ignore[arg-type]
        await cancel_sleep(client, pgdb)


async def test_dropping_the_http_request_cancels_the_statement(pgdb: pg_helpers.TestDb) -> None:
    launch = Launch("patchbay-postgres", ["--dsn", f"shop={pgdb.reader_dsn}", "--statement-timeout", "600"])
    with http_server(launch) as running:
        for era in ERAS:
            async with connect(running, era=era) as client:
                await cancel_sleep(client, pgdb)
                done = await client.complete(TABLES, {"name": "table", "value": "cust"}, {"schema": "public"})
                assert done.completion.values == ["customers", "customers_2024"]


@pytest.mark.parametrize("era", ERAS)
async def test_completions_offer_only_what_the_role_may_read(era: str, pgdb: pg_helpers.TestDb) -> None:
    mcp = server("--dsn", f"shop={pgdb.reader_dsn}", "--dsn", f"other.db={pgdb.reader_dsn}")
    async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
        databases = await client.complete(TABLES, {"name": "database", "value": ""})
        channel_db = await client.complete(CHANNELS, {"name": "database", "value": "o"})
        prompt = await client.complete(HEALTH, {"name": "database", "value": "S"})
        schemas = await client.complete(TABLES, {"name": "schema", "value": ""}, {"database": "shop"})
        public = await client.complete(TABLES, {"name": "table", "value": ""}, {"schema": "public"})
        odd = await client.complete(TABLES, {"name": "table", "value": "odd"}, {"schema": "public"})
        wide = await client.complete(TABLES, {"name": "table", "value": ""}, {"schema": "wide"})
        secret = await client.complete(TABLES, {"name": "table", "value": ""}, {"schema": "secret"})
        anywhere = await client.complete(TABLES, {"name": "table", "value": "ORD"})
        unknown = await client.complete(TABLES, {"name": "table", "value": ""}, {"database": "nope"})
        channels = await client.complete(CHANNELS, {"name": "channel", "value": ""})
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            await client.complete(TABLES, {"name": "table", "value": "t1"}, {"schema": "wide"})
            timings.append(time.perf_counter() - started)
    assert databases.completion.values == ["shop", "other.db"]
    assert channel_db.completion.values == ["other.db"] and prompt.completion.values == ["shop"]
    assert schemas.completion.values == ["public", "sales", "wide"]  # not secret: nothing readable there
    assert public.completion.values == [
        "customers",
        "customers_2024",
        "odd%20name%2Fwith%20slash",
        "order_totals",
        "orders",
        "paid_orders",
        "parted",
    ]  # no hidden_payroll (no grant), no parted_1 (a partition), no cu<RLO>trap (unshowable)
    assert odd.completion.values == ["odd%20name%2Fwith%20slash"]
    assert len(wide.completion.values) == 100 and wide.completion.has_more and wide.completion.total == 150
    assert secret.completion.values == [] and unknown.completion.values == []
    assert anywhere.completion.values == ["order_totals", "orders"]  # public.orders and sales.orders: once
    assert channels.completion.values == []
    assert min(timings) < 0.05, timings


async def test_completions_give_nothing_for_a_database_strict_refuses(pgdb: pg_helpers.TestDb) -> None:
    async with connect(server("--dsn", f"shop={pgdb.superuser_dsn}", "--strict")) as client:
        refused = await client.complete(TABLES, {"name": "table", "value": ""}, {"schema": "public"})
        schemas = await client.complete(TABLES, {"name": "schema", "value": ""})
    assert refused.completion.values == [] and schemas.completion.values == []
