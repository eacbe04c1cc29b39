"""The hashes toolset: read fields of a hash by name or page by page, and (write tier) set or delete them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, FieldValue, Key, Limit, Page, by_name, reply_of, short

tools = Toolset("hashes", "Read and change the fields of hashes.")


@tools.tool(untrusted="redis hash")
async def hash_get(
    deps: Deps,
    key: Key,
    fields: Annotated[
        list[str] | None, Field(description="Fields to read; omit to page through all.")
    ] = None,
    pattern: Annotated[str, Field(description="Glob for field names when paging.")] = "*",
    cursor: Page = None,
    limit: Limit = 100,
) -> Reply:
    """Return named fields of a hash, or its fields matching a pattern one page at a time."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.hash_get(
            deps.store, key, fields=fields, pattern=pattern, cursor=cursor, limit=limit, max_chars=chars
        )

    return await deps.fitted(read, f"redis hash {short(key)}")


@tools.tool(access="write", destructive=True, idempotent=True)
async def hash_set(
    deps: Deps, key: Key, fields: Annotated[list[FieldValue], Field(description="Fields to set.")]
) -> Reply:
    """Set fields of a hash (created if missing); returns how many fields were new."""
    return reply_of(await ops.hash_set(deps.store, key, by_name(fields, "Field")))


@tools.tool(access="write", destructive=True, idempotent=True)
async def hash_delete(
    deps: Deps, key: Key, fields: Annotated[list[str], Field(description="Field names.")]
) -> Reply:
    """Delete fields of a hash; returns how many existed."""
    return reply_of(await ops.hash_delete(deps.store, key, fields))
