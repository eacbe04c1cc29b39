"""The insights toolset: append_insight adds a finding to the memo (`memo://insights`) and notifies watchers.

The memo lives in server memory, not in a database, so the tool is granted in every tier (access "memo"):
it is a write (not read-only, not idempotent) that destroys nothing.

Known limitation: one memo per server process, so every client of one HTTP server shares it (and is
notified of the others' insights). Per-client memos keyed on the connection are a later issue.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from patchbay_common.toolsets import Toolset
from patchbay_sqlite.deps import MEMO, Deps
from patchbay_sqlite.memo import MEMO_URI

tools = Toolset("insights", "Record findings in the insights memo.")


@tools.tool(access=MEMO, idempotent=False)
async def append_insight(
    deps: Deps,
    insight: Annotated[str, Field(description="One finding from the data, in a sentence or two.")],
) -> str:
    """Add an insight to the memo resource memo://insights (kept in memory only); return its number."""
    count = deps.memo.add(insight)
    await deps.publish(MEMO_URI)
    return f"Insight {count} added to {MEMO_URI}."
