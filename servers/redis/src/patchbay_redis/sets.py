"""The sets toolset: test membership or page through members, and (write tier) add or remove members."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, Key, Limit, Page, reply_of, short

tools = Toolset("sets", "Read and change sets.")

Members = Annotated[list[str], Field(description="Members.")]


@tools.tool(untrusted="redis set")
async def set_members(
    deps: Deps,
    key: Key,
    check: Annotated[list[str] | None, Field(description="Values to test for membership.")] = None,
    pattern: Annotated[str, Field(description="Glob for members when paging.")] = "*",
    cursor: Page = None,
    limit: Limit = 100,
) -> Reply:
    """Return whether given values are members of a set, or its members one page at a time."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.set_members(
            deps.store, key, check=check, pattern=pattern, cursor=cursor, limit=limit, max_chars=chars
        )

    return await deps.fitted(read, f"redis set {short(key)}")


@tools.tool(access="write", destructive=False, idempotent=True)
async def set_add(deps: Deps, key: Key, members: Members) -> Reply:
    """Add members to a set (created if missing); returns how many were new."""
    return reply_of(await ops.set_add(deps.store, key, members))


@tools.tool(access="write", destructive=True, idempotent=True)
async def set_remove(deps: Deps, key: Key, members: Members) -> Reply:
    """Remove members from a set; returns how many were there."""
    return reply_of(await ops.set_remove(deps.store, key, members))
