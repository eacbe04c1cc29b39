"""The SQL toolset: run a read-only query, read on from a cursor, explain a plan, and (write tiers) execute.

Every statement is checked by sqlcheck at the server's tier before it runs. Rows, column names and plans are
database content: the layer frames them (`untrusted=`); the status line, counts and the cursor for the next
page are our own words, after the frame. Pages are sized so rows as text and as `structuredContent`, the
frame, the note and the cursor (shown twice) fit `--max-output-chars` together.

execute_sql is registered from the dml tier up (`access="dml"`). A DROP, TRUNCATE, DROP COLUMN, or a DELETE
or UPDATE without WHERE is confirmed with the user through the layer (`confirm=`); a client that cannot ask
is refused unless the operator passed --allow-destructive.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import Field

from patchbay_common.errors import UserError
from patchbay_common.limits import cap_text, truncation_marker
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_postgres import sqlcheck
from patchbay_postgres.continuation import make_cursor, read_cursor
from patchbay_postgres.databases import Database
from patchbay_postgres.deps import DatabaseArg, Deps, ParamsArg, QueryOutput, SqlArg
from patchbay_postgres.execute import (
    Limits,
    QueryResult,
    explain,
    explain_sql,
    run_autocommit,
    run_read,
    run_write,
)
from patchbay_postgres.render import query_reply
from patchbay_postgres.replica import reading

__all__ = ["ask_before_destroying", "rerun_note", "tools"]

tools = Toolset(
    "queries", "Run SQL: read-only queries and their continuations, plans, and (write tiers) statements."
)

DML = "dml"
_QUOTED_SQL = 2_000  # characters of the statement quoted in the confirmation question
_PLAN_NOTE_CHARS = 400  # the note after a plan: the ANALYZE remark and the truncation marker
_CHECK_INNER_UP_TO = 4_000  # characters: a longer statement is not parsed a second time on its own


def _room(deps: Deps, sql: str, params: list[Any], db: Database) -> Limits:
    """The page limits with room left for the cursor, which the answer shows twice."""
    cursor = make_cursor(sql, params, db.name, 10**9) or ""
    return dataclasses.replace(deps.limits, max_chars=max(200, deps.limits.max_chars - 2 * len(cursor)))


def rerun_note(checked: sqlcheck.Checked, offset: int) -> str:
    """What a page that starts at row `offset + 1` says about where its rows come from."""
    note = (
        f"Note: the query ran again and skipped to row {offset + 1} (no result stays open between calls), "
        "so the data may have changed since the first page."
    )
    node = checked.node
    if type(node).__name__ == "SelectStmt" and not getattr(node, "sortClause", None):
        note += " Without ORDER BY, the rows may also come in another order than on the first page."
    return note


def _paged(page: QueryResult, checked: sqlcheck.Checked, params: list[Any], db: Database) -> QueryResult:
    """`page` with the cursor for the rows after it, and a note when it comes from a later row."""
    if page.truncated and page.next_offset is not None:
        page.next_cursor = make_cursor(checked.sql, params, db.name, page.next_offset)
        page.how_to_continue = (
            f"call read_more_rows with cursor={page.next_cursor}"
            if page.next_cursor
            else f"call query again with the same sql, params and database, and offset={page.next_offset}"
        )
    if page.offset:
        page.notes.insert(0, rerun_note(checked, page.offset))
    return page


async def _read_page(
    deps: Deps, checked: sqlcheck.Checked, params: list[Any], db: Database, offset: int = 0
) -> Reply:
    async with reading(db, checked.sql) as (connection, where):  # the replica's, when it is close enough
        page = await run_read(
            connection, checked, params, offset=offset, limits=_room(deps, checked.sql, params, db)
        )
    if where:
        page.notes.append(where)
    return query_reply(_paged(page, checked, params, db), f"postgres://{db.name} query")


@tools.tool(untrusted="query result", title="Run a read-only query")
async def query(
    deps: Deps,
    sql: SqlArg,
    params: ParamsArg = [],  # noqa: B006 - pydantic copies defaults
    offset: Annotated[int, Field(ge=0, description="Rows to skip (from a previous truncated result).")] = 0,
    database: DatabaseArg = None,
) -> Annotated[Reply, QueryOutput]:
    """Run one read-only SQL statement and return its rows as JSON lines.

    The statement (SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN) runs in a transaction that is rolled
    back; rows are capped, with a cursor for read_more_rows (or an offset) to continue.
    """
    checked = await sqlcheck.check_async(sql, "read")
    return await _read_page(deps, checked, params, deps.databases.get(database), offset)


@tools.tool(untrusted="query result", title="Read more rows")
async def read_more_rows(
    deps: Deps,
    cursor: Annotated[str, Field(description="The cursor a truncated result gave.")],
) -> Annotated[Reply, QueryOutput]:
    """Return the next page of a truncated result from its cursor.

    The cursor holds the query, its params, the database and the row: the query runs again (read-only,
    rolled back) and skips to that row, so the page shows the data as it is now.
    """
    where = read_cursor(cursor)
    checked = await sqlcheck.check_async(where.sql, "read")
    return await _read_page(deps, checked, where.params, deps.databases.get(where.database), where.offset)


def ask_before_destroying(deps: Deps, sql: str, database: str | None) -> str | None:
    """The question for a statement that destroys data (see `sqlcheck.destroys`), or None for other writes.

    A statement the tier refuses, or a database that does not exist, asks nothing: the tool refuses it.
    """
    try:
        checked = sqlcheck.check(sql, deps.tier)
        name = deps.databases.get(database).name
    except UserError:
        return None
    return _question(name, sql, sqlcheck.destroys(checked))


async def _ask_before_destroying(deps: Deps, sql: str, database: str | None) -> str | None:
    """`ask_before_destroying`, with a long statement parsed off the event loop."""
    try:
        checked = await sqlcheck.check_async(sql, deps.tier)
        name = deps.databases.get(database).name
    except UserError:
        return None
    return _question(name, sql, await sqlcheck.destroys_async(checked))


def _question(name: str, sql: str, what: str | None) -> str | None:
    if what is None:
        return None
    quoted = sql if len(sql) <= _QUOTED_SQL else f"{sql[:_QUOTED_SQL]}...(+{len(sql) - _QUOTED_SQL} chars)"
    return f"Database {name}: {what}\nStatement: {quoted}\n"


@tools.tool(
    access=DML,
    destructive=True,
    idempotent=False,
    confirm=_ask_before_destroying,
    untrusted="query result",
    title="Execute a SQL statement",
)
async def execute_sql(
    deps: Deps,
    sql: SqlArg,
    params: ParamsArg = [],  # noqa: B006
    database: DatabaseArg = None,
) -> Annotated[Reply, QueryOutput]:
    """Run one SQL statement allowed by the access tier and commit it.

    Returns the command status and any rows the statement returns (RETURNING).
    """
    checked = await sqlcheck.check_async(sql, deps.tier)
    db = deps.databases.get(database)
    if checked.needs == "read":
        return await _read_page(deps, checked, params, db)
    async with db.connection() as connection:
        if deps.tier == "unrestricted":
            page = await run_autocommit(connection, checked, params, limits=deps.limits)
            return query_reply(page, f"postgres://{db.name} statement")
        page = await run_write(connection, checked, params, limits=deps.limits)
    return query_reply(page, f"postgres://{db.name} statement", committed=True)


@tools.tool(untrusted="query plan", title="Explain a query")
async def explain_query(
    deps: Deps,
    sql: SqlArg,
    params: ParamsArg = [],  # noqa: B006
    analyze: Annotated[
        bool,
        Field(description="Run the statement to get real timings (in a transaction that is rolled back)."),
    ] = False,
    output: Annotated[Literal["text", "json"], Field(description="Plan format.")] = "text",
    database: DatabaseArg = None,
) -> Reply:
    """Return PostgreSQL's execution plan for one statement.

    With analyze, the statement runs inside a transaction that is rolled back, and the plan shows real
    rows, timings and buffers.
    """
    if len(sql) <= _CHECK_INNER_UP_TO:  # a long text is parsed once, as the EXPLAIN below (one statement)
        inner = sqlcheck.check(sql, "unrestricted")  # one statement that parses; the tier is checked below
        if type(inner.node).__name__ == "ExplainStmt":
            raise UserError(
                "Pass the statement itself, without EXPLAIN.", hint="The tool adds EXPLAIN and its options."
            )
    checked = await sqlcheck.check_async(explain_sql(sql, analyze=analyze, fmt=output.upper()), deps.tier)
    db = deps.databases.get(database)
    async with db.connection() as connection:
        plan = await explain(connection, checked, params, limits=deps.limits)
    window = cap_text(plan, max(200, deps.text_budget - _PLAN_NOTE_CHARS))
    note = []
    if window.truncated:
        shown = f"characters 0-{window.end} of {window.total_chars} of the plan"
        note.append(truncation_marker(shown, "explain a smaller part of the query, or use output='text'"))
    if analyze:
        note.append("(ANALYZE ran the statement in a transaction that was rolled back.)")
    return Reply(window.text, note="\n".join(note), source=f"postgres://{db.name} plan")
