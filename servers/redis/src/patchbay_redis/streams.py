"""The streams toolset: read entries and consumer groups, and (write tier) append or acknowledge entries."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, FieldValue, Key, by_name, reply_of, short

tools = Toolset("streams", "Read and append to streams.")


@tools.tool(untrusted="redis stream")
async def stream_range(
    deps: Deps,
    key: Key,
    start: Annotated[str, Field(description="First id (- for the oldest; (id to start after it).")] = "-",
    end: Annotated[str, Field(description="Last id (+ for the newest).")] = "+",
    count: Annotated[int, Field(ge=1, le=1000, description="Most entries to return.")] = 50,
    reverse: Annotated[bool, Field(description="Newest first.")] = False,
) -> Reply:
    """Return entries of a stream between two ids, oldest first unless reverse is true."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.stream_range(
            deps.store, key, start=start, end=end, count=count, reverse=reverse, max_chars=chars
        )

    return await deps.fitted(read, f"redis stream {short(key)}")


@tools.tool(untrusted="redis stream groups")
async def stream_groups(deps: Deps, key: Key) -> Reply:
    """Return a stream's consumer groups: consumers, pending counts, last delivered ids."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.stream_groups(deps.store, key, max_chars=chars)

    return await deps.fitted(read, f"redis stream {short(key)} groups")


@tools.tool(access="write", destructive=False)
async def stream_add(
    deps: Deps,
    key: Key,
    fields: Annotated[list[FieldValue], Field(description="The entry's fields, in order.")],
    max_length: Annotated[int | None, Field(ge=1, description="Trim to about this many entries.")] = None,
) -> Reply:
    """Append an entry to a stream (created if missing); returns the new entry id."""
    return reply_of(await ops.stream_add(deps.store, key, by_name(fields, "Field"), max_length=max_length))


@tools.tool(access="write", destructive=False, idempotent=True)
async def stream_ack(
    deps: Deps,
    key: Key,
    group: Annotated[str, Field(description="Consumer group name.")],
    ids: Annotated[list[str], Field(description="Entry ids to acknowledge.")],
) -> Reply:
    """Acknowledge stream entries for a consumer group; returns how many were pending."""
    return reply_of(await ops.stream_ack(deps.store, key, group, ids))
