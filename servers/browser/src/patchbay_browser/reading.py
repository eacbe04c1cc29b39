"""The reading toolset: the page as a snapshot or a screenshot, waits, console and network listings.

A snapshot window is cut from the sanitized snapshot text (what the model is shown), so its offsets stay
exact whatever the page holds, and it is sized so that the header, the frame and our note fit the answer's
budget along with it: the layer never has to cut it again, and the offset in the marker is the one to use.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Image
from pydantic import Field

from patchbay_browser import actions
from patchbay_browser.deps import Deps
from patchbay_common.limits import cap_text, truncation_marker
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_common.untrusted import sanitize

tools = Toolset("reading", "Read the selected tab: snapshot, screenshot, waits, console and network.")

SNAPSHOT = "page snapshot"
CONSOLE = "browser console"
NETWORK = "network requests"
SCREENSHOT = "page screenshot"


@tools.tool(open_world=True, untrusted=SNAPSHOT, structured_output=False)
async def snapshot(
    deps: Deps,
    ctx: Context[Any, Any],
    ref: Annotated[
        str | None,
        Field(max_length=40, description="Show only the subtree of this element or section ref."),
    ] = None,
    changes_only: Annotated[
        bool, Field(description="Return only the lines added (+) or removed (-) since the last snapshot.")
    ] = False,
    full_text: Annotated[
        bool, Field(description="Show long runs of text in full instead of shortened.")
    ] = False,
    offset: Annotated[int, Field(ge=0, description="Character offset to read on from after a cut.")] = 0,
    max_chars: Annotated[int, Field(ge=100, le=1_000_000, description="Most characters to return.")] = 25_000,
) -> Reply:
    """Return the selected tab's accessibility tree as compact indented text.

    Each line is a role, a quoted name, states such as [checked], and a ref such as [e12] on elements
    the action tools accept (and on sections, for `ref`); links end with -> URL. Long text is shortened
    with ...(+N chars) unless full_text is set. Output beyond max_chars is cut with a marker giving the
    offset to continue from.
    """
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        text, header, notes = await actions.snapshot(
            session,
            tab,
            ref=ref,
            changes_only=changes_only,
            text_limit=None if full_text else deps.snapshot_text_chars,
        )
    header = sanitize(header)
    window = cap_text(sanitize(text), min(max_chars, deps.room(SNAPSHOT, len(header) + 1)), offset)
    if window.truncated:
        shown = f"characters {window.start}-{window.end} of {window.total_chars}"
        how = f"call snapshot again with offset={window.end} to read on, or pass ref to narrow it"
        notes.append(truncation_marker(shown, how))
    body = window.text or ("" if changes_only else "(empty)")
    return Reply(f"{header}\n{body}" if body else header, note="\n".join(notes))


@tools.tool(open_world=True, untrusted=SCREENSHOT, structured_output=False)
async def screenshot(
    deps: Deps,
    ctx: Context[Any, Any],
    ref: Annotated[str | None, Field(max_length=40, description="Capture only this element.")] = None,
    full_page: Annotated[bool, Field(description="Capture the whole scrollable page.")] = False,
    format: Annotated[Literal["png", "jpeg"], Field(description="Image format.")] = "png",
    name: Annotated[
        str | None,
        Field(
            max_length=80,
            pattern=r"^[A-Za-z0-9._-]+$",
            description="Name to keep it under as screenshot://NAME.",
        ),
    ] = None,
) -> list[Any]:
    """Capture the viewport, the full page or one element as an image; also kept as screenshot://NAME."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        shot = await actions.screenshot(session, tab, ref, full_page, format, name, deps.max_image_bytes)
    url = actions.short(tab.page.url, actions.URL_CHARS)
    # A Reply cannot carry an image, so the layer frames this whole text block (it names the page's URL).
    note = f"Screenshot {shot.name} ({shot.mime}, {len(shot.data)} bytes{shot.note}) of {url}"
    return [note, Image(data=shot.data, format=shot.mime.split("/")[1])]


@tools.tool(open_world=True, structured_output=False)
async def wait_for(
    deps: Deps,
    ctx: Context[Any, Any],
    text: Annotated[str | None, Field(max_length=500, description="Wait until this text is visible.")] = None,
    text_gone: Annotated[
        str | None, Field(max_length=500, description="Wait until this text is no longer visible.")
    ] = None,
    selector: Annotated[
        str | None,
        Field(max_length=500, description="Wait until this CSS selector matches a visible element."),
    ] = None,
    seconds: Annotated[float, Field(gt=0, le=60, description="Most seconds to wait.")] = 10.0,
) -> str:
    """Wait for text or an element to appear, or text to disappear, in the selected tab."""
    async with deps.session(ctx) as session:
        return await actions.wait_for(session, await session.ensure_tab(), text, text_gone, selector, seconds)


@tools.tool(untrusted=CONSOLE, structured_output=False)
async def console_messages(
    deps: Deps,
    ctx: Context[Any, Any],
    last: Annotated[int, Field(ge=1, le=500, description="How many of the latest messages to return.")] = 50,
) -> Reply:
    """Return the latest console messages and page errors of this session, oldest first."""
    async with deps.session(ctx) as session:
        lines = list(session.console)[-last:]
    if not lines:
        return Reply("", note="No console messages yet.")
    body, marker = actions.fit_lines(
        lines,
        deps.room(CONSOLE),
        what="messages",
        how="older ones are left out; ask for fewer with last",
        latest=True,
    )
    return Reply(body, note="\n".join(filter(None, [f"{len(lines)} message(s), oldest first.", marker])))


@tools.tool(untrusted=NETWORK, structured_output=False)
async def network_requests(
    deps: Deps,
    ctx: Context[Any, Any],
    last: Annotated[int, Field(ge=1, le=500, description="How many of the latest requests to return.")] = 100,
    failed_only: Annotated[bool, Field(description="Return only failed or blocked requests.")] = False,
) -> Reply:
    """Return the selected tab's latest requests: method, URL, resource type, status or failure."""
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        return actions.requests_text(tab, last, failed_only, deps.room(NETWORK))
