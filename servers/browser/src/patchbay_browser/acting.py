"""The acting toolset: click, hover, fill, type, press keys, select options, answer dialogs, resize.

Each action reports what it changed; what the page chose (a new URL or title, a dialog's text, a download's
name) is framed as untrusted data, and what we did stays after the frame.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_browser import actions
from patchbay_browser.deps import INTERACT, Deps, OptionalRef, Ref
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset

tools = Toolset("acting", "Act on the selected tab by element ref.")

PAGE = "web page"


@tools.tool(access=INTERACT, destructive=True, open_world=True, untrusted=PAGE, structured_output=False)
async def click(
    deps: Deps,
    ref: Ref,
    ctx: Context[Any, Any],
    double: Annotated[bool, Field(description="Double-click instead of a single click.")] = False,
    button: Annotated[Literal["left", "right", "middle"], Field(description="Mouse button.")] = "left",
) -> Reply:
    """Click an element by ref; return what changed (URL, title, new tab, dialog, download)."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        locator = await session.require(tab, ref)
        act = locator.dblclick(button=button) if double else locator.click(button=button)
        return await actions.act(session, tab, act, f"Clicked {ref}", f"Clicking {ref}")


@tools.tool(access=INTERACT, idempotent=True, open_world=True, untrusted=PAGE, structured_output=False)
async def hover(deps: Deps, ref: Ref, ctx: Context[Any, Any]) -> Reply:
    """Move the mouse over an element by ref; return what changed."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        locator = await session.require(tab, ref)
        return await actions.act(session, tab, locator.hover(), f"Hovered {ref}", f"Hovering {ref}")


@tools.tool(access=INTERACT, idempotent=True, open_world=True, untrusted=PAGE, structured_output=False)
async def fill(
    deps: Deps,
    ref: Ref,
    value: Annotated[str, Field(max_length=100_000, description="The text the field should hold.")],
    ctx: Context[Any, Any],
) -> Reply:
    """Replace the text of an input, textarea or editable element by ref with `value`."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        locator = await session.require(tab, ref)
        done = f"Filled {ref} with {len(value)} characters"
        return await actions.act(session, tab, locator.fill(value), done, f"Filling {ref}")


@tools.tool(access=INTERACT, destructive=True, open_world=True, untrusted=PAGE, structured_output=False)
async def type_text(
    deps: Deps,
    text: Annotated[str, Field(max_length=10_000, description="The text to type, key by key.")],
    ctx: Context[Any, Any],
    ref: Annotated[
        str | None, Field(max_length=40, description="Element to type into (default: the focused one).")
    ] = None,
    submit: Annotated[bool, Field(description="Press Enter after typing.")] = False,
) -> Reply:
    """Type text key by key (firing key events) into an element by ref or the focused element."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        locator = await session.require(tab, ref) if ref else None
        return await actions.type_text(session, tab, locator, text, submit)


@tools.tool(access=INTERACT, destructive=True, open_world=True, untrusted=PAGE, structured_output=False)
async def press_key(
    deps: Deps,
    key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=60,
            description="A key such as Enter, Tab, ArrowDown, Escape or Control+A.",
        ),
    ],
    ctx: Context[Any, Any],
    ref: OptionalRef = None,
) -> Reply:
    """Press a key or key combination in the selected tab; return what changed."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        if ref:
            locator = await session.require(tab, ref)
            act = locator.press(key)
        else:
            act = tab.page.keyboard.press(key)
        return await actions.act(session, tab, act, f"Pressed {key}", f"Pressing {key}")


@tools.tool(access=INTERACT, idempotent=True, open_world=True, untrusted=PAGE, structured_output=False)
async def select_option(
    deps: Deps,
    ref: Ref,
    values: Annotated[
        list[str], Field(min_length=1, max_length=100, description="Option values or labels to select.")
    ],
    ctx: Context[Any, Any],
) -> Reply:
    """Select one or more options of a select element by ref; return the values now selected."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        locator = await session.require(tab, ref)
        return await actions.select(session, tab, locator, ref, values)


@tools.tool(access=INTERACT, destructive=True, open_world=True, untrusted=PAGE, structured_output=False)
async def handle_dialog(
    deps: Deps,
    accept: Annotated[bool, Field(description="Accept (OK) or dismiss (Cancel) the dialog.")],
    ctx: Context[Any, Any],
    prompt_text: Annotated[
        str | None, Field(max_length=10_000, description="Text to answer a prompt dialog with.")
    ] = None,
) -> Reply:
    """Accept or dismiss the alert, confirm, prompt or beforeunload dialog open on the selected tab."""
    async with deps.session(ctx) as session:
        return await actions.handle_dialog(session, await session.ensure_tab(), accept, prompt_text)


@tools.tool(access=INTERACT, idempotent=True, structured_output=False)
async def resize(
    deps: Deps,
    width: Annotated[int, Field(ge=200, le=7680, description="Viewport width in CSS pixels.")],
    height: Annotated[int, Field(ge=200, le=4320, description="Viewport height in CSS pixels.")],
    ctx: Context[Any, Any],
) -> str:
    """Resize the selected tab's viewport."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        await tab.page.set_viewport_size({"width": width, "height": height})
        return f"Viewport is now {width}x{height}."
