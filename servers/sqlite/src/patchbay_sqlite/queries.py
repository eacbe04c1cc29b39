"""The queries toolset: read-only SQL, its pages, and its query plan.

A result page is database content: the rows are the `Reply` content (framed as untrusted data by the layer)
and our own words (how many rows, from where, the cursor for the rest) are its note, after the frame. The
page holds the rows twice (the text and `structuredContent`), and the layer caps both together under
`--max-output-chars`, so the page is sized to that budget here and its cursor starts right after the last
row shown. A cursor carries the query (continuation.py): when its open result is gone, the query runs again
and skips to its row.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Annotated, Any, TypedDict

from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_common.errors import NotFound
from patchbay_common.limits import truncation_marker
from patchbay_common.principals import SINGLE_USER, principal_key
from patchbay_common.results import Reply, reply_result
from patchbay_common.toolsets import Toolset
from patchbay_common.untrusted import sanitize_structured, wrap_untrusted
from patchbay_sqlite.continuation import Continuation, make_cursor, read_cursor
from patchbay_sqlite.database import Database, Result, watching
from patchbay_sqlite.deps import DatabaseName, Deps, Params
from patchbay_sqlite.render import Format, fit_rows, render

tools = Toolset("queries", "Run read-only SQL, page through large results, and show query plans.")


class Rows(TypedDict):
    """A page of rows as structured content."""

    database: str
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    next_cursor: str | None
    result_uri: str | None


FormatArg = Annotated[Format, Field(description="table: aligned columns; csv: comma-separated values.")]
MaxRows = Annotated[int | None, Field(ge=1, description="Rows per page (capped by the server).")]

_SMALLER_PAGE = "call again with a smaller max_rows"


def answer_chars(reply: Reply, label: str) -> int:
    """Characters of `reply` as the layer shows it under `label`: framed text, sanitized structured form."""
    shown = reply_result(reply, label)
    text = sum(len(getattr(block, "text", "")) for block in shown.content)
    data = shown.structured_content
    return text + (
        len(json.dumps(data, ensure_ascii=False, separators=(",", ":"))) if data is not None else 0
    )


def answer_chars_at_most(reply: Reply, label: str) -> int:
    """At least `answer_chars(reply, label)`, found without framing or sanitizing anything (cheaper).

    Sanitizing only removes characters or turns the `<` of a forged boundary into `&lt;` (3 more), and the
    frame is as long for any text under the same label: so raw lengths plus 3 per `<` bound the answer.
    """
    frame = len(wrap_untrusted("", reply.source or label))  # the layer frames under the reply's own source
    text = frame + len(reply.content) + 3 * reply.content.count("<")
    if reply.note:
        text += len(reply.note) + 1
    if reply.structured is None:
        return text
    data = json.dumps(reply.structured, ensure_ascii=False, separators=(",", ":"))
    return text + len(data) + 3 * data.count("<")


async def page_reply(
    deps: Deps,
    db: Database,
    result: Result,
    offset: int,
    max_rows: int | None,
    fmt: Format,
    note: str = "",
    owner: Hashable = SINGLE_USER,
) -> Reply:
    """Rows `offset...` of `result` that fit one answer, and a cursor for the rest (kept open for `owner`)."""
    limit = deps.page_rows(max_rows)
    max_chars = deps.max_chars
    page = await db.page(result, offset, limit, budget_chars=max_chars * 20)
    label = f"query result from database {db.name}"

    def reply(kept: int, truncated: bool, reason: str) -> Reply:
        shown_rows = page.rows[:kept]
        cursor = uri = None
        if truncated:
            cursor = make_cursor(result.id, offset + kept, db.name, result.sql, result.params)
            uri = f"sqlite://result/{result.id}"
        shown = f"{kept} row{'s' if kept != 1 else ''}"
        if offset:
            shown += f" (rows {offset + 1}-{offset + kept})"
        lines = [note] if note else []
        lines.append(f"{shown} from database {db.name}.")
        if cursor:
            how = (
                f"call read_more_rows with cursor={cursor}, or read the resource {uri}?offset={offset + kept}"
            )
            lines.append(truncation_marker(f"{shown} ({reason})", how))
        rows: Rows = {
            "database": db.name,
            "columns": page.columns,
            "rows": shown_rows,
            "row_count": kept,
            "truncated": truncated,
            "next_cursor": cursor,
            "result_uri": uri,
        }
        body = render(page.columns, shown_rows, fmt) if page.columns else "(no columns)"
        return Reply(body, note="\n".join(lines), structured=dict(rows), source=label)

    if not page.more:  # every row is on this page: when the whole answer fits, it needs no cursor at all
        whole = reply(len(page.rows), False, "")
        room = max_chars - 64  # the same margin as below
        if answer_chars_at_most(whole, label) <= room or answer_chars(whole, label) <= room:
            await db.drop_result(result, "all its rows were read")
            return whole
    # The answer holds the rows twice (text and structuredContent) and the layer caps both together. What
    # is not rows (frame, note, cursor twice, the other fields) is measured on an empty page with a cursor;
    # the rows get the rest, measured as the layer shows them (sanitized, as rendered: a table pads rows).
    reason = f"character limit {max_chars}"
    fixed = answer_chars(reply(0, True, reason), label) - len(render(page.columns, [], fmt)) - 2
    room = max(200, max_chars - fixed - 64)
    kept = fit_rows(page.columns, sanitize_structured(page.rows), fmt, room)
    truncated = kept < len(page.rows) or page.more
    if kept == len(page.rows):
        reason = f"row limit {limit}"
    if truncated:
        await deps.catalog.keep(result, owner)
    else:
        await db.drop_result(result, "all its rows were read")
    return reply(kept, truncated, reason)


@tools.tool(untrusted="query result", continuation=_SMALLER_PAGE)
async def read_query(
    deps: Deps,
    query: Annotated[
        str, Field(description="One SQL statement that only reads (SELECT, WITH, read PRAGMAs).")
    ],
    params: Params = [],  # noqa: B006 - pydantic copies defaults
    database: DatabaseName = None,
    max_rows: MaxRows = None,
    format: FormatArg = "table",
    ctx: Context[Any, Any] | None = None,
) -> Annotated[Reply, Rows]:
    """Run one read-only SQL statement and return its first page of rows with a cursor for the rest."""
    db = deps.catalog.get(database)
    limit = deps.page_rows(max_rows)
    async with watching(f"running the query on database {db.name}"):
        result = await db.read(query, params, first=limit + 1)
        return await page_reply(deps, db, result, 0, limit, format, owner=principal_key(ctx))


@tools.tool(untrusted="query result", continuation=_SMALLER_PAGE)
async def read_more_rows(
    deps: Deps,
    cursor: Annotated[str, Field(description="The cursor a previous result gave.")],
    max_rows: MaxRows = None,
    format: FormatArg = "table",
    ctx: Context[Any, Any] | None = None,
) -> Annotated[Reply, Rows]:
    """Return the next page of a large query result from its cursor.

    Pages come from the result kept open since the first page; when it is no longer open, the query
    runs again and skips to the cursor's row.
    """
    where = read_cursor(cursor)
    async with watching("reading more rows"):
        return await _more_rows(deps, where, max_rows, format, principal_key(ctx))


async def _more_rows(
    deps: Deps, where: Continuation, max_rows: int | None, format: Format, owner: Hashable
) -> Reply:
    catalog = deps.catalog
    result, gone = catalog.lookup(where.result_id, owner)
    if (
        result is not None
        and where.sql is not None
        and (result.sql, list(result.params))
        != (
            where.sql,
            where.params,
        )
    ):
        result, gone = None, "it is not the result this cursor was made for"
    if result is not None and not result.base <= where.offset <= result.fetched:
        gone = f"rows before {result.base + 1} of it were released to save memory"
        result = None
    if result is not None:
        db = catalog.get(result.database)
        return await page_reply(deps, db, result, where.offset, max_rows, format, owner=owner)
    if where.sql is None:
        raise NotFound(
            f"Result {where.result_id} is not available: {gone}.",
            hint="Run the query again with read_query.",
        )
    db = catalog.get(where.database)
    limit = deps.page_rows(max_rows)
    rerun = await db.read(where.sql, where.params, first=limit + 1, skip=where.offset)
    note = (
        f"Note: the query ran again and skipped to row {where.offset + 1}, because the result of the "
        f"first page is no longer open: {gone}. The data may have changed since the first page."
    )
    return await page_reply(deps, db, rerun, where.offset, limit, format, note, owner)


@tools.tool(untrusted="query plan", continuation="plan a smaller part of the statement")
async def explain_query(
    deps: Deps,
    query: Annotated[str, Field(description="One SQL statement to plan (it is not run).")],
    params: Params = [],  # noqa: B006
    database: DatabaseName = None,
) -> str:
    """Return SQLite's query plan for a statement (EXPLAIN QUERY PLAN) as an indented tree."""
    db = deps.catalog.get(database)
    plan = await db.explain(query, params)
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, detail in plan:
        depth[node] = depth.get(parent, -1) + 1
        lines.append(f"{'  ' * depth[node]}{detail}")
    return "\n".join(lines) or "(empty plan)"
