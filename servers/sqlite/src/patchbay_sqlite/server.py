"""patchbay-sqlite: SQL over one or more SQLite files, read-only unless the operator says otherwise.

Databases come from `--db NAME=PATH` (repeatable); with none, a small sample shop database shipped in the
package is served read-only. Access is a tier (`--access read|dml|ddl`) enforced by SQLite itself: every
connection carries an authorizer callback that sees what each compiled statement does (policy.py), so no
CTE, comment or case trick gets past it; ATTACH, VACUUM INTO, extensions, transaction control and PRAGMA
writes are refused in every tier. Write tools are not listed below their tier. A DROP, or a DELETE/UPDATE
that would touch every row, is confirmed with the user through elicitation when the client can ask, and
refused otherwise unless the operator passed `--allow-destructive`.

Results are an aligned table (or CSV) wrapped as untrusted data, with `structuredContent` beside it; large
results are capped and stay open as a result the model pages through with a cursor (`read_more_rows`, or
the `sqlite://result/{id}` resource) without running the query again. The cursor also carries the query,
params, database and row (signed, see continuation.py), so when the open result is gone (a client that
starts a new server per call, a write in between) the query runs again from that row, and the answer says
the data may have changed since the first page. SQL errors are `isError` results with SQLite's message and
a next step. Both protocol eras; stdio, SSE and streamable HTTP.
"""

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Elicit, ElicitationResult, Resolve
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated
from mcp_types import (
    CallToolResult,
    EmptyResult,
    SubscribeRequestParams,
    TextContent,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field

from patchbay_common.annotations import hints
from patchbay_common.app import PatchbayServer, serve
from patchbay_common.connections import connection_of
from patchbay_common.errors import NotFound, UserError
from patchbay_common.limits import cap_rows
from patchbay_common.logs import get_logger
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_common.untrusted import wrap_untrusted
from patchbay_sqlite import __version__
from patchbay_sqlite.continuation import make_cursor, read_cursor
from patchbay_sqlite.database import Catalog, Database, Result
from patchbay_sqlite.memo import MEMO_URI, Memo
from patchbay_sqlite.policy import Access, Purpose
from patchbay_sqlite.render import Format, render
from patchbay_sqlite.sample import SAMPLE_PATH

log = get_logger("patchbay.sqlite")

# --- settings -------------------------------------------------------------------------------------------


class Settings(CommonSettings):
    """Flags of patchbay-sqlite (each also PATCHBAY_SQLITE_<FLAG>)."""

    model_config = settings_config("sqlite")

    db: list[str] = Field(
        default_factory=list,
        description="A database as NAME=PATH or PATH (name from the file name); repeatable, a JSON list in "
        "the environment. None given: the built-in sample database.",
    )
    access: Literal["read", "dml", "ddl"] = Field(
        "read",
        description="read: queries only; dml: also INSERT/UPDATE/DELETE; ddl: also CREATE/ALTER/DROP.",
    )
    max_rows: int = Field(200, ge=1, le=10_000, description="Rows one result page may hold.")
    query_timeout: float = Field(10.0, gt=0, description="Seconds one SQL statement may run.")
    allow_destructive: bool = Field(
        False,
        description="Run DROP and all-row DELETE/UPDATE unconfirmed when the client cannot ask the user.",
    )


def open_catalog(settings: Settings) -> tuple[Catalog, Path | None]:
    """The databases named by `--db` (or the sample), and a scratch directory to remove at exit, if any."""
    access = Access(settings.access)
    databases: dict[str, Database] = {}
    scratch: Path | None = None
    for spec in settings.db:
        name, sep, raw = spec.partition("=")
        if not sep:
            name, raw = Path(spec).stem, spec
        name = name.strip()
        if not name or not raw.strip():
            raise ValueError(f"--db {spec!r}: expected NAME=PATH or PATH")
        if name in databases:
            raise ValueError(f"--db: the name {name!r} is given twice")
        path = Path(raw.strip()).expanduser()
        if not path.is_file() and access is not Access.DDL:
            raise ValueError(f"--db {name}: no database file at {path} (--access ddl creates it)")
        databases[name] = Database(name, path, access, timeout=settings.query_timeout)
    if not databases:
        if access is Access.READ:
            databases["sample"] = Database(
                "sample", SAMPLE_PATH, access, timeout=settings.query_timeout, immutable=True
            )
        else:  # never change the file inside the package: work on a copy
            scratch = Path(tempfile.mkdtemp(prefix="patchbay-sqlite-"))
            copy = scratch / "sample.db"
            shutil.copyfile(SAMPLE_PATH, copy)
            databases["sample"] = Database("sample", copy, access, timeout=settings.query_timeout)
    return Catalog(databases), scratch


# --- output shapes --------------------------------------------------------------------------------------


class Rows(TypedDict):
    """A page of rows as structured content."""

    database: str
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    next_cursor: str | None
    result_uri: str | None


class WriteOutcome(TypedDict):
    """What a write did."""

    database: str
    rows_changed: int
    columns: list[str]
    rows: list[list[Any]]


class Confirm(BaseModel):
    """The user's answer to a confirmation question."""

    confirm: bool = Field(description="Run the statement.")


Database_ = Annotated[
    str | None, Field(description="Name of the database (see list_databases); default: the first one.")
]
Params_ = Annotated[
    list[str | int | float | bool | None],
    Field(description="Values for the ? placeholders, in order."),
]
Format_ = Annotated[Format, Field(description="table: aligned columns; csv: comma-separated values.")]

WRITE_SQL = (
    "One SQL statement that changes data: INSERT, UPDATE, DELETE; also CREATE, ALTER, DROP in the ddl tier."
)

DEMO_PROMPT = """\
Give the user a short guided tour of the data in this SQLite server, on the topic: {topic}.

1. Call list_databases and list_tables, then describe_table on the tables that matter for the topic. \
Tell the user in two or three sentences what the data holds and how the tables relate.
2. Propose three questions about "{topic}" that this data can answer, as a numbered list, and ask the \
user to pick one (or to ask their own).
3. Answer the chosen question with read_query (use ? placeholders and params for values). Show the key \
figures, say how you got them, and mention any caveat in the data (missing values, small samples).
4. Record each finding worth keeping with append_insight; the memo at memo://insights collects them.
5. Offer one follow-up question, answer it the same way, then summarise the memo for the user.

If the server allows writes (write_query is listed) and the data lacks something the topic needs, say \
what table you would add and ask before creating or changing anything.
"""


# --- server ---------------------------------------------------------------------------------------------


def build(settings: Settings) -> PatchbayServer:
    """The server: read tools always, write tools by tier, the memo, schema and result resources."""
    catalog, scratch = open_catalog(settings)
    access = Access(settings.access)
    memo = Memo()
    bus = InMemorySubscriptionBus()
    subscribers: dict[int, Any] = {}  # connection id -> a session on it (legacy resources/subscribe)
    max_chars = settings.max_output_chars

    active = 0  # client connections inside the lifespan: over SSE the SDK runs it once per connection

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        """Close the databases when the last client connection ends, not when any one of them does."""
        nonlocal active
        active += 1
        try:
            yield
        finally:
            active -= 1
            if active == 0:
                with anyio.CancelScope(shield=True):  # an open connection keeps its thread (and Python) alive
                    await catalog.close()

    mcp = PatchbayServer(
        "patchbay-sqlite",
        version=__version__,
        settings=settings,
        instructions="SQL access to SQLite databases. Start with list_databases and list_tables.",
        subscriptions=bus,
        lifespan=lifespan,
    )
    if scratch is not None:
        import atexit

        atexit.register(shutil.rmtree, scratch, ignore_errors=True)

    async def page_result(
        db: Database,
        result: Result,
        offset: int,
        max_rows: int | None,
        fmt: Format,
        source: str,
        note: str = "",
    ) -> CallToolResult:
        limit = min(max_rows or settings.max_rows, settings.max_rows)
        page = await db.page(result, offset, limit, budget_chars=max_chars * 20)
        capped = cap_rows(
            page.rows, max_rows=limit, max_chars=max_chars, offset=offset, more_available=page.more
        )
        cursor = uri = None
        if capped.truncated and capped.next_offset is not None:
            await catalog.keep(result)
            cursor = make_cursor(result.id, capped.next_offset, db.name, result.sql, result.params)
            uri = f"sqlite://result/{result.id}"
        else:
            await db.drop_result(result, "all its rows were read")
        shown = f"{len(capped.rows)} row{'s' if len(capped.rows) != 1 else ''}"
        if offset:
            shown += f" (rows {offset + 1}-{offset + len(capped.rows)})"
        text = wrap_untrusted(
            render(page.columns, capped.rows, fmt) if page.columns else "(no columns)", source
        )
        footer = f"{note}\n{shown} from database {db.name}." if note else f"{shown} from database {db.name}."
        if cursor:
            footer += (
                f" More rows remain ({capped.reason}): call read_more_rows with cursor={cursor}, "
                f"or read the resource {uri}?offset={capped.next_offset}."
            )
        rows: Rows = {
            "database": db.name,
            "columns": page.columns,
            "rows": capped.rows,
            "row_count": len(capped.rows),
            "truncated": capped.truncated,
            "next_cursor": cursor,
            "result_uri": uri,
        }
        return CallToolResult(content=[TextContent(text=f"{text}\n{footer}")], structured_content=dict(rows))

    # --- reading ----------------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=True))
    async def list_databases() -> str:
        """Return the databases this server serves: name, file and access tier."""
        lines = [f"{name}: {db.path} (access: {db.access.value})" for name, db in catalog.databases.items()]
        return "\n".join(lines)

    @mcp.tool(annotations=hints(read_only=True))
    async def list_tables(database: Database_ = None) -> CallToolResult:
        """Return every table and view of a database with its columns."""
        db = catalog.get(database)
        tables = await db.tables()
        body = render(["name", "type", "columns"], [list(t) for t in tables]) if tables else "(no tables)"
        structured = {
            "database": db.name,
            "tables": [{"name": n, "type": t, "columns": c.split(", ") if c else []} for n, t, c in tables],
        }
        text = wrap_untrusted(body, f"table list of database {db.name}")
        return CallToolResult(content=[TextContent(text=text)], structured_content=structured)

    @mcp.tool(annotations=hints(read_only=True))
    async def describe_table(
        table_name: Annotated[str, Field(description="Name of a table or view (any case).")],
        database: Database_ = None,
    ) -> CallToolResult:
        """Return the columns, foreign keys, indexes and CREATE statement of one table or view."""
        db = catalog.get(database)
        info = await db.describe(table_name)
        cols = render(
            ["column", "type", "not null", "default", "pk"],
            [
                [c["name"], c["type"], "yes" if c["not_null"] else "", c["default"], c["primary_key"] or ""]
                for c in info["columns"]
            ],
        )
        parts = [f"{info['type']} {info['name']}", cols]
        if info["foreign_keys"]:
            parts.append(
                "foreign keys: "
                + "; ".join(f"{f['column']} -> {f['references']}" for f in info["foreign_keys"])
            )
        if info["indexes"]:
            parts.append(
                "indexes: "
                + "; ".join(
                    f"{i['name']} ({i['columns']}){' unique' if i['unique'] else ''}" for i in info["indexes"]
                )
            )
        parts.append(info["sql"])
        text = wrap_untrusted("\n".join(parts), f"schema of {info['name']} in database {db.name}")
        return CallToolResult(
            content=[TextContent(text=text)], structured_content={"database": db.name, **info}
        )

    @mcp.tool(annotations=hints(read_only=True))
    async def read_query(
        query: Annotated[
            str, Field(description="One SQL statement that only reads (SELECT, WITH, read PRAGMAs).")
        ],
        params: Params_ = [],  # noqa: B006 - pydantic copies defaults
        database: Database_ = None,
        max_rows: Annotated[
            int | None, Field(ge=1, description="Rows per page (capped by the server).")
        ] = None,
        format: Format_ = "table",
    ) -> Annotated[CallToolResult, Rows]:
        """Run one read-only SQL statement and return its first page of rows with a cursor for the rest."""
        db = catalog.get(database)
        limit = min(max_rows or settings.max_rows, settings.max_rows)
        result = await db.read(query, params, first=limit + 1)
        return await page_result(db, result, 0, limit, format, f"query result from database {db.name}")

    @mcp.tool(annotations=hints(read_only=True))
    async def read_more_rows(
        cursor: Annotated[str, Field(description="The cursor a previous result gave.")],
        max_rows: Annotated[
            int | None, Field(ge=1, description="Rows per page (capped by the server).")
        ] = None,
        format: Format_ = "table",
    ) -> Annotated[CallToolResult, Rows]:
        """Return the next page of a large query result from its cursor.

        Pages come from the result kept open since the first page; when it is no longer open, the query
        runs again and skips to the cursor's row.
        """
        where = read_cursor(cursor)
        result, gone = catalog.lookup(where.result_id)
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
            return await page_result(
                db, result, where.offset, max_rows, format, f"query result from database {db.name}"
            )
        if where.sql is None:
            raise NotFound(
                f"Result {where.result_id} is not available: {gone}.",
                hint="Run the query again with read_query.",
            )
        db = catalog.get(where.database)
        limit = min(max_rows or settings.max_rows, settings.max_rows)
        rerun = await db.read(where.sql, where.params, first=limit + 1, skip=where.offset)
        note = (
            f"Note: the query ran again and skipped to row {where.offset + 1}, because the result of the "
            f"first page is no longer open: {gone}. The data may have changed since the first page."
        )
        return await page_result(
            db, rerun, where.offset, limit, format, f"query result from database {db.name}", note
        )

    @mcp.tool(annotations=hints(read_only=True))
    async def explain_query(
        query: Annotated[str, Field(description="One SQL statement to plan (it is not run).")],
        params: Params_ = [],  # noqa: B006
        database: Database_ = None,
    ) -> str:
        """Return SQLite's query plan for a statement (EXPLAIN QUERY PLAN) as an indented tree."""
        db = catalog.get(database)
        plan = await db.explain(query, params)
        depth: dict[int, int] = {0: -1}
        lines = []
        for node, parent, detail in plan:
            depth[node] = depth.get(parent, -1) + 1
            lines.append(f"{'  ' * depth[node]}{detail}")
        return wrap_untrusted("\n".join(lines) or "(empty plan)", f"query plan in database {db.name}")

    # --- the memo ---------------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=False, destructive=False))
    async def append_insight(
        insight: Annotated[str, Field(description="One finding from the data, in a sentence or two.")],
        ctx: Context,
    ) -> str:
        """Add an insight to the memo resource memo://insights (kept in memory only); return its number."""
        count = memo.add(insight)
        for key, session in list(subscribers.items()):
            try:
                await session.send_resource_updated(MEMO_URI)
            except Exception:  # the client went away
                subscribers.pop(key, None)
        await bus.publish(ResourceUpdated(uri=MEMO_URI))
        return f"Insight {count} added to {MEMO_URI}."

    @mcp.resource(MEMO_URI, name="insights", title="Insights memo", mime_type="text/plain")
    async def insights_resource() -> str:
        """Insights recorded with append_insight during this server's life."""
        return memo.render()

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        if str(params.uri) == MEMO_URI:
            subscribers[_connection_id(ctx)] = ctx.session
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        if str(params.uri) == MEMO_URI:
            subscribers.pop(_connection_id(ctx), None)
        return EmptyResult()

    mcp._lowlevel_server.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    mcp._lowlevel_server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)

    # --- schema and results as resources ----------------------------------------------------------------

    for name in catalog.databases:

        def schema_reader(db: Database = catalog.databases[name]) -> Any:
            async def read() -> str:
                return await db.schema()

            return read

        mcp.resource(
            f"sqlite://{name}/schema",
            name=f"{name}-schema",
            title=f"Schema of database {name}",
            description=f"Every CREATE statement of database {name}.",
            mime_type="text/plain",
        )(schema_reader())

    @mcp.resource("sqlite://{database}/table/{table}", mime_type="application/json")
    async def table_resource(database: str, table: str) -> str:
        """Columns, foreign keys, indexes and CREATE statement of one table, as JSON."""
        import json

        return json.dumps(await catalog.get(database).describe(table), ensure_ascii=False)

    @mcp.resource("sqlite://result/{result_id}{?offset}", mime_type="text/plain")
    async def result_resource(result_id: str, offset: str = "0") -> str:
        """A page of an open large query result as CSV wrapped as untrusted data, from row `offset`."""
        result = catalog.result(result_id)
        db = catalog.get(result.database)
        start = int(offset) if offset.isdigit() else 0
        page = await db.page(result, start, settings.max_rows, budget_chars=max_chars * 20)
        capped = cap_rows(
            page.rows, max_rows=settings.max_rows, max_chars=max_chars, offset=start, more_available=page.more
        )
        # Cell values are database content: framed as data, like read_query's page (the footer stays outside).
        body = wrap_untrusted(
            render(page.columns, capped.rows, "csv"), f"query result from database {db.name}"
        )
        if capped.truncated and capped.next_offset is not None:
            body += f"\nMore rows: sqlite://result/{result_id}?offset={capped.next_offset}"
        return body

    @mcp.prompt(name="mcp-demo", title="Guided tour of the data")
    def demo(topic: Annotated[str, Field(description="What to explore, e.g. 'repeat customers'.")]) -> str:
        """A guided walk through the data on one topic, recording findings in the insights memo."""
        return DEMO_PROMPT.format(topic=" ".join(topic.split())[:200])

    # --- writing ----------------------------------------------------------------------------------------

    if access is not Access.READ:

        async def confirm_write(
            query: str, params: list[Any], database: str | None, ctx: Context
        ) -> Elicit[Confirm] | Confirm:
            db = catalog.get(database)
            assessment = await db.assess(query, params, Purpose.WRITE)
            if assessment.destructive is None:
                return Confirm(confirm=True)
            caps = ctx.client_capabilities
            if caps is not None and caps.elicitation is not None:
                return Elicit(
                    f"Database {db.name}: {assessment.destructive} Run this statement?\n{query}", Confirm
                )
            if settings.allow_destructive:
                return Confirm(confirm=True)
            raise UserError(
                f"Refused: {assessment.destructive} This client cannot ask the user to confirm, and the "
                "operator has not allowed such statements (--allow-destructive). Nothing was changed.",
                hint="Add a WHERE clause selecting the rows to change, or ask the user to run it themselves.",
            )

        @mcp.tool(annotations=hints(read_only=False, destructive=True))
        async def write_query(
            query: Annotated[str, Field(description=WRITE_SQL)],
            confirmed: Annotated[ElicitationResult[Confirm], Resolve(confirm_write)],
            params: Params_ = [],  # noqa: B006
            database: Database_ = None,
        ) -> Annotated[CallToolResult, WriteOutcome]:
            """Run one statement that changes data and commit it; return the row count and RETURNING rows."""
            if confirmed.action != "accept" or not confirmed.data.confirm:
                raise UserError("The user did not confirm the statement; nothing was changed.")
            db = catalog.get(database)
            changed, page = await db.write(query, params, Purpose.WRITE, max_rows=settings.max_rows)
            if changed < 0:
                text = f"OK: statement run in database {db.name}."
            else:
                text = f"OK: {changed} row{'s' if changed != 1 else ''} changed in database {db.name}."
            if page is not None and page.columns:
                text += "\n" + wrap_untrusted(
                    render(page.columns, page.rows), f"RETURNING rows from {db.name}"
                )
            outcome: WriteOutcome = {
                "database": db.name,
                "rows_changed": max(changed, 0),
                "columns": page.columns if page else [],
                "rows": page.rows if page else [],
            }
            return CallToolResult(content=[TextContent(text=text)], structured_content=dict(outcome))

    if access is Access.DDL:

        @mcp.tool(annotations=hints(read_only=False, destructive=False))
        async def create_table(
            query: Annotated[str, Field(description="One CREATE TABLE statement.")],
            database: Database_ = None,
        ) -> str:
            """Create a table with one CREATE TABLE statement; return its name."""
            db = catalog.get(database)
            assessment = await db.assess(query, (), Purpose.CREATE_TABLE)
            if not assessment.creates_table:
                raise UserError(
                    "Refused: create_table runs CREATE TABLE statements only; nothing was run.",
                    hint="Use write_query for other statements.",
                )
            await db.write(query, (), Purpose.CREATE_TABLE, max_rows=1)
            return f"Table {assessment.creates_table} created in database {db.name}."

    return mcp


def _connection_id(ctx: Any) -> int:
    """The client connection a request came on (each request gets its own session object)."""
    return id(connection_of(ctx))


def main() -> None:
    """Console entry point: `patchbay-sqlite`."""
    serve(build, Settings)
