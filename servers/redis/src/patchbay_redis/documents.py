"""The json toolset (RedisJSON; registered only when Redis has the module): read and set document paths."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, Key, reply_of, short

tools = Toolset("json", "Read and change JSON documents (RedisJSON).")

Path = Annotated[str, Field(description="JSONPath, $ for the whole document.")]


@tools.tool(untrusted="redis json")
async def json_get(deps: Deps, key: Key, path: Path = "$") -> Reply:
    """Return a path of a JSON document (RedisJSON)."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.json_get(deps.store, key, path, max_chars=chars)

    return await deps.fitted(read, f"redis json {short(key)}")


@tools.tool(access="write", destructive=True, idempotent=True)
async def json_set(
    deps: Deps,
    key: Key,
    path: Path,
    value: Annotated[str, Field(description="The new value as JSON text.")],
) -> Reply:
    """Set a path of a JSON document (RedisJSON) to a JSON value."""
    return reply_of(await ops.json_set(deps.store, key, path, value))
