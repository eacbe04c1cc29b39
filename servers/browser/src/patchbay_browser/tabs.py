"""The tabs toolset: list, open, select and close this session's tabs (titles and URLs are framed)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_browser import actions
from patchbay_browser.deps import INTERACT, Deps
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset

tools = Toolset("tabs", "Work with this session's tabs.")

TABS = "browser tabs"


@tools.tool(untrusted=TABS, structured_output=False)
async def list_tabs(deps: Deps, ctx: Context[Any, Any]) -> Reply:
    """List this session's tabs: index, URL and title, marking the selected one."""
    async with deps.session(ctx) as session:
        return await actions.tabs_text(session, deps.room(TABS))


@tools.tool(access=INTERACT, open_world=True, untrusted=TABS, structured_output=False)
async def new_tab(
    deps: Deps,
    ctx: Context[Any, Any],
    url: Annotated[
        str | None, Field(max_length=8000, description="URL to open in it (default: blank).")
    ] = None,
) -> Reply:
    """Open a new tab, select it, and optionally navigate it; return the tab list."""
    if url:
        await deps.browser.check_url(url)
    async with deps.session(ctx) as session:
        tab = await session.open_tab()
        opened = await actions.navigate(session, tab, url, "load") if url else Reply("")
        listing = await actions.tabs_text(session, deps.room(TABS, len(opened.content) + len(opened.note)))
        return Reply(
            "\n".join(filter(None, [opened.content, listing.content])),
            note="\n".join(filter(None, [opened.note, listing.note])),
        )


@tools.tool(access=INTERACT, idempotent=True, untrusted=TABS, structured_output=False)
async def select_tab(
    deps: Deps,
    index: Annotated[int, Field(ge=0, description="Index of the tab, as list_tabs shows it.")],
    ctx: Context[Any, Any],
) -> Reply:
    """Select the tab at `index` for the following tools; return the tab list."""
    async with deps.session(ctx) as session:
        actions.tab_index(session, index)
        session.current = index
        await session.tabs[index].page.bring_to_front()
        return await actions.tabs_text(session, deps.room(TABS))


@tools.tool(access=INTERACT, destructive=True, untrusted=TABS, structured_output=False)
async def close_tab(
    deps: Deps,
    ctx: Context[Any, Any],
    index: Annotated[
        int | None, Field(ge=0, description="Index of the tab to close (default: the selected one).")
    ] = None,
) -> Reply:
    """Close a tab (the selected one by default); return the remaining tabs."""
    async with deps.session(ctx) as session:
        target = session.current if index is None else index
        actions.tab_index(session, target)
        await session.tabs[target].page.close()
        return await actions.tabs_text(session, deps.room(TABS))
