"""The schema toolset: which databases, tables and views there are, and what one table holds.

Table, view, column and index names and CREATE statements are database content, so the answers of
list_tables and describe_table are declared untrusted: the layer frames their text and sanitizes their
structured form. Database names and paths come from the operator's flags and are not framed.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_sqlite.deps import DatabaseName, Deps
from patchbay_sqlite.render import render

tools = Toolset("schema", "The databases, their tables and views, and one table's description.")


@tools.tool()
async def list_databases(deps: Deps) -> str:
    """Return the databases this server serves: name, file and access tier."""
    catalog = deps.catalog
    return "\n".join(
        f"{name}: {db.path} (access: {db.access.value})" for name, db in catalog.databases.items()
    )


@tools.tool(untrusted="table list")
async def list_tables(deps: Deps, database: DatabaseName = None) -> Reply:
    """Return every table and view of a database with its columns."""
    db = deps.catalog.get(database)
    tables = await db.tables()
    body = render(["name", "type", "columns"], [list(t) for t in tables]) if tables else "(no tables)"
    structured = {
        "database": db.name,
        "tables": [{"name": n, "type": t, "columns": c.split(", ") if c else []} for n, t, c in tables],
    }
    return Reply(body, structured=structured, source=f"table list of database {db.name}")


@tools.tool(untrusted="table schema")
async def describe_table(
    deps: Deps,
    table_name: Annotated[str, Field(description="Name of a table or view (any case).")],
    database: DatabaseName = None,
) -> Reply:
    """Return the columns, foreign keys, indexes and CREATE statement of one table or view."""
    db = deps.catalog.get(database)
    info = await db.describe(table_name)
    columns = render(
        ["column", "type", "not null", "default", "pk"],
        [
            [c["name"], c["type"], "yes" if c["not_null"] else "", c["default"], c["primary_key"] or ""]
            for c in info["columns"]
        ],
    )
    parts = [f"{info['type']} {info['name']}", columns]
    if info["foreign_keys"]:
        parts.append(
            "foreign keys: " + "; ".join(f"{f['column']} -> {f['references']}" for f in info["foreign_keys"])
        )
    if info["indexes"]:
        parts.append(
            "indexes: "
            + "; ".join(
                f"{i['name']} ({i['columns']}){' unique' if i['unique'] else ''}" for i in info["indexes"]
            )
        )
    parts.append(info["sql"])
    return Reply(
        "\n".join(parts),
        structured={"database": db.name, **info},
        source=f"schema of a table in database {db.name}",
    )
