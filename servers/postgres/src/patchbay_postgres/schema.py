"""The schema toolset: the configured databases, and the schemas and objects inside one.

Names, comments and definitions come from the database: the layer frames them (`untrusted=`). Listings are
sized to the answer budget here (JSON lines measured as the layer shows them), and say after the frame how
to go on: list_objects pages with `offset`, the others ask for a narrower request.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field

from patchbay_common.errors import Partial, UserError
from patchbay_common.limits import truncation_marker
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_postgres import catalog
from patchbay_postgres.deps import DatabaseArg, Deps
from patchbay_postgres.render import fit_lines, record_lines

__all__ = ["tools"]

tools = Toolset("schema", "The configured databases, and the schemas and objects inside one.")

SearchKind = Literal[
    "schema", "table", "view", "materialized_view", "sequence", "foreign_table", "index", "column", "function"
]
_SEARCH_KINDS: list[SearchKind] = [
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
_FULL_DETAIL = 5  # objects described in full by search_objects(detail="full")


@tools.tool(title="List databases")
async def list_databases(deps: Deps) -> str:
    """List the configured databases: name, address (no password) and access tier.

    Once connected, also the server version and the role.
    """
    report: Partial[str] = Partial()
    for db in deps.databases.by_name.values():
        line = f"{db.name}: {db.target.display()} (access {deps.tier})"
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


@tools.tool(untrusted="database catalog", title="List schemas")
async def list_schemas(
    deps: Deps,
    include_system: Annotated[
        bool, Field(description="Also list pg_catalog and information_schema.")
    ] = False,
    database: DatabaseArg = None,
) -> Reply:
    """List the schemas of a database with owner, number of tables and views, and comment."""
    db = deps.databases.get(database)
    async with db.connection() as connection:
        rows = await catalog.list_schemas(connection, include_system)
    if not rows:
        return Reply("", note="No schemas.")
    lines = record_lines(rows)
    kept = fit_lines(lines, deps.text_budget)
    note = ""
    if kept < len(lines):
        note = truncation_marker(
            f"{kept} of {len(lines)} schemas", "use list_objects or search_objects per schema"
        )
    return Reply("\n".join(lines[:kept]), note=note, source=f"postgres://{db.name} schemas")


@tools.tool(untrusted="database catalog", title="List objects")
async def list_objects(
    deps: Deps,
    schema: Annotated[
        str | None, Field(description="Schema to list; default: every user schema.")
    ] = "public",
    kinds: Annotated[
        list[catalog.ObjectKind] | None, Field(description="Kinds to include; default: all.")
    ] = None,
    name_like: Annotated[str | None, Field(description="ILIKE pattern on the name, e.g. 'order%'.")] = None,
    offset: Annotated[int, Field(ge=0)] = 0,
    limit: Annotated[int, Field(ge=1, le=500)] = 100,
    database: DatabaseArg = None,
) -> Reply:
    """List the objects of a schema, one JSON object per line, paged with offset.

    Kinds: tables, views, materialized views, sequences, foreign tables, functions and extensions, with
    row estimates, sizes and comments.
    """
    db = deps.databases.get(database)
    async with db.connection() as connection:
        rows, more = await catalog.list_objects(connection, schema, kinds, name_like, offset, limit)
    if not rows:
        return Reply("", note="No objects match.")
    lines = record_lines(rows)
    kept = fit_lines(lines, deps.text_budget)
    note = ""
    if kept < len(lines) or more:
        shown = f"objects {offset + 1}-{offset + kept}"
        if kept < len(lines):
            shown += " (character limit)"
        note = truncation_marker(shown, f"call again with offset={offset + kept}")
    return Reply("\n".join(lines[:kept]), note=note, source=f"postgres://{db.name} objects")


@tools.tool(untrusted="database catalog", title="Describe an object")
async def describe_object(
    deps: Deps,
    name: Annotated[str, Field(description="Table, view, sequence or function name, or schema.name.")],
    schema: Annotated[str | None, Field(description="Schema, when not part of name.")] = None,
    database: DatabaseArg = None,
) -> Reply:
    """Describe one table, view, materialized view, sequence or function.

    Columns with types, defaults and comments, constraints, indexes with sizes and scan counts, foreign
    keys pointing at it, row estimate, size, and a view's or function's definition.
    """
    db = deps.databases.get(database)
    async with db.connection() as connection:
        info = await catalog.describe_object(connection, name, schema)
    return Reply(
        catalog.render_describe(info), source=f"postgres://{db.name}/{info['schema']}/{info['name']}"
    )


@tools.tool(untrusted="database catalog", title="Search objects by name")
async def search_objects(
    deps: Deps,
    pattern: Annotated[str, Field(description="Part of a name, or an ILIKE pattern with % and _.")],
    detail: Annotated[
        Literal["names", "summary", "full"],
        Field(
            description="names: kind and name; summary: plus row estimate and comment; full: describe each."
        ),
    ] = "names",
    kinds: Annotated[list[SearchKind] | None, Field(description="Kinds to search; default: all.")] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
    database: DatabaseArg = None,
) -> Reply:
    """Find objects whose name matches a pattern, in every user schema.

    Schemas, tables, views, sequences, indexes, columns and functions, at the chosen level of detail.
    """
    chosen: list[str] = list(kinds or _SEARCH_KINDS)
    db = deps.databases.get(database)
    source = f"postgres://{db.name} search"
    async with db.connection() as connection:
        rows = await catalog.search_objects(connection, pattern, chosen, limit)
        more = len(rows) > limit
        rows = rows[:limit]
        if detail == "full":
            parts = []
            for row in rows[:_FULL_DETAIL]:
                if row["kind"] in ("table", "view", "materialized_view", "sequence", "foreign_table"):
                    info = await catalog.describe_object(connection, row["name"], row["schema"])
                    parts.append(catalog.render_describe(info))
                else:
                    parts.append(json.dumps(row, default=str, ensure_ascii=False))
            if not parts:
                return Reply("", note="No objects match.")
            note = ""
            if len(rows) > _FULL_DETAIL:
                note = (
                    f"... and {len(rows) - _FULL_DETAIL} more matches (use detail='summary' to list them all)"
                )
            return Reply("\n\n".join(parts), note=note, source=source)
    if detail == "names":
        rows = [
            {
                "kind": r["kind"],
                "name": f"{r['schema']}.{r['parent'] + '.' if r['parent'] else ''}{r['name']}",
            }
            for r in rows
        ]
    if not rows:
        return Reply("", note=f"No objects match {pattern!r}.")
    lines = record_lines(rows)
    kept = fit_lines(lines, deps.text_budget)
    note = ""
    if kept < len(lines) or more:
        total = f"more than {limit}" if more else str(len(lines))
        note = truncation_marker(
            f"{kept} of {total} matches", "narrow the pattern, pick kinds, or change limit"
        )
    return Reply("\n".join(lines[:kept]), note=note, source=source)
