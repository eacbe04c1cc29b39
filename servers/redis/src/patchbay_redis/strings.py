"""The strings toolset: read several string values at once and (write tier) count."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, Key, Keys, reply_of

tools = Toolset("strings", "Read string values and counters.")


@tools.tool(untrusted="redis string values")
async def mget(deps: Deps, keys: Keys) -> Reply:
    """Return several string values in one round trip (null for missing keys and other types)."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.mget(deps.store, keys, max_chars=chars)

    return await deps.fitted(read, "redis string values")


@tools.tool(access="write", destructive=False)
async def incr(
    deps: Deps, key: Key, by: Annotated[float, Field(description="Amount to add (negative to subtract).")] = 1
) -> Reply:
    """Add a number to a counter key (created at 0); returns the new value."""
    return reply_of(await ops.incr(deps.store, key, int(by) if float(by).is_integer() else by))
