"""The server toolset: INFO, the slow log, connected clients and latency events (all read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, short

tools = Toolset("server", "Inspect the Redis server: INFO, slow log, clients, latency.")


@tools.tool(untrusted="redis info")
async def server_info(
    deps: Deps,
    section: Annotated[
        str, Field(description="INFO section: server, clients, memory, stats, replication, keyspace, ...")
    ] = "default",
) -> Reply:
    """Return one INFO section of the Redis server and the number of keys in the database."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.server_info(deps.store, section, max_chars=chars)

    return await deps.fitted(read, f"redis info {short(section)}")


@tools.tool(untrusted="redis slowlog")
async def slowlog(deps: Deps, count: Annotated[int, Field(ge=1, le=128)] = 20) -> Reply:
    """Return the slowest recent commands recorded by Redis, with durations in microseconds."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.slowlog(deps.store, count, max_chars=chars)

    return await deps.fitted(read, "redis slowlog")


@tools.tool(untrusted="redis client list")
async def client_list(deps: Deps) -> Reply:
    """Return the connected clients: name, user, database, idle time, last command (no addresses)."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.client_list(deps.store, max_chars=chars)

    return await deps.fitted(read, "redis client list")


@tools.tool(untrusted="redis latency")
async def latency(deps: Deps) -> Reply:
    """Return latency spikes recorded by Redis and its LATENCY DOCTOR report."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.latency(deps.store, max_chars=chars)

    return await deps.fitted(read, "redis latency")
