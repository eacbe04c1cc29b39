"""The navigation toolset: open a URL, go back and forward in the selected tab's history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_browser import actions
from patchbay_browser.deps import INTERACT, Deps
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset

tools = Toolset("navigation", "Open pages and move through a tab's history.")

PAGE = "web page"


@tools.tool(access=INTERACT, idempotent=True, open_world=True, untrusted=PAGE, structured_output=False)
async def navigate(
    deps: Deps,
    url: Annotated[str, Field(min_length=1, max_length=8000, description="The http or https URL to open.")],
    ctx: Context[Any, Any],
    wait_until: Annotated[
        Literal["load", "domcontentloaded", "networkidle", "commit"],
        Field(description="Which page event ends the navigation."),
    ] = "load",
) -> Reply:
    """Open a URL in the selected tab; return the final URL, HTTP status and page title."""
    await deps.browser.check_url(url)
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        return await actions.navigate(session, tab, url, wait_until)


@tools.tool(access=INTERACT, open_world=True, untrusted=PAGE, structured_output=False)
async def go_back(deps: Deps, ctx: Context[Any, Any]) -> Reply:
    """Go back one page in the selected tab's history; return the URL and title now shown."""
    async with deps.session(ctx) as session:
        return await actions.history(session, await session.ensure_tab(), back=True)


@tools.tool(access=INTERACT, open_world=True, untrusted=PAGE, structured_output=False)
async def go_forward(deps: Deps, ctx: Context[Any, Any]) -> Reply:
    """Go forward one page in the selected tab's history; return the URL and title now shown."""
    async with deps.session(ctx) as session:
        return await actions.history(session, await session.ensure_tab(), back=False)
