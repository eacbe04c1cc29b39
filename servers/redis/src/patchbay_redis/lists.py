"""The lists toolset: read a range of a list and (write tier) push or pop items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, Key, Limit, reply_of, short

tools = Toolset("lists", "Read and change lists.")

End = Annotated[Literal["left", "right"], Field(description="left: head; right: tail.")]


@tools.tool(untrusted="redis list")
async def list_range(
    deps: Deps,
    key: Key,
    start: Annotated[int, Field(description="First index (0 is the head, -1 the tail).")] = 0,
    count: Limit = 100,
) -> Reply:
    """Return up to count items of a list from index start, with the list's length and next_start."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.list_range(deps.store, key, start=start, count=count, max_chars=chars)

    return await deps.fitted(read, f"redis list {short(key)}")


@tools.tool(access="write", destructive=False)
async def list_push(
    deps: Deps,
    key: Key,
    values: Annotated[list[str], Field(description="Values to push, in order.")],
    end: End = "right",
) -> Reply:
    """Push values onto the head or tail of a list (created if missing); returns the length."""
    return reply_of(await ops.list_push(deps.store, key, values, end=end))


@tools.tool(access="write", destructive=True, untrusted="redis list")
async def list_pop(
    deps: Deps,
    key: Key,
    end: End = "left",
    count: Annotated[int, Field(ge=1, le=1000, description="How many items.")] = 1,
) -> Reply:
    """Remove and return up to count items from the head or tail of a list."""
    popped = await ops.list_pop(deps.store, key, end=end, count=count, max_chars=deps.page_chars)
    return reply_of(popped, f"redis list {short(key)}")
