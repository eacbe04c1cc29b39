"""Completions for the table resource template and the demo prompt (registered in server.py).

Database names come from the operator's flags; table and view names from the database itself, read with
one bounded query on the pool's read-only connections (a prefix `LIKE` on `sqlite_schema`, at most
`MAX_NAMES` names). Names SQLite keeps for itself (`sqlite_*`) are never offered, nor names that carry
control, invisible or bidirectional characters, which a completion list cannot show as data. A database
file that does not exist yet (ddl tier) is not created by a completion. Result ids are not completed: the
results are shared by every client of the process, and an id is what lets a client read one.
"""

from __future__ import annotations

from collections.abc import Iterable

from patchbay_common.untrusted import sanitize
from patchbay_sqlite.database import Catalog, Database

__all__ = ["MAX_NAMES", "database_names", "table_names"]

MAX_NAMES = 1_000
"""Most names one completion reads from a database (the layer answers with 100 of them)."""

_LONGEST = 200


def _showable(name: str) -> bool:
    return len(name) <= _LONGEST and name.isprintable() and sanitize(name) == name


def database_names(catalog: Catalog) -> list[str]:
    """The databases this server serves, in flag order."""
    return list(catalog.databases)


async def _tables_of(db: Database, prefix: str) -> list[str]:
    if not db.path.exists():
        return []
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await db.fetch_all(
        "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name LIKE ? ESCAPE '\\' ORDER BY name LIMIT ?",
        (escaped + "%", MAX_NAMES),
    )
    return [row[0] for row in rows if isinstance(row[0], str) and _showable(row[0])]


async def table_names(catalog: Catalog, prefix: str, database: str | None) -> Iterable[str]:
    """Tables and views of `database` (the first one when not chosen) whose names start with `prefix`.

    An unknown database gives nothing rather than an error.
    """
    db = catalog.databases.get(database or catalog.default)
    if db is None:
        return []
    return await _tables_of(db, prefix)


async def topics(catalog: Catalog, prefix: str) -> Iterable[str]:
    """Topics for the demo prompt: the table and view names of every database."""
    names: list[str] = []
    for db in catalog.databases.values():
        names.extend(await _tables_of(db, prefix))
    return sorted(set(names))
