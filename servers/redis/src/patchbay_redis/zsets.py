"""The sorted sets toolset: read members by rank or score, and (write tier) add or remove members."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, Key, Limit, MemberScore, by_name, reply_of, short

tools = Toolset("zsets", "Read and change sorted sets.")


@tools.tool(untrusted="redis sorted set")
async def zset_range(
    deps: Deps,
    key: Key,
    by: Annotated[Literal["rank", "score"], Field(description="Bounds are ranks or scores.")] = "rank",
    start: Annotated[str, Field(description="Lower bound: a rank, or a score such as -inf or (5.")] = "0",
    stop: Annotated[
        str, Field(description="Upper bound: a rank (-1 is the last), or a score such as +inf.")
    ] = "-1",
    reverse: Annotated[bool, Field(description="Highest first.")] = False,
    offset: Annotated[int, Field(ge=0, description="Members to skip.")] = 0,
    limit: Limit = 100,
) -> Reply:
    """Return sorted set members with scores, by rank or score range, one page at a time."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.zset_range(
            deps.store,
            key,
            by=by,
            start=start,
            stop=stop,
            reverse=reverse,
            offset=offset,
            limit=limit,
            max_chars=chars,
        )

    return await deps.fitted(read, f"redis sorted set {short(key)}")


@tools.tool(access="write", destructive=False, idempotent=True)
async def zset_add(
    deps: Deps,
    key: Key,
    members: Annotated[list[MemberScore], Field(description="Members and their scores.")],
) -> Reply:
    """Add members with scores to a sorted set (updating existing ones); returns the new count."""
    return reply_of(await ops.zset_add(deps.store, key, by_name(members, "Member")))


@tools.tool(access="write", destructive=True, idempotent=True)
async def zset_remove(
    deps: Deps, key: Key, members: Annotated[list[str], Field(description="Members.")]
) -> Reply:
    """Remove members from a sorted set; returns how many were there."""
    return reply_of(await ops.zset_remove(deps.store, key, members))
