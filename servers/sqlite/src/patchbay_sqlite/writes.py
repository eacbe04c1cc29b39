"""The writes toolset: statements that change data (dml tier) and CREATE TABLE (ddl tier).

Neither tool is registered below its tier (`access=`), and SQLite's authorizer (policy.py) enforces the
tier on every statement all the same. A DROP, or a DELETE/UPDATE that would change every row of a non-empty
table, is confirmed with the user through the layer (`confirm=`); a client that cannot ask is refused
unless the operator passed --allow-destructive. RETURNING rows are database content: framed by the layer,
with our own count after them.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from pydantic import Field

from patchbay_common.errors import UserError
from patchbay_common.limits import truncation_marker
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_common.untrusted import sanitize_structured
from patchbay_sqlite.database import watching
from patchbay_sqlite.deps import DatabaseName, Deps, Params
from patchbay_sqlite.policy import Purpose
from patchbay_sqlite.render import fit_rows, render

tools = Toolset("writes", "Change data (dml tier) and create tables (ddl tier).")

DML = "dml"
DDL = "ddl"

WRITE_SQL = (
    "One SQL statement that changes data: INSERT, UPDATE, DELETE; also CREATE, ALTER, DROP in the ddl tier."
)
_QUOTED_SQL = 2_000  # characters of the statement quoted in the confirmation question


class WriteOutcome(TypedDict):
    """What a write did."""

    database: str
    rows_changed: int
    columns: list[str]
    rows: list[list[Any]]


async def ask_before_destroying(
    deps: Deps, query: str, params: list[Any], database: str | None
) -> str | None:
    """The question for a DROP or an all-row DELETE/UPDATE (found by a dry run), or None for other writes."""
    db = deps.catalog.get(database)
    async with watching(f"checking what the change would do on database {db.name}"):
        assessment = await db.assess(query, params, Purpose.WRITE)
    if assessment.destructive is None:
        return None
    quoted = (
        query if len(query) <= _QUOTED_SQL else f"{query[:_QUOTED_SQL]}...(+{len(query) - _QUOTED_SQL} chars)"
    )
    return f"Database {db.name}: {assessment.destructive}\nStatement: {quoted}\n"


@tools.tool(
    access=DML, destructive=True, idempotent=False, confirm=ask_before_destroying, untrusted="RETURNING rows"
)
async def write_query(
    deps: Deps,
    query: Annotated[str, Field(description=WRITE_SQL)],
    params: Params = [],  # noqa: B006 - pydantic copies defaults
    database: DatabaseName = None,
) -> Annotated[Reply, WriteOutcome]:
    """Run one statement that changes data and commit it; return the row count and RETURNING rows."""
    db = deps.catalog.get(database)
    async with watching(f"running the change on database {db.name}"):
        changed, page = await db.write(query, params, Purpose.WRITE, max_rows=deps.max_rows)
    if changed < 0:
        said = f"OK: statement run in database {db.name}."
    else:
        said = f"OK: {changed} row{'s' if changed != 1 else ''} changed in database {db.name}."
    columns = page.columns if page is not None else []
    rows = page.rows if page is not None else []
    body = ""
    if columns:
        # Shown twice (text and structuredContent) under one budget; the statement ran already and is not run
        # again, so rows that do not fit are counted, not paged.
        kept = fit_rows(columns, sanitize_structured(rows), "table", max(200, deps.max_chars - 1_000))
        more = page is not None and page.more
        if kept < len(rows) or more:
            total = f"{len(rows)}+" if more else str(len(rows))
            said += "\n" + truncation_marker(
                f"{kept} of {total} RETURNING rows",
                "the statement is not run again; select the rows to see them",
            )
        rows = rows[:kept]
        body = render(columns, rows)
    outcome: WriteOutcome = {
        "database": db.name,
        "rows_changed": max(changed, 0),
        "columns": columns,
        "rows": rows,
    }
    return Reply(body, note=said, structured=dict(outcome), source=f"RETURNING rows from {db.name}")


@tools.tool(access=DDL, idempotent=False)
async def create_table(
    deps: Deps,
    query: Annotated[str, Field(description="One CREATE TABLE statement.")],
    database: DatabaseName = None,
) -> str:
    """Create a table with one CREATE TABLE statement; return its name."""
    db = deps.catalog.get(database)
    assessment = await db.assess(query, (), Purpose.CREATE_TABLE)
    if not assessment.creates_table:
        raise UserError(
            "Refused: create_table runs CREATE TABLE statements only; nothing was run.",
            hint="Use write_query for other statements.",
        )
    await db.write(query, (), Purpose.CREATE_TABLE, max_rows=1)
    return f"Table {assessment.creates_table} created in database {db.name}."
