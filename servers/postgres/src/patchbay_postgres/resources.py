"""What the resources read and list: each table's columns, and the latest NOTIFYs of a LISTEN channel.

server.py registers them. Both are JSON (`application/json`), which a frame would break: their string values
(names, comments, NOTIFY payloads, all database content) are sanitized here instead, as the layer does for a
tool's structured content, and passwords are redacted. The subscription hooks (`check`, `acquire`,
`release`) serve `resources/subscribe` and `subscriptions/listen` alike through the layer's service.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, Resource

from patchbay_common.errors import UserError
from patchbay_common.untrusted import sanitize, sanitize_structured
from patchbay_postgres import catalog
from patchbay_postgres.deps import Deps
from patchbay_postgres.render import redact_value

__all__ = ["acquire", "check", "listen_json", "release", "table_resources", "table_schema_json"]


def _json(value: Any) -> str:
    return json.dumps(redact_value(sanitize_structured(value)), default=str, ensure_ascii=False)


async def table_schema_json(deps: Deps, database: str, schema: str, table: str) -> str:
    """Columns of one table as JSON: name, type, nullability, default and comment."""
    db = deps.databases.get(unquote(database))
    async with db.connection() as connection:
        info = await catalog.table_schema(connection, unquote(schema), unquote(table))
    return _json(info)


async def listen_json(deps: Deps, database: str, channel: str) -> str:
    """The latest NOTIFY payloads on a channel as JSON (listening starts at the first read)."""
    hub = await deps.runtime.read(unquote(database), unquote(channel))
    recent = list(hub.recent.get(unquote(channel), ()))
    return _json(
        {
            "database": hub.db.name,
            "channel": unquote(channel),
            "notifications": [{"payload": n.payload, "pid": n.pid, "at": n.received_at} for n in recent],
        }
    )


async def table_resources(deps: Deps) -> list[Resource]:
    """A schema resource for every table and view the role may read, in every database that answers."""
    resources: list[Resource] = []
    for db in deps.databases.by_name.values():
        try:
            async with db.connection() as connection:
                tables = await catalog.tables_for_resources(connection)
        except UserError:
            continue
        resources += [
            Resource(
                uri=f"postgres://{quote(db.name, safe='')}/{quote(s, safe='')}/{quote(t, safe='')}/schema",
                name=sanitize(f'"{s}.{t}" database schema'),
                mime_type="application/json",
            )
            for s, t in tables
        ]
    return resources


async def check(deps: Deps, ctx: Any, uri: str) -> None:
    """Subscriptions: only LISTEN channels, of a database that answers, under the channel limit."""
    await deps.runtime.can_watch(uri)


async def acquire(deps: Deps, uri: str) -> None:
    """The first watcher of a channel arrived: LISTEN (a failure reaches the client as invalid params)."""
    try:
        await deps.runtime.watch(uri)
    except UserError as exc:
        raise MCPError(INVALID_PARAMS, str(exc)) from None


async def release(deps: Deps, uri: str) -> None:
    """The last watcher of a channel left: UNLISTEN."""
    await deps.runtime.unwatch(uri)
