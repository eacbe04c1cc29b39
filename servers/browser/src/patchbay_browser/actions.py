"""What each tool does to a tab, as plain async functions returning what a model reads.

Playwright's exceptions are turned into `UserError`s that say what to try next; each action reports what
it changed (URL, title, a new tab, a dialog, a download, requests the egress guard refused). An answer that
carries anything the page chose (titles, URLs, dialog texts, console lines, option values, file names) is a
`Reply`: those parts in `content`, which the layer frames as untrusted data, and our own words (what was
done, counts, how to go on) in `note`, after the frame. Page strings are shortened (`short`) and listings
kept within a budget (`fit_lines`) with the shared truncation marker. Nothing here imports MCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import mimetypes
import os
import re
import time
from collections.abc import Awaitable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from patchbay_browser import snapshot as snap
from patchbay_browser.browser import STALE_REF_HINT, Session, Tab, new_name
from patchbay_browser.proxy import DENIED_HEADER
from patchbay_common import telemetry
from patchbay_common.errors import UserError
from patchbay_common.limits import cap_text, human_size, truncation_marker
from patchbay_common.results import Reply
from patchbay_common.roots import Roots
from patchbay_common.untrusted import sanitize

__all__ = [
    "HELD_SNAPSHOTS",
    "Shot",
    "Snapshot",
    "act",
    "downloads_text",
    "evaluate",
    "fit_lines",
    "handle_dialog",
    "held_snapshot",
    "history",
    "hold_snapshot",
    "navigate",
    "read_upload",
    "requests_text",
    "save_pdf",
    "screenshot",
    "select",
    "short",
    "snapshot",
    "snapshot_mode",
    "tab_index",
    "tabs_text",
    "type_text",
    "upload",
    "wait_for",
]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_SETTLE_SECONDS = 0.15
_NET_ERROR = re.compile(r"net::(ERR_[A-Z_]+)")
TITLE_CHARS = 300
"""A page title longer than this is shortened in reports (snapshot headers, tab lists, page lines)."""
URL_CHARS = 1_000
"""A URL longer than this is shortened in reports."""
MESSAGE_CHARS = 1_000
"""A dialog message longer than this is shortened."""
LINE_CHARS = 1_000
"""One console, request or download line longer than this is shortened."""
_MAX_DOWNLOAD_LINES = 10


def short(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and how many more there were."""
    return text if len(text) <= limit else f"{text[:limit]}...(+{len(text) - limit} chars)"


def fit_lines(
    lines: Sequence[str], budget: int, *, what: str, how: str, latest: bool = False
) -> tuple[str, str]:
    """The lines that fit in `budget` characters (the last ones when `latest`), and a marker when cut."""
    kept: list[str] = []
    used = 0
    for line in reversed(lines) if latest else lines:
        line = short(line, LINE_CHARS)
        if kept and used + len(line) + 1 > budget:
            break
        kept.append(line[:budget])
        used += len(line) + 1
    if latest:
        kept.reverse()
    if len(kept) == len(lines):
        return "\n".join(kept), ""
    which = f"the latest {len(kept)}" if latest else f"the first {len(kept)}"
    return "\n".join(kept), truncation_marker(f"{which} of {len(lines)} {what}", how)


def _reply(world: Sequence[str], ours: Sequence[str]) -> Reply:
    """A `Reply` of page-chosen lines (framed by the layer) and our own lines (after the frame)."""
    return Reply("\n".join(w for w in world if w), note="\n".join(o for o in ours if o))


def friendly(exc: BaseException, doing: str) -> UserError:
    """A Playwright error as a `UserError` a model can act on."""
    if isinstance(exc, UserError):
        return exc
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    first = re.sub(r"^\w+(\.\w+)?: ", "", first)[:300]
    if "Timeout" in type(exc).__name__ or "Timeout" in first:
        if doing.startswith("Opening"):
            return UserError(
                f"{doing} timed out: {first}",
                hint="The page did not finish loading: it may be slow, or a script on it may keep it busy. "
                "Take a snapshot to see what loaded, or close the tab (close_tab) if it does not answer.",
            )
        return UserError(
            f"{doing} timed out: {first}",
            hint="The element may be hidden, disabled or covered, or a script may keep the page busy: take "
            "a snapshot, wait_for the content, or try another ref.",
        )
    net = _NET_ERROR.search(text)
    if net is not None:
        code = net.group(1)
        hint = "Check the URL; the site may be down or unreachable from here."
        if code in ("ERR_TUNNEL_CONNECTION_FAILED", "ERR_BLOCKED_BY_CLIENT", "ERR_ACCESS_DENIED"):
            hint = (
                "The egress guard or the scheme check refused it; the operator controls "
                "--allow-private, --allow-host and --block-host."
            )
        return UserError(f"{doing} failed: {code}.", hint=hint)
    if "Target page, context or browser has been closed" in text or "has been closed" in text:
        return UserError(f"{doing} failed: the tab was closed.", hint="List the tabs with list_tabs.")
    return UserError(f"{doing} failed: {first}", hint="Take a snapshot to see the page as it is now.")


async def _title(tab: Tab) -> str:
    try:
        return await asyncio.wait_for(tab.page.title(), 2.0)
    except Exception:
        return ""


async def _state(tab: Tab) -> tuple[str, str]:
    return tab.page.url, await _title(tab)


def _page_lines(url: str, title: str) -> list[str]:
    return [f"URL: {short(url, URL_CHARS)}", f"Title: {short(title, TITLE_CHARS)}"]


# --- navigation --------------------------------------------------------------------------------------------


async def navigate(session: Session, tab: Tab, url: str, wait_until: str) -> Reply:
    """Open `url` in `tab`; the final URL, status and title (or why it failed)."""
    assert session.browser.proxy is not None
    since = time.monotonic()

    async def go() -> Any:
        with telemetry.span("browser.navigate", **{"url.scheme": url.partition(":")[0][:16]}):  # when --otel
            return await tab.page.goto(url, wait_until=wait_until)  # type: ignore[arg-type]

    response: Any = None
    try:
        task: Awaitable[Any] = go()
        holder: dict[str, Any] = {}

        async def run() -> None:
            holder["response"] = await task

        finished = await session.run(tab, run())
        response = holder.get("response")
    except Exception as exc:
        refused = session.browser.denials_since(since)
        if refused:
            raise UserError(
                f"The browser refused to reach {refused[0]}",
                hint="Only hosts the operator allows can be opened.",
            ) from None
        raise friendly(exc, f"Opening {url}") from None
    if not finished:
        return _dialog_note(tab, f"Opening {url}: the page opened a dialog while loading.")
    if response is not None and response.headers.get(DENIED_HEADER.lower()) == "denied":
        reason = await response.text()
        raise UserError(
            reason.removeprefix("patchbay egress guard: "),
            hint="Only hosts the operator allows can be opened.",
        )
    status = f"HTTP {response.status}" if response is not None else "no response (same-document navigation)"
    final, title = await _state(tab)
    world = [f"Navigated to {short(final, URL_CHARS)} ({status}).", f"Title: {short(title, TITLE_CHARS)}"]
    blocked = session.browser.denials_since(since)
    if blocked:
        world.append(
            f"The egress guard refused {len(blocked)} request(s) of this page, e.g. {short(blocked[0], 300)}"
        )
    return _reply(world, [])


async def history(session: Session, tab: Tab, *, back: bool) -> Reply:
    """Go back or forward; the URL and title now shown."""
    where = "back" if back else "forward"
    try:
        response = await (tab.page.go_back() if back else tab.page.go_forward())
    except Exception as exc:
        raise friendly(exc, f"Going {where}") from None
    url, title = await _state(tab)
    if response is None and url in ("about:blank", ""):
        return _reply([], [f"There is no page to go {where} to; the tab shows {url or 'nothing'}."])
    return _reply(_page_lines(url, title), [f"Went {where}."])


# --- reading -----------------------------------------------------------------------------------------------


HELD_SNAPSHOTS = 8
"""Snapshots held per tab, one per client connection paging through it (the latest connections)."""
HELD_CHARS = 5_000_000
"""A snapshot longer than this is not held: each window renders the page again."""


@dataclass(frozen=True)
class Snapshot:
    """One rendering of a tab that a client reads in windows, and what tells whether it is still current.

    `text` and `header` are sanitized (what the model is shown), so window offsets index the text as
    shown. `version` is a digest of the text and of what was asked (`mode`): a cursor carries it, and a
    later rendering with another digest means the page changed. `state` (URL, element count, text length,
    viewport) and `generation` (what tools did to the tab) tell, without rendering again, that it did not.
    """

    text: str
    header: str
    url: str
    notes: tuple[str, ...]
    mode: Mode
    version: str
    sections: int
    state: tuple[Any, ...] | None
    generation: int


Mode = tuple[str, bool, bool, bool]
"""What a snapshot call asked for: (ref or "", changes_only, full_text, outline)."""


def snapshot_mode(ref: str | None, changes_only: bool, full_text: bool, outline: bool) -> Mode:
    """What a snapshot call asked for, as held and as carried in its cursor."""
    return (ref or "", changes_only, full_text, outline)


async def snapshot(session: Session, tab: Tab, mode: Mode, text_limit: int) -> Snapshot:
    """Render `tab` for `mode` (a subtree or section by ref, the changes, the outline, or all of it).

    The header (URL and title) is the page's; the notes (which subtree, what is compared) are ours. A
    ref on a heading gives its section: the heading and what follows it up to the next heading of the
    same or a higher level; a ref on a landmark gives the landmark; any other ref its subtree.
    """
    ref, changes_only, full_text, outline = mode
    try:
        tree = await session.snapshot_tree(tab)
    except UserError:
        raise
    except Exception as exc:
        raise friendly(exc, "Taking the snapshot") from None
    state, page_text = await session.page_state(tab, with_text=True)
    tab.renders += 1
    generation = tab.generation
    url, title = tab.page.url, await _title(tab)
    header = (
        f"URL: {short(url, URL_CHARS)}\nTitle: {json.dumps(short(title, TITLE_CHARS), ensure_ascii=False)}"
    )
    limit = None if full_text else text_limit
    # Rendering and comparing snapshots of large pages is CPU work: off the event loop.
    whole = await asyncio.to_thread(
        snap.rendering, tree, text_limit=limit, prefix=tab.ref_prefix, page_text=page_text
    )
    notes: list[str] = []
    text = whole.text
    if ref:
        found = snap.find_ref(tree, snap.full_ref(ref, tab.ref_prefix))
        if found is None:
            raise UserError(f"No element has the ref {ref} on the current page.", hint=STALE_REF_HINT)
        entry = next((e for e in whole.entries if e.ref == ref), None)
        if entry is not None and entry.role == "heading":
            text = whole.section(entry)
            notes.append(f"Section of {ref}: the heading and what follows it up to the next of its level.")
        elif entry is not None:
            text = whole.section(entry)
            notes.append(f"Subtree of {ref}.")
        else:
            text = await asyncio.to_thread(
                snap.render, found, text_limit=limit, prefix=tab.ref_prefix, page_text=page_text
            )
            notes.append(f"Subtree of {ref}.")
        if changes_only:
            notes.append("changes_only compares whole pages; showing the part in full.")
    elif outline:
        text = snap.outline(whole)
        if whole.entries:
            notes.append(
                f"Outline: {len(whole.entries)} headings and landmarks with the characters of each section "
                f"(the whole snapshot: {len(whole.text):,}); snapshot(ref=...) returns one section."
            )
        else:
            notes.append("This page has no headings or landmarks to outline; take the snapshot without it.")
    else:
        previous, previous_url = tab.last_snapshot, tab.last_snapshot_url
        tab.last_snapshot, tab.last_snapshot_url = whole.text, url
        if changes_only:
            if previous is None:
                notes.append("No earlier snapshot of this tab to compare with; showing it in full.")
            elif previous_url != url:
                notes.append("The page's URL changed since the last snapshot; showing it in full.")
            else:
                text = await asyncio.to_thread(snap.diff_lines, previous, whole.text)
                if text:
                    notes.append("Changes since the last snapshot: lines added (+) and removed (-).")
                else:
                    notes.append("(no change since the last snapshot)")
    shown = sanitize(text)
    digest = hashlib.sha256(f"{mode!r}\0{shown}".encode()).hexdigest()[:16]
    return Snapshot(
        text=shown,
        header=sanitize(header),
        url=sanitize(short(url, URL_CHARS)),
        notes=tuple(notes),
        mode=mode,
        version=digest,
        sections=len(whole.entries),
        state=tuple(state) if state is not None else None,
        generation=generation,
    )


async def held_snapshot(
    session: Session, tab: Tab, key: Hashable, mode: Mode, version: str
) -> Snapshot | None:
    """The snapshot this connection is paging through, when it is still what the page shows."""
    held: Snapshot | None = tab.snapshots.get(key)
    if held is None or held.mode != mode or held.version != version or held.generation != tab.generation:
        return None
    state, _ = await session.page_state(tab, with_text=False)
    if state is None or tuple(state) != held.state or held.generation != tab.generation:
        return None
    return held


def hold_snapshot(tab: Tab, key: Hashable, held: Snapshot) -> None:
    """Keep `held` for this connection's next windows (a few connections per tab, the latest)."""
    tab.snapshots.pop(key, None)
    if len(held.text) > HELD_CHARS or held.state is None:
        return
    tab.snapshots[key] = held
    while len(tab.snapshots) > HELD_SNAPSHOTS:
        tab.snapshots.popitem(last=False)


@dataclass(frozen=True)
class Shot:
    """A screenshot: its bytes, MIME type, name, and a note when it was re-encoded to fit."""

    data: bytes
    mime: str
    name: str
    note: str = ""


async def screenshot(
    session: Session, tab: Tab, ref: str | None, full_page: bool, fmt: str, name: str | None, max_bytes: int
) -> Shot:
    """A screenshot within `max_bytes`: an image too large is re-encoded as JPEG (quality 70, then 40).

    Each capture of a tall page costs time, so the second re-encoding is tried only when the first came
    within twice the limit.
    """
    target: Any = await session.require(tab, ref) if ref else tab.page
    options: dict[str, Any] = {} if ref else {"full_page": full_page}
    note = ""
    try:
        data = await target.screenshot(type=fmt, **options, **({"quality": 80} if fmt == "jpeg" else {}))
        mime = f"image/{fmt}"
        for quality in (70, 40):
            if len(data) <= max_bytes or (quality == 40 and len(data) > 2 * max_bytes):
                break
            data = await target.screenshot(type="jpeg", quality=quality, **options)
            mime = "image/jpeg"
            note = f", re-encoded as JPEG quality {quality} to fit {max_bytes // 1024} KB"
    except UserError:
        raise
    except Exception as exc:
        raise friendly(exc, "Taking the screenshot") from None
    if len(data) > max_bytes:
        raise UserError(
            f"The screenshot is {len(data) // 1024} KB even as JPEG, over the {max_bytes // 1024} KB limit.",
            hint="Capture one element (ref), the viewport instead of full_page, or resize the viewport.",
        )
    shot = Shot(data, mime, name or new_name("shot"), note)
    session.remember_screenshot(shot.name, data, mime)
    return shot


async def wait_for(
    session: Session, tab: Tab, text: str | None, text_gone: str | None, selector: str | None, seconds: float
) -> str:
    """Wait for text, a selector, or text to vanish; say which happened."""
    if not (text or text_gone or selector):
        raise UserError("Nothing to wait for.", hint="Give text, text_gone or selector.")
    page = tab.page
    timeout = seconds * 1000
    try:
        if text:
            await page.get_by_text(text).first.wait_for(state="visible", timeout=timeout)
        if text_gone:
            await page.get_by_text(text_gone).first.wait_for(state="hidden", timeout=timeout)
        if selector:
            await page.locator(selector).first.wait_for(state="visible", timeout=timeout)
    except Exception as exc:
        raise UserError(
            f"Waited {seconds:g} s; the condition did not come true ({str(exc).splitlines()[0][:200]}).",
            hint="Take a snapshot to see the page as it is now.",
        ) from None
    done = [f"text {text!r} is visible" if text else "", f"text {text_gone!r} is gone" if text_gone else ""]
    done.append(f"selector {selector!r} matches" if selector else "")
    return "Done: " + "; ".join(part for part in done if part) + "."


def requests_text(tab: Tab, last: int, failed_only: bool, max_chars: int) -> Reply:
    """The latest requests of `tab`, one per line, the newest that fit in `max_chars`."""
    records = [r for r in tab.requests if not failed_only or r.failure or (r.status or 0) >= 400]
    records = records[-last:]
    if not records:
        return _reply([], ["No failed requests." if failed_only else "No requests yet."])
    lines = []
    for record in records:
        outcome = record.failure or (str(record.status) if record.status is not None else "pending")
        lines.append(f"{record.method} {short(record.url, URL_CHARS)} [{record.kind}] -> {outcome}")
    body, marker = fit_lines(
        lines, max_chars, what="requests", how="older ones are left out; ask for fewer with last", latest=True
    )
    return _reply([body], [f"{len(lines)} request(s), oldest first.", marker])


# --- acting ------------------------------------------------------------------------------------------------


def _dialog_note(tab: Tab, prefix: str) -> Reply:
    dialog = tab.dialog
    assert dialog is not None
    default = f", default answer {short(dialog.default_value, 200)!r}" if dialog.type == "prompt" else ""
    return _reply(
        [f"A {dialog.type} dialog is open{default}:", short(dialog.message, MESSAGE_CHARS)],
        [prefix, "The page waits for the dialog above; answer it with handle_dialog."],
    )


async def act(session: Session, tab: Tab, action: Awaitable[Any], done: str, doing: str) -> Reply:
    """Run an action on `tab` and report what changed: URL, title, tabs, dialog, downloads, refusals."""
    before_url = tab.page.url
    before_downloads = len(session.downloads)
    since = time.monotonic()

    async def run() -> None:
        await action

    session.tab_opened.clear()
    try:
        finished = await session.run(tab, run())
    except UserError:
        raise
    except Exception as exc:
        raise friendly(exc, doing) from None
    if not finished:
        return _dialog_note(tab, f"{done}.")
    # A popup or a navigation the action started shows up a moment after the input event.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(session.tab_opened.wait(), _SETTLE_SECONDS)
    ours = [f"{done}."]
    lines: list[str] = []
    with_page = tab.page if not tab.page.is_closed() else None
    if with_page is not None and with_page.url != before_url:
        with contextlib.suppress(Exception):  # a slow page still gets its URL reported
            await with_page.wait_for_load_state(
                "domcontentloaded", timeout=session.browser.options.navigation_timeout * 1000
            )
        url, title = await _state(tab)
        lines.append(f"The page is now {short(url, URL_CHARS)}.")
        lines.append(f"Title: {short(title, TITLE_CHARS)}")
    if session.unreported_tabs and session.tabs:
        # A popup slower than the settle time is told by the next action's reply rather than lost.
        count = session.unreported_tabs
        opened = "A new tab opened" if count == 1 else f"{count} new tabs opened"
        ours.append(f"{opened}; the newest is selected (list_tabs shows all).")
        lines.append(f"New tab: {short(session.tab.page.url, URL_CHARS)}")
        session.unreported_tabs = 0
    if len(session.downloads) > before_downloads:
        started = session.downloads[before_downloads:]
        for record in started[:_MAX_DOWNLOAD_LINES]:
            try:
                await asyncio.wait_for(record.done.wait(), session.browser.options.navigation_timeout)
            except TimeoutError:
                lines.append(f"A download of {record.name} started and is still running.")
                continue
            lines.append(_download_line(record))
        if len(started) > _MAX_DOWNLOAD_LINES:
            ours.append(f"{len(started)} downloads started; list_downloads shows them all.")
    blocked = session.browser.denials_since(since)
    if blocked:
        lines.append(f"The egress guard refused {len(blocked)} request(s), e.g. {short(blocked[0], 300)}")
    return _reply(lines, ours)


async def type_text(session: Session, tab: Tab, locator: Any, text: str, submit: bool) -> Reply:
    """Type `text` key by key into `locator` (or the focused element), then Enter when `submit`."""

    async def typing() -> None:
        if locator is not None:
            await locator.press_sequentially(text)
            if submit:
                await locator.press("Enter")
        else:
            await tab.page.keyboard.type(text)
            if submit:
                await tab.page.keyboard.press("Enter")

    suffix = " and pressed Enter" if submit else ""
    return await act(session, tab, typing(), f"Typed {len(text)} characters{suffix}", "Typing")


async def select(session: Session, tab: Tab, locator: Any, ref: str, values: list[str]) -> Reply:
    """Select options by value or label; report what is selected now."""
    try:
        options = await locator.evaluate(
            "e => e instanceof HTMLSelectElement ? Array.from(e.options).map(o => [o.value, o.label]) : null"
        )
    except Exception as exc:
        raise friendly(exc, f"Reading the options of {ref}") from None
    if options is None:
        raise UserError(
            f"{ref} is not a select element.", hint="Click a custom dropdown and its option instead."
        )
    chosen: list[str] = []
    for wanted in values:
        match = next((v for v, label in options if wanted in (v, label)), None)
        if match is None:
            shown = ", ".join(f"{label!r} ({v})" for v, label in options[:30])
            raise UserError(f"{wanted!r} is not an option of {ref}.", hint=f"Its options are: {shown}.")
        chosen.append(match)
    try:
        selected = await locator.select_option(value=chosen)
    except Exception as exc:
        raise friendly(exc, f"Selecting in {ref}") from None
    shown = ", ".join(short(value, 200) for value in selected[:100])
    return _reply([f"Selected {shown} in {ref}."], [])


async def handle_dialog(session: Session, tab: Tab, accept: bool, prompt_text: str | None) -> Reply:
    """Accept or dismiss the open dialog, then let the action it held finish."""
    dialog = tab.dialog
    if dialog is None:
        raise UserError(
            "No dialog is open on the selected tab.", hint="Nothing to do; take a snapshot to go on."
        )
    kind, message = dialog.type, dialog.message
    tab.dialog = None
    tab.touched()
    try:
        if accept:
            await dialog.accept(prompt_text) if prompt_text is not None else await dialog.accept()
        else:
            await dialog.dismiss()
    except Exception as exc:
        raise friendly(exc, "Answering the dialog") from None
    if tab.background:
        await asyncio.wait(set(tab.background), timeout=1.0)
    verb = "Accepted" if accept else "Dismissed"
    url, title = await _state(tab) if not tab.page.is_closed() else ("(closed)", "")
    return _reply(
        [f"The dialog said: {short(message, 200)}", *_page_lines(url, title)], [f"{verb} the {kind} dialog."]
    )


# --- tabs --------------------------------------------------------------------------------------------------


def tab_index(session: Session, index: int) -> None:
    """Refuse an index that names no tab."""
    if not 0 <= index < len(session.tabs):
        raise UserError(
            f"There is no tab {index}; this session has {len(session.tabs)}.",
            hint="List them with list_tabs.",
        )


async def tabs_text(session: Session, max_chars: int) -> Reply:
    """One line per tab: marker, index, URL, title; the first tabs that fit in `max_chars`."""
    if not session.tabs:
        return _reply([], ["No tab is open."])
    lines = []
    for index, tab in enumerate(session.tabs):
        mark = "*" if index == session.current else " "
        title = json.dumps(short(await _title(tab), 200), ensure_ascii=False)
        lines.append(f"{mark} {index}: {short(tab.page.url, 500)} {title}")
    body, marker = fit_lines(lines, max_chars, what="tabs", how="close tabs with close_tab to see the rest")
    return _reply([body], ["(* = selected)", marker])


# --- files -------------------------------------------------------------------------------------------------


def read_upload(roots: Roots, path: str) -> dict[str, Any]:
    """A file from the allowed upload directories, as Playwright's file payload."""
    data = roots.read_bytes(path, max_bytes=MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UserError(f"{path} is larger than {human_size(MAX_UPLOAD_BYTES)}; it cannot be uploaded.")
    name = os.path.basename(path.rstrip("/")) or "file"
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return {"name": name, "mimeType": mime, "buffer": data}


async def upload(session: Session, tab: Tab, locator: Any, ref: str, files: list[dict[str, Any]]) -> str:
    """Attach `files` to the file input `ref`, or to the chooser that clicking it opens."""
    names = ", ".join(f["name"] for f in files)
    try:
        is_input = await locator.evaluate("e => e instanceof HTMLInputElement && e.type === 'file'")
        if is_input:
            await locator.set_input_files(files)
        else:
            async with tab.page.expect_file_chooser() as chooser:
                await locator.click()
            await (await chooser.value).set_files(files)  # type: ignore[arg-type]
    except Exception as exc:
        raise friendly(exc, f"Uploading to {ref}") from None
    return f"Attached {names} to {ref}."


def _download_line(record: Any) -> str:
    url = short(record.url, URL_CHARS)
    if record.error:
        return f"Download of {record.name} from {url} was not saved: {short(record.error, 300)}."
    return f"Downloaded {record.name} ({human_size(record.size or 0)}) from {url} to {record.path}."


async def downloads_text(session: Session, max_chars: int) -> Reply:
    """One line per download of this session, the latest that fit in `max_chars`."""
    if not session.downloads:
        return _reply([], ["No downloads in this session."])
    lines = []
    for record in session.downloads:
        if not record.done.is_set():
            lines.append(f"{record.name} from {short(record.url, URL_CHARS)}: still downloading.")
        else:
            lines.append(_download_line(record))
    body, marker = fit_lines(
        lines, max_chars, what="downloads", how="older ones are in the downloads directory", latest=True
    )
    return _reply([body], [marker])


async def save_pdf(session: Session, tab: Tab, name: str | None) -> Reply:
    """Print `tab` to a PDF in the downloads directory; its path and size."""
    directory = session.browser.options.downloads_dir
    assert directory is not None
    try:
        data = await tab.page.pdf()
    except Exception as exc:
        raise friendly(exc, "Printing to PDF") from None
    base = name or re.sub(r"[^A-Za-z0-9._ -]+", "_", await _title(tab)).strip(" ._")[:80] or "page"
    if not base.lower().endswith(".pdf"):
        base += ".pdf"
    roots = Roots([directory])
    for attempt in range(100):
        candidate = base if attempt == 0 else base[:-4] + f" ({attempt}).pdf"
        try:
            path = roots.write_bytes(candidate, data, exclusive=True)
            break
        except UserError:
            continue
    else:
        raise UserError(
            f"Could not find a free name for {base} in the downloads directory.", hint="Give another name."
        )
    return _reply([f"Saved {short(tab.page.url, URL_CHARS)} as PDF to {path} ({human_size(len(data))})."], [])


_EVAL_WRAPPER = """async (source) => {
  const logged = [];
  const kinds = ['log', 'info', 'warn', 'error', 'debug'];
  const saved = {};
  for (const kind of kinds) {
    saved[kind] = console[kind];
    console[kind] = (...args) => {
      logged.push(`[${kind}] ` + args.map(String).join(' '));
      saved[kind](...args);
    };
  }
  try {
    let value;
    try { value = await (0, eval)(source); }
    catch (e) { if (!(e instanceof SyntaxError)) throw e; value = await (new Function(source))(); }
    let json;
    try { json = JSON.stringify(value === undefined ? null : value, null, 2); }
    catch (e) { json = String(value); }
    return { json, logged };
  } finally {
    for (const kind of kinds) console[kind] = saved[kind];
  }
}"""


async def evaluate(session: Session, tab: Tab, script: str, max_chars: int) -> Reply:
    """Run `script` in the page; its JSON result and the console lines it wrote, within `max_chars`."""
    holder: dict[str, Any] = {}

    async def run() -> None:
        holder["result"] = await tab.page.evaluate(_EVAL_WRAPPER, script)

    try:
        finished = await session.run(tab, run())
    except UserError:
        raise
    except Exception as exc:
        message = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
        raise UserError(f"The script failed: {message}", hint="Fix the script and run it again.") from None
    if not finished:
        return _dialog_note(tab, "The script opened a dialog.")
    result = holder["result"]
    body = f"Result:\n{result['json']}"
    if result["logged"]:
        body += "\n\nConsole output:\n" + "\n".join(result["logged"])
    window = cap_text(body, max_chars)
    marker = ""
    if window.truncated:
        marker = truncation_marker(
            f"characters 0-{window.end} of {window.total_chars}",
            "make the script return less (a slice, a count, selected fields)",
        )
    return _reply([window.text], [marker])
