"""Statements that destroy data are confirmed with the user, in both eras; and the tools called with a Deps.

DROP, TRUNCATE, DROP COLUMN, and DELETE/UPDATE without WHERE (also inside WITH or EXPLAIN ANALYZE) ask
through elicitation; a "no" changes nothing; a client that cannot ask is refused unless the operator passed
--allow-destructive; other writes ask nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types import ElicitResult
from pg_helpers import call, run_sql, server

from patchbay_common.testing.clients import ERAS, connect
from patchbay_postgres import queries, schema
from patchbay_postgres.databases import Database, Databases, Target
from patchbay_postgres.deps import Deps
from patchbay_postgres.execute import Limits
from patchbay_postgres.runtime import Runtime

pytestmark = pytest.mark.anyio


async def _count(dsn: str, sql: str) -> int:
    return int((await _fetch(dsn, sql))[0][0])


async def _fetch(dsn: str, sql: str) -> list[Any]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(sql))
    finally:
        await connection.close()


class Answers:
    """An elicitation callback that answers yes or no and remembers the questions."""

    def __init__(self, yes: bool) -> None:
        self.yes = yes
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: Any) -> Any:
        self.asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": self.yes})


@pytest.mark.parametrize("era", ERAS)
async def test_destructive_statements_are_asked_and_a_no_changes_nothing(pgdb, era) -> None:
    await run_sql(
        pgdb.superuser_dsn, "CREATE TABLE IF NOT EXISTS scratch_confirm (x int); TRUNCATE scratch_confirm"
    )
    await run_sql(pgdb.superuser_dsn, "INSERT INTO scratch_confirm SELECT generate_series(1, 5)")
    no = Answers(yes=False)
    async with connect(
        server("--dsn", f"shop={pgdb.superuser_dsn}", "--access", "ddl"), era=era, elicitation_callback=no
    ) as client:
        for sql in (
            "DELETE FROM scratch_confirm",
            "UPDATE scratch_confirm SET x = 0",
            "TRUNCATE scratch_confirm",
            "DROP TABLE scratch_confirm",
            "ALTER TABLE scratch_confirm DROP COLUMN x",
            "WITH gone AS (DELETE FROM scratch_confirm RETURNING x) SELECT count(*) FROM gone",
            "EXPLAIN ANALYZE DELETE FROM scratch_confirm",
        ):
            error, text, _ = await call(client, "execute_sql", sql=sql)
            assert error and "did not confirm; nothing was changed" in text, (sql, text)
        error, text, _ = await call(client, "execute_sql", sql="DELETE FROM scratch_confirm WHERE x = 5")
        assert not error and "DELETE 1" in text  # a WHERE clause: nothing to ask
        error, text, _ = await call(client, "execute_sql", sql="DROP EXTENSION plpgsql")
        assert error and "not allowed" in text  # the tier refuses it: nobody is asked about it
    assert len(no.asked) == 7
    assert no.asked[0].startswith("Database shop: DELETE without WHERE removes every row of scratch_confirm.")
    assert "Statement: DELETE FROM scratch_confirm" in no.asked[0] and no.asked[0].endswith("Go ahead?")
    assert "TRUNCATE removes every row" in no.asked[2] and "DROP removes objects" in no.asked[3]
    assert await _count(pgdb.superuser_dsn, "SELECT count(*) FROM scratch_confirm") == 4

    yes = Answers(yes=True)
    async with connect(
        server("--dsn", f"shop={pgdb.superuser_dsn}", "--access", "ddl"), era=era, elicitation_callback=yes
    ) as client:
        error, text, _ = await call(client, "execute_sql", sql="DELETE FROM scratch_confirm")
        assert not error and "DELETE 4" in text
        error, text, _ = await call(client, "execute_sql", sql="DROP TABLE scratch_confirm")
        assert not error
    assert len(yes.asked) == 2
    assert (
        await _count(pgdb.superuser_dsn, "SELECT count(*) FROM pg_class WHERE relname = 'scratch_confirm'")
        == 0
    )


@pytest.mark.parametrize("era", ERAS)
async def test_a_client_that_cannot_ask_is_refused_unless_the_operator_allows_it(pgdb, era) -> None:
    await run_sql(
        pgdb.superuser_dsn, "CREATE TABLE IF NOT EXISTS scratch_unasked (x int); TRUNCATE scratch_unasked"
    )
    await run_sql(pgdb.superuser_dsn, "INSERT INTO scratch_unasked VALUES (1), (2)")
    async with connect(server("--dsn", pgdb.superuser_dsn, "--access", "dml"), era=era) as client:
        error, text, _ = await call(client, "execute_sql", sql="DELETE FROM scratch_unasked")
        assert error and "cannot ask the user to confirm" in text and "--allow-destructive" in text
        assert "Nothing was changed" in text
        error, text, _ = await call(client, "execute_sql", sql="INSERT INTO scratch_unasked VALUES (3)")
        assert not error  # not destructive: runs without asking
    assert await _count(pgdb.superuser_dsn, "SELECT count(*) FROM scratch_unasked") == 3
    flags = ("--access", "dml", "--allow-destructive")
    async with connect(server("--dsn", pgdb.superuser_dsn, *flags), era=era) as client:
        error, text, _ = await call(client, "execute_sql", sql="DELETE FROM scratch_unasked")
        assert not error and "DELETE 3" in text, text
    await run_sql(pgdb.superuser_dsn, "DROP TABLE scratch_unasked")


async def test_tools_called_with_a_deps_directly(pgdb) -> None:
    databases = Databases([Database(Target("shop", pgdb.reader_dsn))])
    deps = Deps(
        databases=databases,
        runtime=Runtime(databases),
        tier="read",
        limits=Limits(max_rows=2),
        max_chars=10_000,
    )
    try:
        reply = await queries.query(deps, "SELECT id, name FROM customers ORDER BY id")
        assert reply.structured is not None and reply.structured["rows"] == [[1, "Ada"], [2, "Grace"]]
        assert "columns: id int4, name text" in reply.content and '"name": "Ada"' in reply.content
        assert "2 row(s)" in reply.note and "call read_more_rows with cursor=" in reply.note
        more = await queries.read_more_rows(deps, reply.structured["next_cursor"])
        assert more.structured is not None and more.structured["rows"] == [[3, "Linus"]]
        listed = await schema.list_objects(deps, kinds=["table"], limit=1)
        assert '"name": "customers"' in listed.content and "call again with offset=1" in listed.note
        assert queries.ask_before_destroying(deps, "DROP TABLE customers", None) is None  # refused at read
        writer = Deps(
            databases=databases, runtime=deps.runtime, tier="ddl", limits=deps.limits, max_chars=10_000
        )
        question = queries.ask_before_destroying(writer, "DROP TABLE customers", None)
        assert question is not None and question.startswith("Database shop: DROP removes objects")
        assert queries.ask_before_destroying(writer, "DELETE FROM customers WHERE id = 1", None) is None
    finally:
        await databases.close()
