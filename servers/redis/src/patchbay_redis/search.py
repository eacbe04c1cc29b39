"""The search toolset (RediSearch; registered only when Redis has the module): indexes and queries."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, short

tools = Toolset("search", "Query search indexes (RediSearch).")


@tools.tool(untrusted="redis search indexes")
async def search_indexes(deps: Deps) -> Reply:
    """Return the search indexes (RediSearch) with their document counts."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.search_indexes(deps.store, max_chars=chars)

    return await deps.fitted(read, "redis search indexes")


@tools.tool(untrusted="redis search")
async def search(
    deps: Deps,
    index: Annotated[str, Field(description="Index name.")],
    query: Annotated[str, Field(description="RediSearch query, e.g. @title:hello.")],
    offset: Annotated[int, Field(ge=0)] = 0,
    limit: Annotated[int, Field(ge=1, le=100)] = 10,
) -> Reply:
    """Return documents of a search index matching a query, with the total count."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.search(deps.store, index, query, offset=offset, limit=limit, max_chars=chars)

    return await deps.fitted(read, f"redis search {short(index)}")
