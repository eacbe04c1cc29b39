"""The keys toolset: find keys (SCAN), read values and metadata; (write tier) set, delete, expire, rename."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, Key, Keys, Limit, Page, reply_of, short

tools = Toolset("keys", "Find keys and read or change them whatever their type.")


@tools.tool(name="list", untrusted="redis keys")
async def list_keys(
    deps: Deps,
    pattern: Annotated[str, Field(description="Glob pattern (* ? [abc]); * for all keys.")] = "*",
    type: Annotated[
        Literal["string", "hash", "list", "set", "zset", "stream"] | None,
        Field(description="Only keys of this type."),
    ] = None,
    cursor: Page = None,
    limit: Limit = 100,
) -> Reply:
    """List keys matching a glob pattern a page at a time (SCAN, not KEYS); next_cursor continues."""
    async with ops.reporting(
        unit="SCAN calls", message=f"scanning keys matching {short(pattern)}"
    ) as progress:

        async def read(chars: int) -> dict[str, Any]:
            return await ops.list_keys(
                deps.store,
                pattern,
                type_=type,
                cursor=cursor,
                limit=limit,
                max_chars=chars,
                progress=progress,
            )

        return await deps.fitted(read, f"redis keys matching {short(pattern)}")


@tools.tool(untrusted="redis key")
async def get(deps: Deps, key: Key, limit: Limit = 100) -> Reply:
    """Return a key's value (any type: string, hash, list, set, zset, stream), TTL and length."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.get_value(deps.store, key, limit=limit, max_chars=chars)

    return await deps.fitted(read, f"redis key {short(key)}")


@tools.tool(untrusted="redis key metadata")
async def key_info(deps: Deps, keys: Keys) -> Reply:
    """Return, for each key, whether it exists, its type, TTL, memory use, encoding and length."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.key_info(deps.store, keys, max_chars=chars)

    return await deps.fitted(read, "redis key metadata")


@tools.tool(name="set", access="write", destructive=True, idempotent=True)
async def set_(
    deps: Deps,
    key: Key,
    value: Annotated[str, Field(description="The string value.")],
    expire_seconds: Annotated[int | None, Field(ge=1, description="Expire after this many seconds.")] = None,
    only_if: Annotated[
        Literal["absent", "present"] | None,
        Field(description="absent: only create (NX); present: only replace (XX)."),
    ] = None,
) -> Reply:
    """Set a key to a string value, with optional expiry and NX/XX; returns whether it was set."""
    return reply_of(
        await ops.set_value(deps.store, key, value, expire_seconds=expire_seconds, only_if=only_if)
    )


@tools.tool(access="write", destructive=True, idempotent=True)
async def delete(deps: Deps, keys: Annotated[list[str], Field(description="Key names to delete.")]) -> Reply:
    """Delete keys (UNLINK: memory is freed in the background); returns how many were deleted."""
    return reply_of(await ops.delete_keys(deps.store, keys))


@tools.tool(access="write", destructive=False, idempotent=True)
async def expire(
    deps: Deps,
    key: Key,
    seconds: Annotated[int | None, Field(ge=1, description="Seconds to live; null removes the expiry.")],
) -> Reply:
    """Set a key's time to live in seconds, or remove its expiry when seconds is null."""
    return reply_of(await ops.expire(deps.store, key, seconds))


@tools.tool(access="write", destructive=True)
async def rename(
    deps: Deps,
    key: Key,
    new_key: Annotated[str, Field(description="The new name.")],
    overwrite: Annotated[bool, Field(description="Replace new_key if it exists.")] = False,
) -> Reply:
    """Rename a key; refuses when new_key exists unless overwrite is true."""
    return reply_of(await ops.rename(deps.store, key, new_key, overwrite=overwrite))
