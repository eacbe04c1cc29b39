"""The navigation toolset: open a URL, go back and forward in the selected tab's history."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

import anyio
from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_browser import actions
from patchbay_browser.deps import INTERACT, Deps
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset

tools = Toolset("navigation", "Open pages and move through a tab's history.")

PAGE = "web page"
T = TypeVar("T")


async def _stop_loading(page: Any) -> None:
    """Abort what `page` is loading (CDP `Page.stopLoading`; `window.stop()` where CDP is unavailable)."""
    try:
        cdp = await page.context.new_cdp_session(page)
        try:
            await cdp.send("Page.stopLoading")
        finally:
            with contextlib.suppress(Exception):
                await cdp.detach()
    except Exception:
        with contextlib.suppress(Exception):
            await page.evaluate("window.stop()")


async def _aborted_with_the_call(page: Any, work: Awaitable[T]) -> T:
    """Await a navigation; when the call ends first (cancelled, timed out, client gone), abort it in the tab.

    Cancelling Playwright's `goto` only stops the wait: the browser would go on loading the page (and
    running its scripts) after the call ended, so the tab is told to stop loading.
    """
    try:
        return await work
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await _stop_loading(page)
        raise


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
        return await _aborted_with_the_call(tab.page, actions.navigate(session, tab, url, wait_until))


@tools.tool(access=INTERACT, open_world=True, untrusted=PAGE, structured_output=False)
async def go_back(deps: Deps, ctx: Context[Any, Any]) -> Reply:
    """Go back one page in the selected tab's history; return the URL and title now shown."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        return await _aborted_with_the_call(tab.page, actions.history(session, tab, back=True))


@tools.tool(access=INTERACT, open_world=True, untrusted=PAGE, structured_output=False)
async def go_forward(deps: Deps, ctx: Context[Any, Any]) -> Reply:
    """Go forward one page in the selected tab's history; return the URL and title now shown."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        return await _aborted_with_the_call(tab.page, actions.history(session, tab, back=False))
