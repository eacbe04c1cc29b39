"""Completions for the resource templates and prompts (registered in server.py).

- `database` (table-schema template, LISTEN template, review_database_health): the names given with
  `--dsn`, in flag order.
- `schema` (table-schema template): schemas of the chosen database (the first when none is chosen) that
  hold a table or view the role may SELECT, system schemas left out.
- `table` (table-schema template): tables, views, materialized views and foreign tables the role may
  SELECT, in the chosen schema (every user schema when none is chosen), partitions left out: the tables
  `resources/list` shows.

Names come from the catalog with one bounded query (a prefix match, at most `MAX_NAMES` names, a one-second
statement timeout, in a read-only transaction) on a pooled connection, so `--strict` applies as it does to
the tools. Values are percent-encoded as they go in the URI (`resources/list` spells them the same way),
and chosen arguments are decoded. A database that is down or refused gives nothing. Names with control,
invisible or bidirectional characters are never offered: a completion list cannot show them as data.
LISTEN channel names are not completed: any identifier is a channel, and the ones this server listens on
were chosen by its clients.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

from patchbay_common.untrusted import sanitize
from patchbay_postgres.databases import Database, Databases

__all__ = ["MAX_NAMES", "database_names", "database_names_quoted", "schema_names", "table_names"]

MAX_NAMES = 1_000
"""Most names one completion reads from a database (the layer answers with 100 of them)."""

_SECONDS = 1.0
_LONGEST = 200
_USER_SCHEMA = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_%'"
)
_READABLE = (
    "c.relkind IN ('r','p','v','m','f') AND NOT c.relispartition AND has_table_privilege(c.oid, 'SELECT')"
)

_SCHEMAS_SQL = f"""
SELECT n.nspname FROM pg_namespace n
WHERE {_USER_SCHEMA} AND n.nspname ILIKE $1 ESCAPE '\\'
  AND has_schema_privilege(n.oid, 'USAGE')
  AND EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND {_READABLE})
ORDER BY 1 LIMIT $2
"""  # noqa: S608 - only constants are interpolated

_TABLES_SQL = f"""
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER_SCHEMA} AND ($1::text IS NULL OR n.nspname = $1) AND c.relname ILIKE $2 ESCAPE '\\'
  AND has_schema_privilege(n.oid, 'USAGE') AND {_READABLE}
ORDER BY 1 LIMIT $3
"""  # noqa: S608 - only constants are interpolated


def _showable(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= _LONGEST and name.isprintable() and sanitize(name) == name


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def database_names(databases: Databases) -> list[str]:
    """The configured databases, in flag order."""
    return list(databases.by_name)


def database_names_quoted(databases: Databases) -> list[str]:
    """The configured databases as they are spelled in a URI."""
    return [quote(name, safe="") for name in databases.by_name]


async def _names(databases: Databases, database: str | None, sql: str, *args: Any) -> list[str]:
    db: Database | None = databases.by_name.get(unquote(database)) if database else databases.default
    if db is None:
        return []
    async with db.connection() as connection, connection.transaction(readonly=True):
        rows = await connection.fetch(sql, *args, MAX_NAMES, timeout=_SECONDS)
    return [quote(row[0], safe="") for row in rows if _showable(row[0])]


async def schema_names(databases: Databases, prefix: str, chosen: dict[str, str]) -> Iterable[str]:
    """Schemas of the chosen database that hold a table the role may read, starting with `prefix`."""
    return await _names(databases, chosen.get("database"), _SCHEMAS_SQL, _like(unquote(prefix)))


async def table_names(databases: Databases, prefix: str, chosen: dict[str, str]) -> Iterable[str]:
    """Tables the role may read in the chosen schema (any user schema when none), starting with `prefix`."""
    schema = unquote(chosen["schema"]) if chosen.get("schema") else None
    return await _names(databases, chosen.get("database"), _TABLES_SQL, schema, _like(unquote(prefix)))
