"""patchbay-postgres: PostgreSQL for MCP clients, read-only by default, on asyncpg.

It serves one or more databases (`--dsn NAME=postgresql://...`, repeatable). `--access` picks a tier:
`read` (default) lists only read tools and runs every statement in its own READ ONLY transaction that is
always rolled back, after PostgreSQL's own parser (pglast) has checked that it is one statement of an
allowed kind calling no function that reaches outside the database (see sqlcheck.py); `dml`, `ddl` and
`unrestricted` add `execute_sql`, which asks the user before a statement that destroys data. Nothing
connects at start: a database that is down is reported in tool results, and the pool reconnects by itself.

The tools are declared in their toolset modules (queries.py, schema.py, health.py) on one `Deps` (deps.py);
this file reads the flags, builds the deps, registers the toolsets for the granted tier, then the resources
(each table's schema, and LISTEN channels whose NOTIFYs arrive as updates in both protocol eras) and the
prompts. The layer (patchbay_common.app) lists only granted tools, frames database content as untrusted
data, caps every answer, and asks for confirmation; this server also redacts passwords from every answer.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Annotated, Any

from mcp_types import Resource
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from patchbay_common.app import PatchbayServer, serve
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_postgres import __version__, completions, health, queries, resources, schema, sqlcheck
from patchbay_postgres.databases import Database, Databases, Target, parse_targets
from patchbay_postgres.deps import Deps, granted
from patchbay_postgres.execute import Limits
from patchbay_postgres.render import redact_result
from patchbay_postgres.replica import Replica
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
    allow_destructive: bool = Field(
        False,
        description="Run DROP, TRUNCATE, DROP COLUMN and DELETE/UPDATE without WHERE unconfirmed when the "
        "client cannot ask the user.",
    )
    strict: bool = Field(
        False,
        description="In the read tier, refuse a database whose role is a superuser, can read server "
        "files or run programs, or can change data (otherwise: a loud warning).",
    )
    statement_timeout: float = Field(30.0, gt=0, description="Seconds one statement may run.")
    lock_timeout: float = Field(5.0, gt=0, description="Seconds a statement may wait for a lock.")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a connection.")
    pool_size: int = Field(5, ge=1, le=100, description="Connections per database.")
    max_rows: int = Field(200, ge=1, le=10_000, description="Rows one result may hold (then a continuation).")
    replica_dsn: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Streaming replica for reads (query, read_more_rows): postgresql://... for the first "
        "database, or NAME=postgresql://... (repeatable).",
    )
    max_replica_lag: float = Field(
        30.0,
        ge=0,
        description="Seconds a replica may be behind; reads past it run on the primary, with a note.",
    )

    @field_validator("dsn", "replica_dsn", mode="before")
    @classmethod
    def _dsn_from_env(cls, value: object) -> object:
        """One DSN, several (space-separated, or comma-joined as repeated flags arrive), or a JSON list."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [d for part in value.split() for d in _DSN_START.split(part) if d]
        return value


class PostgresServer(PatchbayServer):
    """PatchbayServer that redacts results too, and lists a schema resource per table.

    Rows can hold credentials, so every tool result is redacted; `listed` adds the resources that depend on
    the databases to `resources/list` (public MCPServer API, no SDK internals).
    """

    listed: Any = None  # async () -> list[Resource]: the resources that depend on the databases

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        """Run the tool as PatchbayServer does, then redact its result."""
        return redact_result(await super().call_tool(name, arguments, context))

    async def list_resources(self) -> list[Resource]:
        """The registered resources, then one per table of every database that answers."""
        return [*await super().list_resources(), *(await self.listed() if self.listed else [])]


def limits_for(settings: Settings) -> Limits:
    """Timeouts and page sizes.

    Rows show twice (JSON lines and structuredContent), capped together by the layer; the rest of the answer
    (frame, columns, status line, marker, notes) takes about 2,500 characters.
    """
    return Limits(
        statement_timeout=settings.statement_timeout,
        lock_timeout=settings.lock_timeout,
        max_rows=settings.max_rows,
        max_chars=max(200, settings.max_output_chars - 2_500),
        max_cell_chars=min(2_000, max(50, settings.max_output_chars // 8)),
    )


def open_databases(settings: Settings) -> Databases:
    """The databases named by `--dsn`, with their `--replica-dsn` replicas (nothing connects yet).

    Raises:
        ValueError: a replica names no configured database, is not a postgres URL, or is given twice.
    """
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
    for entry in settings.replica_dsn:
        entry = entry.strip()
        name, _, dsn = ("", "", entry) if "://" in entry.partition("=")[0] else entry.partition("=")
        db = databases.default if not name else databases.by_name.get(name)
        if db is None:
            raise ValueError(
                f"--replica-dsn names database {name!r}, which no --dsn names "
                f"(configured: {', '.join(databases.by_name)})"
            )
        if db.replica is not None:
            raise ValueError(f"--replica-dsn: database {db.name!r} has two replicas; give one")
        (parsed,) = parse_targets([dsn])  # checks the URL and registers its password for redaction
        target = Target(f"{db.name} (replica)", parsed.dsn)
        replica = Database(
            target,
            strict=settings.strict,
            read_only=True,
            pool_size=settings.pool_size,
            connect_timeout=settings.connect_timeout,
        )
        db.replica = Replica(db, replica, settings.max_replica_lag)
    return databases


def build(settings: Settings) -> PatchbayServer:
    """The server for `settings`: toolsets for the granted tier, resources, subscriptions and prompts."""
    databases = open_databases(settings)
    runtime = Runtime(databases)
    mcp = PostgresServer(
        "patchbay-postgres",
        version=__version__,
        settings=settings,
        instructions=f"PostgreSQL databases: {', '.join(databases.by_name)}. Access tier: {settings.access}.",
        lifespan=runtime.lifespan,
    )
    deps = Deps(
        databases=databases,
        runtime=runtime,
        tier=settings.access,
        limits=limits_for(settings),
        max_chars=settings.max_output_chars,
    )
    has_replica = any(db.replica is not None for db in databases.by_name.values())
    for toolset in (queries.tools, schema.tools, health.tools):
        mcp.add_toolset(
            toolset,
            deps,
            access=granted(settings.access),
            # replica_status is listed only where a --replica-dsn gives it something to report
            only=lambda spec: has_replica or spec.name != "replica_status",
            allow_unconfirmed=settings.allow_destructive,
        )

    subs = mcp.subscriptions(
        check=functools.partial(resources.check, deps),
        acquire=functools.partial(resources.acquire, deps),
        release=functools.partial(resources.release, deps),
    )
    runtime.publish = subs.publish
    mcp.listed = functools.partial(resources.table_resources, deps)

    @mcp.resource(
        "postgres://{database}/{schema}/{table}/schema", mime_type="application/json", title="Table schema"
    )
    async def table_schema(database: str, schema: str, table: str) -> str:
        """Columns of one table: name, type, nullability, default and comment."""
        return await resources.table_schema_json(deps, database, schema, table)

    @mcp.resource(
        "postgres://{database}/listen/{channel}", mime_type="application/json", title="LISTEN channel"
    )
    async def listen_channel(database: str, channel: str) -> str:
        """The latest NOTIFY payloads on a channel; subscribing sends resources/updated on each NOTIFY."""
        return await resources.listen_json(deps, database, channel)

    @mcp.prompt(title="Investigate a slow query")
    def investigate_slow_query(sql: str) -> str:
        """Steps to find out why one query is slow and what would make it faster."""
        return SLOW_QUERY_PROMPT.format(sql=sql)

    @mcp.prompt(title="Review database health")
    def review_database_health(database: str = "") -> str:
        """Steps for a health review of one database with concrete follow-ups."""
        target = f" of database {database!r}" if database else ""
        return HEALTH_PROMPT.format(target=target)

    complete(mcp, deps)
    return mcp


def complete(mcp: PatchbayServer, deps: Deps) -> None:
    """Completions for every argument with a finite domain (see completions.py)."""
    table = "postgres://{database}/{schema}/{table}/schema"
    channel = "postgres://{database}/listen/{channel}"

    def databases(value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        return completions.database_names_quoted(deps.databases)

    mcp.complete(table, "database")(databases)
    mcp.complete(channel, "database")(databases)
    mcp.complete("review_database_health", "database")(
        lambda value, chosen, ctx: completions.database_names(deps.databases)
    )
    mcp.complete(table, "schema")(
        lambda value, chosen, ctx: completions.schema_names(deps.databases, value, chosen)
    )
    mcp.complete(table, "table")(
        lambda value, chosen, ctx: completions.table_names(deps.databases, value, chosen)
    )


SLOW_QUERY_PROMPT = """\
Find out why this PostgreSQL query is slow and what would make it faster:

{sql}

1. Call explain_query with analyze=true and read where the time goes (the slowest node, row \
estimates far from actual rows, sequential scans over large tables, sorts spilling to disk).
2. Call describe_object on each table involved: its size, row estimate and existing indexes.
3. Call suggest_indexes with the query to cost candidate indexes without building them.
4. If estimates are far off, check when the tables were last analyzed (db_health).
Report the cause, the evidence from the plan, and the smallest change that fixes it."""

HEALTH_PROMPT = """\
Review the health{target}.
1. Call db_health and list every warning.
2. Call top_queries (if pg_stat_statements is available) and look at the three most expensive \
statements with explain_query.
3. For unused or duplicate indexes, check describe_object before proposing to drop anything.
Give a short prioritised list: what is wrong, why it matters, and the exact SQL an \
administrator would run."""


def preflight(settings: Settings) -> list[str]:
    """Start-up check: a database is named and its host answers (TCP, 1.5 s); never shows the password."""
    import os

    from patchbay_common.preflight import url_reachable

    if not settings.dsn:
        if os.environ.get("PGHOST") or os.environ.get("PGDATABASE"):
            return []
        return [
            "no database: set PATCHBAY_POSTGRES_DSN=postgresql://user@host:5432/dbname in the client's env "
            "(or libpq's PGHOST, PGUSER, PGDATABASE)"
        ]
    problems = []
    for given in settings.dsn:
        dsn = given.split("=", 1)[1] if "=" in given.split("://", 1)[0] else given
        label = given.split("=", 1)[0] if dsn is not given else "database"
        fix = "check the host and port in the DSN and that PostgreSQL runs there"
        problems += url_reachable(dsn, 5432, f"{label}", fix)
    return problems


def main() -> None:
    """Console entry point: `patchbay-postgres --dsn postgresql://...`."""
    serve(build, Settings, secret_env=["PATCHBAY_POSTGRES_DSN"], preflight=preflight)
