"""The pubsub toolset: active channels and (write tier) publishing.

Channels are also resources (`redis://channel/<name>`, see `resources`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, reply_of

tools = Toolset("pubsub", "See and publish on pub/sub channels.")


@tools.tool(untrusted="redis pub/sub channels")
async def pubsub_channels(
    deps: Deps, pattern: Annotated[str, Field(description="Glob for channel names.")] = "*"
) -> Reply:
    """Return active channels and subscriber counts; each is the resource redis://channel/<name>."""

    async def read(chars: int) -> dict[str, Any]:
        return await ops.pubsub_channels(deps.store, pattern, max_chars=chars)

    return await deps.fitted(read, "redis pub/sub channels")


@tools.tool(access="write", destructive=False)
async def publish(
    deps: Deps,
    channel: Annotated[str, Field(description="Channel name.")],
    message: Annotated[str, Field(description="Message text.")],
) -> Reply:
    """Publish a message on a channel; returns how many subscribers received it."""
    return reply_of(await ops.publish(deps.store, channel, message))
