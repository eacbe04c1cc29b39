"""The insights toolset: append_insight adds a finding to the memo (`memo://insights`) and notifies watchers.

The memo lives in server memory, not in a database, so the tool is granted in every tier (access "memo"):
it is a write (not read-only, not idempotent) that destroys nothing.

One memo per user (`memo.Memos`): the authenticated identity, else the handshake-era connection; without
authentication, 2026-era clients cannot be told apart and share one. Subscribers are told of a change to
memo://insights whoever made it (the notification carries no content: each reader reads their own memo).
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_common.toolsets import Toolset
from patchbay_sqlite.deps import MEMO, Deps
from patchbay_sqlite.memo import MEMO_URI

tools = Toolset("insights", "Record findings in the insights memo.")


@tools.tool(access=MEMO, idempotent=False)
async def append_insight(
    deps: Deps,
    insight: Annotated[str, Field(description="One finding from the data, in a sentence or two.")],
    ctx: Context[Any, Any] | None = None,
) -> str:
    """Add an insight to the memo resource memo://insights (kept in memory only); return its number."""
    count = deps.memo.get(ctx).add(insight)
    await deps.publish(MEMO_URI)
    return f"Insight {count} added to {MEMO_URI}."
