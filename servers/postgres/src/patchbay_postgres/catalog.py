"""Schema inspection from the system catalogs: schemas, objects, one object in full, search by name.

Every query here is fixed text with bind parameters (no model input is spliced into SQL) and runs in a
read-only transaction, so these tools are safe at any tier. Results are plain dicts; `server.py` turns
them into text and structured content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from patchbay_common.errors import NotFound, UserError
from patchbay_common.limits import human_size
from patchbay_postgres.databases import connection_lost
from patchbay_postgres.execute import pg_error

__all__ = [
    "KINDS",
    "ObjectKind",
    "describe_object",
    "list_objects",
    "list_schemas",
    "search_objects",
    "table_columns",
    "tables_for_resources",
]

ObjectKind = Literal[
    "table", "view", "materialized_view", "sequence", "foreign_table", "function", "extension"
]
KINDS: tuple[ObjectKind, ...] = (
    "table",
    "view",
    "materialized_view",
    "sequence",
    "foreign_table",
    "function",
    "extension",
)
_RELKIND = {
    "r": "table",
    "p": "table",
    "v": "view",
    "m": "materialized_view",
    "S": "sequence",
    "f": "foreign_table",
}
_SYSTEM = "('pg_catalog', 'information_schema', 'pg_toast')"


async def _read(connection: Any, sql: str, *args: Any) -> list[Any]:
    """Run a fixed catalog query in a read-only transaction."""
    try:
        async with connection.transaction(readonly=True):
            return list(await connection.fetch(sql, *args))
    except Exception as exc:
        if hasattr(exc, "sqlstate") or connection_lost(exc):
            raise pg_error(exc, sql, what="The catalog query") from None
        raise


async def list_schemas(connection: Any, include_system: bool = False) -> list[dict[str, Any]]:
    """Schemas with owner, number of tables/views and comment."""
    where = "" if include_system else f"WHERE n.nspname NOT IN {_SYSTEM} AND n.nspname NOT LIKE 'pg\\_%'"
    rows = await _read(
        connection,
        f"""
        SELECT n.nspname AS schema, pg_get_userbyid(n.nspowner) AS owner,
               count(c.oid) FILTER (WHERE c.relkind IN ('r','p')) AS tables,
               count(c.oid) FILTER (WHERE c.relkind IN ('v','m')) AS views,
               obj_description(n.oid, 'pg_namespace') AS comment
        FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid
        {where}
        GROUP BY n.oid, n.nspname, n.nspowner ORDER BY n.nspname
        """,  # noqa: S608 - only constants are interpolated
    )
    return [dict(r) for r in rows]


_OBJECTS_SQL = """
WITH objects AS (
    SELECT n.nspname AS schema, c.relname AS name,
           CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                WHEN 'm' THEN 'materialized_view' WHEN 'S' THEN 'sequence' ELSE 'foreign_table' END AS kind,
           CASE WHEN c.relkind IN ('r','p','m') THEN greatest(c.reltuples, 0)::bigint END AS row_estimate,
           CASE WHEN c.relkind IN ('r','p','m','S') THEN pg_total_relation_size(c.oid) END AS bytes,
           obj_description(c.oid, 'pg_class') AS comment
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r','p','v','m','S','f') AND NOT c.relispartition
    UNION ALL
    SELECT n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           'function', NULL, NULL, obj_description(p.oid, 'pg_proc')
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prokind IN ('f','p') AND NOT EXISTS (
        SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT n.nspname, e.extname || ' ' || e.extversion, 'extension', NULL, NULL,
           obj_description(e.oid, 'pg_extension')
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
)
SELECT * FROM objects
WHERE ($1::text IS NULL OR schema = $1 OR kind = 'extension')
  AND ($1::text IS NOT NULL OR schema NOT IN ('pg_catalog', 'information_schema', 'pg_toast'))
  AND kind = ANY($2::text[])
  AND ($3::text IS NULL OR name ILIKE $3)
ORDER BY kind = 'extension', schema, kind, name
OFFSET $4 LIMIT $5
"""


async def list_objects(
    connection: Any,
    schema: str | None,
    kinds: list[ObjectKind] | None,
    name_like: str | None,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], bool]:
    """Objects in `schema` (every user schema when None) of the given kinds; (page, whether more exist)."""
    chosen = list(kinds or KINDS)
    rows = await _read(connection, _OBJECTS_SQL, schema, chosen, name_like, offset, limit + 1)
    page = [_with_size(dict(r)) for r in rows[:limit]]
    return page, len(rows) > limit


def _with_size(row: dict[str, Any]) -> dict[str, Any]:
    size = row.pop("bytes", None)
    row["size"] = human_size(size) if size is not None else None
    return row


async def search_objects(connection: Any, pattern: str, kinds: list[str], limit: int) -> list[dict[str, Any]]:
    """Tables, views, sequences, functions, indexes and columns whose name matches `pattern` (ILIKE)."""
    if not pattern.strip():
        raise UserError(
            "The search pattern is empty.", hint="Pass part of a name, e.g. 'order' or 'cust%id'."
        )
    like = pattern if any(ch in pattern for ch in "%_") else f"%{pattern}%"
    rows = await _read(
        connection,
        f"""
        SELECT * FROM (
            SELECT n.nspname AS schema, c.relname AS name,
                   CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                        WHEN 'm' THEN 'materialized_view' WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index'
                        WHEN 'I' THEN 'index' ELSE 'foreign_table' END AS kind,
                   NULL::text AS parent,
                   CASE WHEN c.relkind IN ('r','p','m')
                        THEN greatest(c.reltuples, 0)::bigint END AS row_estimate,
                   obj_description(c.oid, 'pg_class') AS comment
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r','p','v','m','S','f','i','I') AND c.relname ILIKE $1
              AND n.nspname NOT IN {_SYSTEM} AND NOT c.relispartition
            UNION ALL
            SELECT n.nspname, a.attname, 'column', c.relname, NULL,
                   format_type(a.atttypid, a.atttypmod)
                       || coalesce(' -- ' || col_description(c.oid, a.attnum), '')
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r','p','v','m','f')
              AND a.attname ILIKE $1 AND n.nspname NOT IN {_SYSTEM}
            UNION ALL
            SELECT n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                   'function',
                   NULL, NULL, obj_description(p.oid, 'pg_proc')
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE p.proname ILIKE $1 AND n.nspname NOT IN {_SYSTEM}
            UNION ALL
            SELECT n.nspname, n.nspname, 'schema', NULL, NULL, obj_description(n.oid, 'pg_namespace')
            FROM pg_namespace n WHERE n.nspname ILIKE $1 AND n.nspname NOT IN {_SYSTEM}
              AND n.nspname NOT LIKE 'pg\\_%'
        ) found
        WHERE kind = ANY($2::text[])
        ORDER BY lower(name) = lower($3) DESC, kind, schema, name
        LIMIT $4
        """,  # noqa: S608 - only constants are interpolated
        like,
        kinds,
        pattern,
        limit + 1,
    )
    return [dict(r) for r in rows]


@dataclass
class Resolved:
    """A relation or function found by name."""

    oid: int
    schema: str
    name: str
    kind: str


async def resolve(connection: Any, name: str, schema: str | None) -> Resolved:
    """Find a relation (or failing that a function) by name, `schema.name`, or name plus `schema`."""
    if schema is None and "." in name and not name.startswith('"'):
        schema, name = name.split(".", 1)
    name = name.strip('"')
    rows = await _read(
        connection,
        f"""
        SELECT * FROM (
        SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
               pg_table_is_visible(c.oid) AS visible
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = $1 AND ($2::text IS NULL OR n.nspname = $2)
          AND c.relkind IN ('r','p','v','m','S','f')
        UNION ALL
        SELECT p.oid::int, n.nspname, p.proname, 'function', pg_function_is_visible(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.proname = $1 AND ($2::text IS NULL OR n.nspname = $2) AND n.nspname NOT IN {_SYSTEM}
        ) found ORDER BY visible DESC, kind = 'function', schema
        """,  # noqa: S608 - only constants are interpolated
        name,
        schema,
    )
    if not rows:
        where = f" in schema {schema!r}" if schema else ""
        raise NotFound(
            f"No table, view, sequence or function called {name!r}{where}.",
            hint="Find the exact name with search_objects (names are case-sensitive).",
        )
    relations = [r for r in rows if r["kind"] != "function"]
    if schema is None and len({r["schema"] for r in relations}) > 1 and not relations[0]["visible"]:
        schemas = ", ".join(sorted({r["schema"] for r in relations}))
        raise UserError(
            f"{name!r} exists in several schemas ({schemas}).",
            hint="Pass `schema` (or name it as schema.name).",
        )
    first = rows[0]
    return Resolved(first["oid"], first["schema"], first["name"], _RELKIND.get(first["kind"], first["kind"]))


async def describe_object(connection: Any, name: str, schema: str | None) -> dict[str, Any]:
    """Everything about one relation: columns, constraints, indexes, size, row estimate, comments."""
    found = await resolve(connection, name, schema)
    if found.kind == "function":
        rows = await _read(
            connection,
            """
            SELECT pg_get_function_identity_arguments(p.oid) AS arguments,
                   pg_get_function_result(p.oid) AS returns, l.lanname AS language,
                   p.provolatile::text AS volatility, p.prosecdef AS security_definer,
                   obj_description(p.oid, 'pg_proc') AS comment, pg_get_functiondef(p.oid) AS definition
            FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.proname = $1 AND p.pronamespace = $2::regnamespace
            """,
            found.name,
            found.schema,
        )
        return {
            "schema": found.schema,
            "name": found.name,
            "kind": "function",
            "overloads": [dict(r) for r in rows],
        }
    oid = found.oid
    info = (
        await _read(
            connection,
            """
            SELECT greatest(c.reltuples, 0)::bigint AS row_estimate,
                   CASE WHEN c.relkind IN ('r','p','m','S')
                        THEN pg_total_relation_size(c.oid) END AS total_bytes,
                   CASE WHEN c.relkind IN ('r','p','m') THEN pg_relation_size(c.oid) END AS table_bytes,
                   obj_description(c.oid, 'pg_class') AS comment, pg_get_userbyid(c.relowner) AS owner,
                   CASE WHEN c.relkind IN ('v','m') THEN pg_get_viewdef(c.oid, true) END AS definition
            FROM pg_class c WHERE c.oid = $1
            """,
            oid,
        )
    )[0]
    columns = await table_columns(connection, oid)
    constraints = await _read(
        connection,
        """
        SELECT conname AS name, CASE contype WHEN 'p' THEN 'primary key' WHEN 'f' THEN 'foreign key'
               WHEN 'u' THEN 'unique' WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion'
               ELSE contype::text END AS type,
               pg_get_constraintdef(oid, true) AS definition
        FROM pg_constraint WHERE conrelid = $1 ORDER BY contype, conname
        """,
        oid,
    )
    indexes = await _read(
        connection,
        """
        SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition,
               pg_relation_size(x.indexrelid) AS bytes, coalesce(s.idx_scan, 0) AS scans,
               x.indisvalid AS valid
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = x.indexrelid
        WHERE x.indrelid = $1 ORDER BY i.relname
        """,
        oid,
    )
    referenced_by = await _read(
        connection,
        """
        SELECT conrelid::regclass::text AS "table", conname AS name,
               pg_get_constraintdef(oid, true) AS definition
        FROM pg_constraint WHERE confrelid = $1 AND contype = 'f' ORDER BY 1, 2
        """,
        oid,
    )
    result: dict[str, Any] = {
        "schema": found.schema,
        "name": found.name,
        "kind": found.kind,
        "owner": info["owner"],
        "row_estimate": info["row_estimate"] if found.kind in ("table", "materialized_view") else None,
        "total_size": human_size(info["total_bytes"]) if info["total_bytes"] is not None else None,
        "table_size": human_size(info["table_bytes"]) if info["table_bytes"] is not None else None,
        "comment": info["comment"],
        "columns": columns,
        "constraints": [dict(r) for r in constraints],
        "indexes": [{**dict(r), "size": human_size(r["bytes"]), "bytes": None} for r in indexes],
        "referenced_by": [dict(r) for r in referenced_by],
    }
    for index in result["indexes"]:
        index.pop("bytes")
    if info["definition"]:
        result["definition"] = info["definition"]
    return result


async def table_columns(connection: Any, oid: int) -> list[dict[str, Any]]:
    """Columns of a relation in order: name, type, nullability, default, comment."""
    rows = await _read(
        connection,
        """
        SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
               pg_get_expr(d.adbin, d.adrelid) AS "default", col_description(a.attrelid, a.attnum) AS comment
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
        """,
        oid,
    )
    return [dict(r) for r in rows]


async def tables_for_resources(connection: Any, limit: int = 500) -> list[tuple[str, str]]:
    """(schema, table) for the user tables and views a client may read as schema resources."""
    rows = await _read(
        connection,
        f"""
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r','p','v','m','f') AND NOT c.relispartition
          AND n.nspname NOT IN {_SYSTEM} AND n.nspname NOT LIKE 'pg\\_%'
          AND has_table_privilege(c.oid, 'SELECT')
        ORDER BY 1, 2 LIMIT $1
        """,  # noqa: S608 - only constants are interpolated
        limit,
    )
    return [(r[0], r[1]) for r in rows]


async def table_schema(connection: Any, schema: str, table: str) -> dict[str, Any]:
    """The columns of `schema.table` (the official server's resource, with the schema respected)."""
    found = await resolve(connection, table, schema)
    if found.kind == "function":
        raise NotFound(f"{schema}.{table} is a function, not a table.")
    return {
        "schema": found.schema,
        "table": found.name,
        "columns": await table_columns(connection, found.oid),
    }


def render_describe(info: dict[str, Any]) -> str:
    """describe_object's result as compact text."""
    head = f"{info['kind'].replace('_', ' ')} {info['schema']}.{info['name']}"
    if info["kind"] == "function":
        out = [head]
        for overload in info["overloads"]:
            out.append(
                f"  ({overload['arguments']}) -> {overload['returns']}  language {overload['language']}"
                f"{'  SECURITY DEFINER' if overload['security_definer'] else ''}"
                f"{'  -- ' + overload['comment'] if overload['comment'] else ''}"
            )
            out.append("  " + (overload["definition"] or "").strip()[:4000].replace("\n", "\n  "))
        return "\n".join(out)
    facts = []
    if info.get("row_estimate") is not None:
        facts.append(f"~{info['row_estimate']} rows")
    if info.get("total_size"):
        facts.append(f"{info['total_size']} total")
    if info.get("table_size"):
        facts.append(f"{info['table_size']} table")
    facts.append(f"owner {info['owner']}")
    lines = [f"{head} ({', '.join(facts)})"]
    if info.get("comment"):
        lines.append(f"comment: {info['comment']}")
    lines.append("columns:")
    for col in info["columns"]:
        extra = "" if col["nullable"] else " not null"
        if col["default"] is not None:
            extra += f" default {col['default']}"
        if col["comment"]:
            extra += f"  -- {col['comment']}"
        lines.append(f"  {col['name']} {col['type']}{extra}")
    if info["constraints"]:
        lines.append("constraints:")
        lines += [f"  {c['name']}: {c['definition']}" for c in info["constraints"]]
    if info["indexes"]:
        lines.append("indexes:")
        lines += [
            f"  {i['definition']} ({i['size']}, {i['scans']} scans{'' if i['valid'] else ', INVALID'})"
            for i in info["indexes"]
        ]
    if info["referenced_by"]:
        lines.append("referenced by:")
        lines += [f"  {r['table']}.{r['name']}: {r['definition']}" for r in info["referenced_by"]]
    if info.get("definition"):
        lines.append("definition:")
        lines.append("  " + info["definition"].strip().replace("\n", "\n  "))
    return "\n".join(lines)
