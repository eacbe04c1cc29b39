"""The reading toolset: the page as a snapshot or a screenshot, waits, console and network listings.

A snapshot is rendered once for its first window and held for the client connection that asked
(`actions.hold_snapshot`); the marker after each window carries a signed cursor with the tab, the
rendering's digest and where the next window starts. Later windows come from the held rendering while
nothing says the page changed (no tool acted on the tab, same URL, element count, text length and
viewport); otherwise the page is rendered again, and a different digest is said to be a new snapshot.
Windows are cut from the sanitized text (what the model is shown) at line ends, and sized so that the
header, the frame and our note fit the answer's budget along with them: the layer never has to cut again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Image
from pydantic import Field

from patchbay_browser import actions
from patchbay_browser import snapshot as snap
from patchbay_browser.deps import Deps, client_key
from patchbay_common.errors import UserError
from patchbay_common.limits import decode_cursor, encode_cursor, truncation_marker
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_common.untrusted import wrap_untrusted

tools = Toolset("reading", "Read the selected tab: snapshot, screenshot, waits, console and network.")

SNAPSHOT = "page snapshot"
CONSOLE = "browser console"
NETWORK = "network requests"
SCREENSHOT = "page screenshot"


@tools.tool(
    open_world=True,
    untrusted=SNAPSHOT,
    structured_output=False,
    continuation="call snapshot with ref (a section or subtree) or outline=true",
)
async def snapshot(
    deps: Deps,
    ctx: Context[Any, Any],
    ref: Annotated[
        str | None,
        Field(
            max_length=40,
            description="Show only this element's subtree, or for a heading its section (the heading and "
            "what follows up to the next heading of its level).",
        ),
    ] = None,
    changes_only: Annotated[
        bool, Field(description="Return only the lines added (+) or removed (-) since the last snapshot.")
    ] = False,
    full_text: Annotated[
        bool, Field(description="Show long runs of text in full instead of shortened.")
    ] = False,
    outline: Annotated[
        bool,
        Field(description="List the headings and landmarks with their refs and the size of each section."),
    ] = False,
    cursor: Annotated[
        str | None,
        Field(
            max_length=2000,
            description="Continue a snapshot from where the previous window ended (from its marker); the "
            "other arguments are taken from the cursor (max_chars too, unless given).",
        ),
    ] = None,
    max_chars: Annotated[
        int | None,
        Field(
            ge=1000,
            description="Most characters of snapshot text in one window; at most the server's "
            "--max-output-chars (25,000 unless the operator set it), which is also the default.",
        ),
    ] = None,
) -> Reply:
    """Return the selected tab's accessibility tree as compact indented text, in windows cut at line ends.

    Each line is a role, a quoted name, states such as [checked], and a ref such as [e12] on elements
    the action tools accept, on headings and on sections (for `ref`); links end with -> URL. A link
    inside running text carries its ref and URL after its text: word[e12 -> URL]. Text keeps the page's
    spacing and line breaks; long text is shortened with ...(+N chars) unless full_text is set. Each
    window ends with a marker giving the cursor for the next, read from the same rendering of the page.
    """
    if max_chars is not None and max_chars > deps.max_chars:
        raise UserError(
            f"max_chars {max_chars:,} is more than this server returns in one answer "
            f"({deps.max_chars:,} characters, its --max-output-chars).",
            hint=f"Pass at most {deps.max_chars:,}, or leave it out; read on with the cursor in the marker.",
        )
    state = _read_cursor(cursor) if cursor else None
    mode = (
        actions.snapshot_mode(ref, changes_only, full_text, outline)
        if state is None
        else (state["r"], state["c"], state["f"], state["l"])
    )
    # Held per user (the session's own key): a session and its tabs belong to one user.
    key = client_key(ctx)[0]
    changed = False
    async with deps.session(ctx) as session:
        tab = await session.ensure_tab()
        held = None
        if state is not None:
            if state["t"] != tab.token:
                raise UserError(
                    "That cursor continues a snapshot of another tab (or of a tab that was closed).",
                    hint="Select that tab with select_tab, or take a new snapshot of this one.",
                )
            held = await actions.held_snapshot(session, tab, key, mode, state["v"])
        if held is None:
            if state is not None and mode[1]:
                raise UserError(
                    "The listing of changes that cursor continues is no longer held: the page changed, or "
                    "this connection took another snapshot since.",
                    hint="Take the snapshot again (changes_only compares with the latest snapshot).",
                )
            held = await actions.snapshot(session, tab, mode, deps.snapshot_text_chars)
            actions.hold_snapshot(tab, key, held)
            changed = state is not None and held.version != state["v"]
    offset = state["o"] if state is not None and not changed else 0
    if max_chars is None and state is not None and state["m"]:
        max_chars = min(state["m"], deps.max_chars)  # the window size the first call asked for
    return _window(deps, held, offset, max_chars, tab.token, changed)


def _read_cursor(cursor: str) -> dict[str, Any]:
    """A snapshot cursor's state, checked field by field."""
    state = decode_cursor(cursor)
    fields = {"k": str, "t": str, "v": str, "o": int, "m": int, "r": str, "c": bool, "f": bool, "l": bool}
    wrong = [name for name, kind in fields.items() if type(state.get(name)) is not kind]
    if state.get("k") != "snapshot" or wrong:
        raise UserError(
            "That cursor is not a snapshot cursor.", hint="Pass the cursor from a snapshot marker unchanged."
        )
    if state["o"] < 0 or state["m"] < 0 or len(state["r"]) > 40:
        raise UserError("That cursor is not valid.", hint="Take a new snapshot.")
    return state


def _window(
    deps: Deps, held: actions.Snapshot, offset: int, max_chars: int | None, tab: str, changed: bool
) -> Reply:
    """The window of `held` from `offset`: header, text cut at a line end, and the marker with the cursor."""
    text = held.text
    if offset and offset >= len(text):
        raise UserError(
            f"That cursor points past the end of the snapshot ({len(text):,} characters).",
            hint="There is no more to read; take a new snapshot for the page as it is now.",
        )
    first = offset == 0
    header = held.header if first else f"URL: {held.url} (continued)"
    notes = list(held.notes) if first else []
    if changed:
        notes.insert(0, "The page changed since the earlier window: this is a new snapshot, from its start.")

    def marker(start: int, end: int) -> str:
        state = {
            "k": "snapshot",
            "t": tab,
            "v": held.version,
            "o": end,
            "m": max_chars or 0,
            "r": held.mode[0],
        }
        state.update(c=held.mode[1], f=held.mode[2], l=held.mode[3])
        how = f"call snapshot with cursor={encode_cursor(state)} to read on"
        if held.sections and not held.mode[0] and not held.mode[3]:
            how += ", or outline=true to pick a section by ref"
        lines_left = text.count("\n", end) + 1
        shown = f"characters {start}-{end} of {len(text)} ({lines_left:,} lines left)"
        return truncation_marker(shown, how)

    frame = len(wrap_untrusted("", SNAPSHOT))
    note_room = len("\n".join([*notes, marker(len(text), len(text))])) + 1
    budget = deps.max_chars - frame - len(header) - 1 - note_room - 8
    if max_chars is not None:
        budget = min(budget, max_chars)
    end = snap.cut_window(text, offset, max(200, budget))
    body = text[offset:end].removesuffix("\n")
    if end < len(text):
        notes.append(marker(offset, end))
    if not body and not first:
        body = "(empty)"
    if not text and first and not held.mode[1]:
        body = "(empty)"
    content = f"{header}\n{body}" if body else header
    return Reply(content, note="\n".join(notes))


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
