"""patchbay-sqlite: SQL over one or more SQLite files, read-only unless the operator says otherwise.

Databases come from `--db NAME=PATH` (repeatable); with none, a small sample shop database shipped in the
package is served read-only. Access is a tier (`--access read|dml|ddl`) enforced by SQLite itself: every
connection carries an authorizer callback that sees what each compiled statement does (policy.py), so no
CTE, comment or case trick gets past it; ATTACH, VACUUM INTO, extensions, transaction control and PRAGMA
writes are refused in every tier.

The tools are declared in their toolset modules (schema.py, queries.py, insights.py, writes.py) on one
`Deps` (deps.py); this file reads the flags, builds the deps and registers the toolsets for the granted
tier, then the resources and the prompt. The layer (patchbay_common.app) lists only granted tools, frames
database content as untrusted data, caps every answer, and asks the user before a destructive statement.
Both protocol eras; stdio, SSE and streamable HTTP.
"""

import atexit
import shutil
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_common.app import PatchbayServer, close_after_last_connection, serve
from patchbay_common.errors import UserError
from patchbay_common.notify import current_call
from patchbay_common.principals import principal_key
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_sqlite import __version__, completions, insights, queries, resources, schema, writes
from patchbay_sqlite.database import set_memory_limit
from patchbay_sqlite.deps import Deps, granted, open_catalog
from patchbay_sqlite.memo import MEMO_URI, Memo, Memos
from patchbay_sqlite.policy import Access


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
    max_memory_mib: int = Field(
        128,
        ge=8,
        le=1 << 20,
        description="MiB of memory SQLite may use in all (values it builds or reads, sorts, caches); a "
        "statement that needs more stops with an error.",
    )
    allow_destructive: bool = Field(
        False,
        description="Run DROP and all-row DELETE/UPDATE unconfirmed when the client cannot ask the user.",
    )


TABLE_TEMPLATE = "sqlite://{database}/table/{table}"

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


async def memo_only(ctx: Any, uri: str) -> None:
    """Subscriptions: the memo is the one resource that changes while the server runs."""
    if uri != MEMO_URI:
        raise UserError(f"{uri} cannot be watched.", hint=f"Only {MEMO_URI} sends updates.")


def build(settings: Settings) -> PatchbayServer:
    """The server: toolsets for the granted tier, the memo, schema and result resources, the demo prompt."""
    access = Access(settings.access)
    set_memory_limit(settings.max_memory_mib)
    catalog, scratch = open_catalog(settings.db, access, settings.query_timeout)
    if scratch is not None:
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    mcp = PatchbayServer(
        "patchbay-sqlite",
        version=__version__,
        settings=settings,
        instructions="SQL access to SQLite databases. Start with list_databases and list_tables.",
        lifespan=close_after_last_connection(catalog.close),
    )
    # One memo per user (memo.Memos); without authentication, 2026-era clients share one.
    subs = mcp.subscriptions(check=memo_only)
    deps = Deps(
        catalog=catalog,
        memo=Memos(),
        publish=subs.publish,
        max_rows=settings.max_rows,
        max_chars=settings.max_output_chars,
    )
    tiers = granted(access)
    for toolset in (schema.tools, queries.tools, insights.tools, writes.tools):
        mcp.add_toolset(toolset, deps, access=tiers, allow_unconfirmed=settings.allow_destructive)

    @mcp.resource(
        MEMO_URI, name="insights", title="Insights memo", mime_type="text/plain", untrusted="insights memo"
    )
    async def insights_memo() -> str:
        """Insights this user recorded with append_insight (each user has their own memo)."""
        memo = deps.memo.peek(current_call.get())  # a static resource is given no context
        return (memo or Memo()).render()

    for name, db in catalog.databases.items():
        mcp.resource(
            f"sqlite://{name}/schema",
            name=f"{name}-schema",
            title=f"Schema of database {name}",
            description=f"Every CREATE statement of database {name}.",
            mime_type="text/plain",
            untrusted=f"schema of database {name}",
        )(db.schema)

    @mcp.resource(TABLE_TEMPLATE, mime_type="application/json")
    async def table_resource(database: str, table: str) -> str:
        """Columns, foreign keys, indexes and CREATE statement of one table, as JSON."""
        return await resources.table_json(deps, database, table)

    @mcp.resource("sqlite://result/{result_id}{?offset}", mime_type="text/plain", untrusted="query result")
    async def result_resource(result_id: str, ctx: Context[Any, Any], offset: str = "0") -> str:
        """A page of an open large query result as CSV framed as untrusted data, from row `offset`."""
        return await resources.result_page(deps, result_id, offset, principal_key(ctx))

    @mcp.complete(TABLE_TEMPLATE, "database")
    def complete_database(value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        return completions.database_names(catalog)

    @mcp.complete(TABLE_TEMPLATE, "table")
    async def complete_table(value: str, chosen: dict[str, str], ctx: Any) -> Iterable[str]:
        return await completions.table_names(catalog, value, chosen.get("database"))

    @mcp.complete("mcp-demo", "topic")
    async def complete_topic(value: str, chosen: dict[str, str], ctx: Any) -> Iterable[str]:
        return await completions.topics(catalog, value)

    @mcp.prompt(name="mcp-demo", title="Guided tour of the data")
    def demo(topic: Annotated[str, Field(description="What to explore, e.g. 'repeat customers'.")]) -> str:
        """A guided walk through the data on one topic, recording findings in the insights memo."""
        return DEMO_PROMPT.format(topic=" ".join(topic.split())[:200])

    return mcp


def main() -> None:
    """Console entry point: `patchbay-sqlite`."""
    serve(build, Settings)
