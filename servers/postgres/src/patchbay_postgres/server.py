"""patchbay-postgres: PostgreSQL for MCP clients, read-only by default, on asyncpg.

It serves one or more databases (`--dsn NAME=postgresql://...`, repeatable). `--access` picks a tier:
`read` (default) lists only read tools and runs every statement in its own READ ONLY transaction that is
always rolled back, after PostgreSQL's own parser (pglast) has checked that it is one statement of an
allowed kind calling no function that reaches outside the database (see sqlcheck.py); `dml`, `ddl` and
`unrestricted` add `execute_sql`. Nothing connects at start: a database that is down is reported in tool
results, and the pool reconnects by itself. SQL errors reach the model as `isError` results with
PostgreSQL's message, DETAIL, HINT and the position in the query; passwords are redacted everywhere.
Resources: each table's schema, and LISTEN channels whose NOTIFYs arrive as `resources/updated`.
Both protocol eras, over stdio, SSE and streamable HTTP (patchbay_common.app).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from mcp.server.subscriptions import ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolResult,
    EmptyResult,
    ListResourcesResult,
    PaginatedRequestParams,
    Resource,
    SubscribeRequestParams,
    TextContent,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from patchbay_common.annotations import hints
from patchbay_common.app import PatchbayServer, serve
from patchbay_common.errors import Partial, UserError, redact
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_common.untrusted import wrap_untrusted
from patchbay_postgres import __version__, catalog, render, sqlcheck, tuning
from patchbay_postgres.continuation import make_cursor, read_cursor
from patchbay_postgres.databases import Database, Databases, parse_targets
from patchbay_postgres.execute import Limits, explain, explain_sql, run_autocommit, run_read, run_write
from patchbay_postgres.runtime import Runtime

_DSN_START = re.compile(r",(?=(?:[A-Za-z0-9_.-]+=)?postgres(?:ql)?://)")  # a comma that starts another DSN


class Settings(CommonSettings):
    """Flags of patchbay-postgres (each also PATCHBAY_POSTGRES_<FLAG>)."""

    model_config = settings_config("postgres")

    dsn: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Database to serve: postgresql://user:password@host:port/dbname, or "
        "NAME=postgresql://... (repeatable; the first is the default). Without it, libpq's PGHOST, "
        "PGUSER, ... are used.",
    )
    access: sqlcheck.Tier = Field(
        "read",
        description="What SQL may do: read (default), dml (+INSERT/UPDATE/DELETE), ddl (+CREATE/ALTER/DROP), "
        "or unrestricted (any single statement).",
    )
    strict: bool = Field(
        False,
        description="In the read tier, refuse a database whose role is a superuser or can "
        "read server files or run programs (otherwise: a loud warning).",
    )
    statement_timeout: float = Field(30.0, gt=0, description="Seconds one statement may run.")
    lock_timeout: float = Field(5.0, gt=0, description="Seconds a statement may wait for a lock.")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a connection.")
    pool_size: int = Field(5, ge=1, le=100, description="Connections per database.")
    max_rows: int = Field(200, ge=1, le=10_000, description="Rows one result may hold (then a continuation).")

    @field_validator("dsn", mode="before")
    @classmethod
    def _dsn_from_env(cls, value: object) -> object:
        """One DSN, several (space-separated, or comma-joined as repeated flags arrive), or a JSON list."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [d for part in value.split() for d in _DSN_START.split(part) if d]
        return value


DatabaseArg = Annotated[
    str | None, Field(description="A configured database name (see list_databases); default: the first.")
]
SqlArg = Annotated[str, Field(description="One SQL statement; $1, $2, ... are placeholders for params.")]
ParamsArg = Annotated[
    list[Any], Field(description="Values for $1, $2, ... in order (JSON numbers, text, ...).")
]


class QueryOutput(BaseModel):
    """A page of a statement's result."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    row_count: int
    offset: int
    truncated: bool
    next_offset: int | None
    next_cursor: str | None = None
    status: str


class PostgresServer(PatchbayServer):
    """PatchbayServer whose successful results are redacted too (rows can hold credentials)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        """Run the tool as PatchbayServer does, then redact its result."""
        return render.redact_result(await super().call_tool(name, arguments, context))


def build(settings: Settings) -> PatchbayServer:
    """The server for `settings`: every tool, resource and prompt, registered top to bottom."""
    databases = Databases(
        [
            Database(
                target,
                strict=settings.strict,
                read_only=settings.access == "read",
                pool_size=settings.pool_size,
                connect_timeout=settings.connect_timeout,
            )
            for target in parse_targets(settings.dsn)
        ]
    )
    limits = Limits(
        statement_timeout=settings.statement_timeout,
        lock_timeout=settings.lock_timeout,
        max_rows=settings.max_rows,
        # Rows show twice (JSON lines and structuredContent), capped together by the common layer; the rest
        # of the answer (frame, head line, marker, notes) takes about 2,500 characters.
        max_chars=max(200, settings.max_output_chars - 2_500),
        max_cell_chars=min(2_000, max(50, settings.max_output_chars // 8)),
    )
    runtime = Runtime(databases)
    mcp = PostgresServer(
        "patchbay-postgres",
        version=__version__,
        settings=settings,
        instructions=f"PostgreSQL databases: {', '.join(databases.by_name)}. Access tier: {settings.access}.",
        lifespan=runtime.lifespan,
    )

    async def publish(uri: str) -> None:
        await mcp._subscriptions.publish(ResourceUpdated(uri=uri))

    runtime.publish = publish

    def room(sql: str, params: list[Any], db: Database) -> Limits:
        """`limits` with room left for the cursor, which the answer shows twice."""
        cursor = make_cursor(sql, params, db.name, 10**9) or ""
        return dataclasses.replace(limits, max_chars=max(200, limits.max_chars - 2 * len(cursor)))

    def paged(page: Any, checked: sqlcheck.Checked, params: list[Any], db: Database) -> Any:
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

    def result(page: Any, source: str, committed: bool | None = None) -> CallToolResult:
        text = render.query_text(page, source, committed=committed)
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=page.structured()
        )

    # --- SQL ------------------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=True, title="Run a read-only query"))
    async def query(
        sql: SqlArg,
        params: ParamsArg = [],  # noqa: B006 - pydantic copies defaults
        offset: Annotated[
            int, Field(ge=0, description="Rows to skip (from a previous truncated result).")
        ] = 0,
        database: DatabaseArg = None,
    ) -> Annotated[CallToolResult, QueryOutput]:
        """Run one read-only SQL statement and return its rows as JSON lines.

        The statement (SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN) runs in a transaction that is rolled
        back; rows are capped, with a cursor for read_more_rows (or an offset) to continue.
        """
        checked = sqlcheck.check(sql, "read")
        db = databases.get(database)
        async with db.connection() as connection:
            page = await run_read(
                connection, checked, params, offset=offset, limits=room(checked.sql, params, db)
            )
        return result(paged(page, checked, params, db), f"postgres://{db.name} query")

    @mcp.tool(annotations=hints(read_only=True, title="Read more rows"))
    async def read_more_rows(
        cursor: Annotated[str, Field(description="The cursor a truncated result gave.")],
    ) -> Annotated[CallToolResult, QueryOutput]:
        """Return the next page of a truncated result from its cursor.

        The cursor holds the query, its params, the database and the row: the query runs again (read-only,
        rolled back) and skips to that row, so the page shows the data as it is now.
        """
        where = read_cursor(cursor)
        checked = sqlcheck.check(where.sql, "read")
        db = databases.get(where.database)
        async with db.connection() as connection:
            page = await run_read(
                connection,
                checked,
                where.params,
                offset=where.offset,
                limits=room(checked.sql, where.params, db),
            )
        return result(paged(page, checked, where.params, db), f"postgres://{db.name} query")

    if settings.access != "read":

        @mcp.tool(annotations=hints(read_only=False, destructive=True, title="Execute a SQL statement"))
        async def execute_sql(
            sql: SqlArg,
            params: ParamsArg = [],  # noqa: B006
            database: DatabaseArg = None,
        ) -> Annotated[CallToolResult, QueryOutput]:
            """Run one SQL statement allowed by the access tier and commit it.

            Returns the command status and any rows the statement returns (RETURNING).
            """
            checked = sqlcheck.check(sql, settings.access)
            db = databases.get(database)
            async with db.connection() as connection:
                if checked.needs == "read":
                    page = await run_read(connection, checked, params, limits=room(checked.sql, params, db))
                    page = paged(page, checked, params, db)
                    return result(page, f"postgres://{db.name} query", committed=None)
                if settings.access == "unrestricted":
                    page = await run_autocommit(connection, checked, params, limits=limits)
                    return result(page, f"postgres://{db.name} statement")
                page = await run_write(connection, checked, params, limits=limits)
            return result(page, f"postgres://{db.name} statement", committed=True)

    @mcp.tool(annotations=hints(read_only=True, title="Explain a query"))
    async def explain_query(
        sql: SqlArg,
        params: ParamsArg = [],  # noqa: B006
        analyze: Annotated[
            bool,
            Field(
                description="Run the statement to get real timings (in a transaction that is rolled back)."
            ),
        ] = False,
        output: Annotated[Literal["text", "json"], Field(description="Plan format.")] = "text",
        database: DatabaseArg = None,
    ) -> str:
        """Return PostgreSQL's execution plan for one statement.

        With analyze, the statement runs inside a transaction that is rolled back, and the plan shows real
        rows, timings and buffers.
        """
        inner = sqlcheck.check(sql, "unrestricted")  # one statement that parses; the tier is checked below
        if type(inner.node).__name__ == "ExplainStmt":
            raise UserError(
                "Pass the statement itself, without EXPLAIN.", hint="The tool adds EXPLAIN and its options."
            )
        checked = sqlcheck.check(explain_sql(sql, analyze=analyze, fmt=output.upper()), settings.access)
        db = databases.get(database)
        async with db.connection() as connection:
            plan = await explain(connection, checked, params, limits=limits)
        note = "\n(ANALYZE ran the statement in a transaction that was rolled back.)" if analyze else ""
        return render.capped(plan, settings.max_output_chars) + note

    # --- schema -----------------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=True, title="List databases"))
    async def list_databases() -> str:
        """List the configured databases: name, address (no password) and access tier.

        Once connected, also the server version and the role.
        """
        report: Partial[str] = Partial()
        for db in databases.by_name.values():
            line = f"{db.name}: {db.target.display()} (access {settings.access})"
            try:
                async with db.connection():
                    pass
                if db.role is not None:
                    line += f", PostgreSQL {db.role.server_version}, role {db.role.user}"
                    line += ", superuser" if db.role.superuser else ""
                    line += ", replica" if db.role.in_recovery else ""
            except UserError as exc:
                report.fail(db.name, str(exc))
                line += ", not reachable"
            report.add(line)
        return "\n".join([*report.items, report.note()]).strip()

    @mcp.tool(annotations=hints(read_only=True, title="List schemas"))
    async def list_schemas(
        include_system: Annotated[
            bool, Field(description="Also list pg_catalog and information_schema.")
        ] = False,
        database: DatabaseArg = None,
    ) -> str:
        """List the schemas of a database with owner, number of tables and views, and comment."""
        db = databases.get(database)
        async with db.connection() as connection:
            rows = await catalog.list_schemas(connection, include_system)
        return render.capped(
            render.records_text(rows, f"postgres://{db.name} schemas", "No schemas."),
            settings.max_output_chars,
        )

    @mcp.tool(annotations=hints(read_only=True, title="List objects"))
    async def list_objects(
        schema: Annotated[
            str | None, Field(description="Schema to list; default: every user schema.")
        ] = "public",
        kinds: Annotated[
            list[catalog.ObjectKind] | None, Field(description="Kinds to include; default: all.")
        ] = None,
        name_like: Annotated[
            str | None, Field(description="ILIKE pattern on the name, e.g. 'order%'.")
        ] = None,
        offset: Annotated[int, Field(ge=0)] = 0,
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
        database: DatabaseArg = None,
    ) -> str:
        """List the objects of a schema, one JSON object per line, paged with offset.

        Kinds: tables, views, materialized views, sequences, foreign tables, functions and extensions, with
        row estimates, sizes and comments.
        """
        db = databases.get(database)
        async with db.connection() as connection:
            rows, more = await catalog.list_objects(connection, schema, kinds, name_like, offset, limit)
        text = render.records_text(rows, f"postgres://{db.name} objects", "No objects match.")
        if more:
            text += f"\n[more objects: call again with offset={offset + limit}]"
        return render.capped(text, settings.max_output_chars)

    @mcp.tool(annotations=hints(read_only=True, title="Describe an object"))
    async def describe_object(
        name: Annotated[str, Field(description="Table, view, sequence or function name, or schema.name.")],
        schema: Annotated[str | None, Field(description="Schema, when not part of name.")] = None,
        database: DatabaseArg = None,
    ) -> str:
        """Describe one table, view, materialized view, sequence or function.

        Columns with types, defaults and comments, constraints, indexes with sizes and scan counts, foreign
        keys pointing at it, row estimate, size, and a view's or function's definition.
        """
        db = databases.get(database)
        async with db.connection() as connection:
            info = await catalog.describe_object(connection, name, schema)
        text = wrap_untrusted(
            catalog.render_describe(info), f"postgres://{db.name}/{info['schema']}/{info['name']}"
        )
        return render.capped(text, settings.max_output_chars)

    @mcp.tool(annotations=hints(read_only=True, title="Search objects by name"))
    async def search_objects(
        pattern: Annotated[str, Field(description="Part of a name, or an ILIKE pattern with % and _.")],
        detail: Annotated[
            Literal["names", "summary", "full"],
            Field(
                description="names: kind and name; summary: plus row estimate and comment; "
                "full: describe each."
            ),
        ] = "names",
        kinds: Annotated[
            list[
                Literal[
                    "schema",
                    "table",
                    "view",
                    "materialized_view",
                    "sequence",
                    "foreign_table",
                    "index",
                    "column",
                    "function",
                ]
            ]
            | None,
            Field(description="Kinds to search; default: all."),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=200)] = 50,
        database: DatabaseArg = None,
    ) -> str:
        """Find objects whose name matches a pattern, in every user schema.

        Schemas, tables, views, sequences, indexes, columns and functions, at the chosen level of detail.
        """
        chosen = list(
            kinds
            or [
                "schema",
                "table",
                "view",
                "materialized_view",
                "sequence",
                "foreign_table",
                "index",
                "column",
                "function",
            ]
        )
        db = databases.get(database)
        source = f"postgres://{db.name} search"
        async with db.connection() as connection:
            rows = await catalog.search_objects(connection, pattern, chosen, limit)
            more = len(rows) > limit
            rows = rows[:limit]
            if detail == "full":
                parts = []
                for row in rows[:5]:
                    if row["kind"] in ("table", "view", "materialized_view", "sequence", "foreign_table"):
                        info = await catalog.describe_object(connection, row["name"], row["schema"])
                        parts.append(catalog.render_describe(info))
                    else:
                        parts.append(json.dumps(row, default=str))
                if len(rows) > 5:
                    parts.append(
                        f"... and {len(rows) - 5} more matches (use detail='summary' to list them all)"
                    )
                text = wrap_untrusted("\n\n".join(parts), source) if parts else "No objects match."
                return render.capped(text, settings.max_output_chars)
        if detail == "names":
            rows = [
                {
                    "kind": r["kind"],
                    "name": f"{r['schema']}.{r['parent'] + '.' if r['parent'] else ''}{r['name']}",
                }
                for r in rows
            ]
        text = render.records_text(rows, source, f"No objects match {pattern!r}.")
        if more:
            text += f"\n[more than {limit} matches: narrow the pattern or raise limit]"
        return render.capped(text, settings.max_output_chars)

    # --- tuning and health ------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=True, title="Top queries"))
    async def top_queries(
        order_by: Annotated[
            tuning.OrderBy, Field(description="Rank by total time, mean time, calls or rows.")
        ] = "total_time",
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        database: DatabaseArg = None,
    ) -> str:
        """Return the statements that cost most in this database, from pg_stat_statements.

        Calls, total and mean time, rows and cache hit ratio; or, when the extension is not available, what
        is missing and how to add it.
        """
        db = databases.get(database)
        async with db.connection() as connection:
            rows = await tuning.top_queries(connection, db.name, order_by, limit)
        return render.capped(
            render.records_text(
                rows, f"postgres://{db.name} pg_stat_statements", "No statements recorded yet."
            ),
            settings.max_output_chars,
        )

    @mcp.tool(annotations=hints(read_only=True, title="Database health"))
    async def db_health(database: DatabaseArg = None) -> str:
        """Report the health of a database, one line per finding (ok, warning or info).

        Connection use, cache hit ratio, tables needing vacuum, transaction ID wraparound, unused, duplicate,
        invalid and bloated indexes, and replication state.
        """
        db = databases.get(database)
        async with db.connection() as connection:
            report = await tuning.db_health(connection)
        lines = [f"{f.level.upper():7} {f.area}: {f.text}" for f in report.items]
        return wrap_untrusted("\n".join([*lines, report.note()]).strip(), f"postgres://{db.name} health")

    @mcp.tool(annotations=hints(read_only=True, title="Suggest indexes"))
    async def suggest_indexes(sql: SqlArg, params: ParamsArg = [], database: DatabaseArg = None) -> str:  # noqa: B006
        """Return the indexes that would lower the planner's cost for a read query.

        Measured with hypothetical indexes (hypopg), not built; without hypopg, the text says so and lists
        the candidate columns.
        """
        checked = sqlcheck.check(sql, "read")
        db = databases.get(database)
        async with db.connection() as connection:
            advice = await tuning.suggest_indexes(connection, db.name, checked, params, limits)
        helpful = advice.helpful()
        lines = [f"Estimated cost now: {advice.baseline_cost:.2f}"]
        if not helpful:
            lines.append(
                "No single hypothetical index lowered the cost by 10% or more "
                f"({len(advice.candidates)} tried)."
            )
        for candidate in helpful:
            cost = candidate.cost or 0.0
            saving = 100 * (1 - cost / advice.baseline_cost) if advice.baseline_cost else 0.0
            lines.append(f"{candidate.ddl};  -- cost {cost:.2f} ({saving:.0f}% lower)")
        return "\n".join(lines)

    # --- resources --------------------------------------------------------------------------------------

    @mcp.resource(
        "postgres://{database}/{schema}/{table}/schema", mime_type="application/json", title="Table schema"
    )
    async def table_schema(database: str, schema: str, table: str) -> str:
        """Columns of one table: name, type, nullability, default and comment."""
        db = databases.get(unquote(database))
        async with db.connection() as connection:
            info = await catalog.table_schema(connection, unquote(schema), unquote(table))
        return redact(json.dumps(info, default=str))

    @mcp.resource(
        "postgres://{database}/listen/{channel}", mime_type="application/json", title="LISTEN channel"
    )
    async def listen_channel(database: str, channel: str) -> str:
        """The latest NOTIFY payloads on a channel; subscribing sends resources/updated on each NOTIFY."""
        hub = runtime.hub(unquote(database))
        await hub.listen(unquote(channel))
        recent = list(hub.recent.get(unquote(channel), ()))
        return redact(
            json.dumps(
                {
                    "database": hub.db.name,
                    "channel": unquote(channel),
                    "notifications": [
                        {"payload": n.payload, "pid": n.pid, "at": n.received_at} for n in recent
                    ],
                }
            )
        )

    async def list_resources(ctx: Any, params: PaginatedRequestParams) -> ListResourcesResult:
        resources: list[Resource] = []
        for db in databases.by_name.values():
            try:
                async with db.connection() as connection:
                    tables = await catalog.tables_for_resources(connection)
            except UserError:
                continue
            resources += [
                Resource(
                    uri=f"postgres://{db.name}/{s}/{t}/schema",
                    name=f'"{s}.{t}" database schema',
                    mime_type="application/json",
                )
                for s, t in tables
            ]
        return ListResourcesResult(resources=resources)

    def listen_target(uri: str) -> tuple[str, str]:
        prefix, _, rest = str(uri).partition("postgres://")
        parts = rest.split("/")
        if prefix or len(parts) != 3 or parts[1] != "listen" or not parts[2]:
            raise MCPError(
                INVALID_PARAMS, "Only postgres://DATABASE/listen/CHANNEL resources can be subscribed to."
            )
        return unquote(parts[0]), unquote(parts[2])

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        database, channel = listen_target(params.uri)
        try:
            await runtime.subscribe(ctx.session, database, channel)
        except UserError as exc:
            raise MCPError(INVALID_PARAMS, str(exc)) from None
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        database, channel = listen_target(params.uri)
        await runtime.unsubscribe(ctx.session, database, channel)
        return EmptyResult()

    mcp._lowlevel_server.add_request_handler("resources/list", PaginatedRequestParams, list_resources)
    mcp._lowlevel_server.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    mcp._lowlevel_server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)

    # --- prompts ----------------------------------------------------------------------------------------

    @mcp.prompt(title="Investigate a slow query")
    def investigate_slow_query(sql: str) -> str:
        """Steps to find out why one query is slow and what would make it faster."""
        return (
            "Find out why this PostgreSQL query is slow and what would make it faster:\n\n"
            f"{sql}\n\n"
            "1. Call explain_query with analyze=true and read where the time goes (the slowest node, row "
            "estimates far from actual rows, sequential scans over large tables, sorts spilling to disk).\n"
            "2. Call describe_object on each table involved: its size, row estimate and existing indexes.\n"
            "3. Call suggest_indexes with the query to cost candidate indexes without building them.\n"
            "4. If estimates are far off, check when the tables were last analyzed (db_health).\n"
            "Report the cause, the evidence from the plan, and the smallest change that fixes it."
        )

    @mcp.prompt(title="Review database health")
    def review_database_health(database: str = "") -> str:
        """Steps for a health review of one database with concrete follow-ups."""
        target = f" of database {database!r}" if database else ""
        return (
            f"Review the health{target}.\n"
            "1. Call db_health and list every warning.\n"
            "2. Call top_queries (if pg_stat_statements is available) and look at the three most expensive "
            "statements with explain_query.\n"
            "3. For unused or duplicate indexes, check describe_object before proposing to drop anything.\n"
            "Give a short prioritised list: what is wrong, why it matters, and the exact SQL an "
            "administrator would run."
        )

    return mcp


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


def main() -> None:
    """Console entry point: `patchbay-postgres --dsn postgresql://...`."""
    serve(build, Settings, secret_env=["PATCHBAY_POSTGRES_DSN"])
