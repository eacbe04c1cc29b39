"""The admin toolset: one raw-command tool, registered only with `--access admin`.

It runs exactly the commands the operator allow-listed (`--allow-command`); `Store.run` refuses the rest.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_redis import ops
from patchbay_redis.deps import Deps, reply_of, short

ADMIN = "admin"
"""The access tier of raw commands (above write)."""

tools = Toolset("admin", "Run allow-listed raw commands.")


@tools.tool(access=ADMIN, destructive=True, untrusted="redis command reply")
async def command(
    deps: Deps,
    args: Annotated[
        list[str],
        Field(min_length=1, description='Command and arguments, e.g. ["CONFIG", "GET", "maxmemory"].'),
    ],
) -> Reply:
    """Run one Redis command from the operator's allow-list and return its reply."""
    # Run once, never again for a smaller page: the command may change data.
    reply = await ops.raw_command(deps.store, args, max_chars=deps.page_chars)
    return reply_of(reply, f"redis command {short(args[0], 40)}")
