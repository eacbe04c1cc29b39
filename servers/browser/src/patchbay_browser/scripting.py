"""The scripting toolset: `evaluate`, listed only with --allow-eval."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_browser import actions
from patchbay_browser.deps import EVAL, Deps
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset

tools = Toolset("scripting", "Run JavaScript in the page (only with --allow-eval).")

RESULT = "script result"


@tools.tool(access=EVAL, destructive=True, open_world=True, untrusted=RESULT, structured_output=False)
async def evaluate(
    deps: Deps,
    script: Annotated[
        str, Field(min_length=1, max_length=100_000, description="A JavaScript expression or function body.")
    ],
    ctx: Context[Any, Any],
) -> Reply:
    """Run JavaScript in the selected tab; return its JSON result and the console output it caused."""
    async with deps.session(ctx) as session:
        return await actions.evaluate(session, await session.ensure_tab(), script, deps.room(RESULT))
