"""What each tool does to a tab, as plain async functions returning the text a model reads.

Playwright's exceptions are turned into `UserError`s that say what to try next; each action reports what
it changed (URL, title, a new tab, a dialog, a download, requests the egress guard refused). Nothing here
imports MCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import os
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from patchbay_browser import snapshot as snap
from patchbay_browser.browser import STALE_REF_HINT, Session, Tab, new_name
from patchbay_browser.proxy import DENIED_HEADER
from patchbay_common.errors import UserError
from patchbay_common.limits import cap_text, human_size
from patchbay_common.roots import Roots
from patchbay_common.untrusted import wrap_untrusted

__all__ = [
    "Shot",
    "act",
    "downloads_text",
    "evaluate",
    "handle_dialog",
    "history",
    "navigate",
    "read_upload",
    "requests_text",
    "save_pdf",
    "screenshot",
    "select",
    "snapshot",
    "tab_index",
    "tabs_text",
    "type_text",
    "upload",
    "wait_for",
]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_SETTLE_SECONDS = 0.15
_NET_ERROR = re.compile(r"net::(ERR_[A-Z_]+)")


def friendly(exc: BaseException, doing: str) -> UserError:
    """A Playwright error as a `UserError` a model can act on."""
    if isinstance(exc, UserError):
        return exc
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    first = re.sub(r"^\w+(\.\w+)?: ", "", first)[:300]
    if "Timeout" in type(exc).__name__ or "Timeout" in first:
        return UserError(
            f"{doing} timed out: {first}",
            hint="The element may be hidden, disabled or covered: take a snapshot, wait_for the content, "
            "or try another ref.",
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


def _page_line(url: str, title: str) -> str:
    return f"URL: {url}\n" + wrap_untrusted(f"Title: {title}", url)


# --- navigation --------------------------------------------------------------------------------------------


async def navigate(session: Session, tab: Tab, url: str, wait_until: str) -> str:
    """Open `url` in `tab`; the final URL, status and title (or why it failed)."""
    assert session.browser.proxy is not None
    since = time.monotonic()

    async def go() -> Any:
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
    lines = [f"Navigated to {final} ({status}).", _page_line(final, title)]
    blocked = session.browser.denials_since(since)
    if blocked:
        lines.append(f"The egress guard refused {len(blocked)} request(s) of this page, e.g. {blocked[0]}")
    return "\n".join(lines)


async def history(session: Session, tab: Tab, *, back: bool) -> str:
    """Go back or forward; the URL and title now shown."""
    where = "back" if back else "forward"
    try:
        response = await (tab.page.go_back() if back else tab.page.go_forward())
    except Exception as exc:
        raise friendly(exc, f"Going {where}") from None
    url, title = await _state(tab)
    if response is None and url in ("about:blank", ""):
        return f"There is no page to go {where} to; the tab shows {url or 'nothing'}."
    return f"Went {where}.\n{_page_line(url, title)}"


# --- reading -----------------------------------------------------------------------------------------------


async def snapshot(
    session: Session, tab: Tab, *, ref: str | None, changes_only: bool, text_limit: int | None
) -> tuple[str, str]:
    """The compact snapshot text of `tab` (or of a subtree, or its changes), and a header line."""
    try:
        tree = await session.snapshot_tree(tab)
    except UserError:
        raise
    except Exception as exc:
        raise friendly(exc, "Taking the snapshot") from None
    url, title = tab.page.url, await _title(tab)
    header = f"URL: {url}\nTitle: {json.dumps(title, ensure_ascii=False)}"
    node = tree
    if ref:
        found = snap.find_ref(tree, snap.full_ref(ref, tab.ref_prefix))
        if found is None:
            raise UserError(
                f"No element has the ref {ref} on the current page.",
                hint=STALE_REF_HINT,
            )
        node = found
        header += f"\nSubtree of {ref}"
    text = snap.render(node, text_limit=text_limit, prefix=tab.ref_prefix)
    previous, previous_url = tab.last_snapshot, tab.last_snapshot_url
    if ref is None:
        tab.last_snapshot, tab.last_snapshot_url = text, url
    if changes_only:
        if previous is None or ref is not None:
            header += "\nNo earlier snapshot of this tab to compare with; showing it in full."
        elif previous_url != url:
            header += f"\nThe page changed from {previous_url}; showing it in full."
        else:
            changed = snap.diff_lines(previous, text)
            return (
                changed or "(no change since the last snapshot)"
            ), header + "\nChanges since the last snapshot:"
    return text, header


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


def requests_text(tab: Tab, last: int, failed_only: bool, max_chars: int) -> str:
    """The latest requests of `tab`, one per line."""
    records = [r for r in tab.requests if not failed_only or r.failure or (r.status or 0) >= 400]
    records = records[-last:]
    if not records:
        return "No failed requests." if failed_only else "No requests yet."
    lines = []
    for record in records:
        outcome = record.failure or (str(record.status) if record.status is not None else "pending")
        lines.append(f"{record.method} {record.url} [{record.kind}] -> {outcome}")
    return cap_text("\n".join(lines), max_chars).render()


# --- acting ------------------------------------------------------------------------------------------------


def _dialog_note(tab: Tab, prefix: str) -> str:
    dialog = tab.dialog
    assert dialog is not None
    default = f", default answer {dialog.default_value!r}" if dialog.type == "prompt" else ""
    return (
        f"{prefix}\nA {dialog.type} dialog is open{default}; the page waits for it.\n"
        + wrap_untrusted(dialog.message, "dialog")
        + "\nAnswer it with handle_dialog."
    )


async def act(session: Session, tab: Tab, action: Awaitable[Any], done: str, doing: str) -> str:
    """Run an action on `tab` and report what changed: URL, title, tabs, dialog, downloads, refusals."""
    before_url = tab.page.url
    before_tabs = len(session.tabs)
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
    lines = [f"{done}."]
    with_page = tab.page if not tab.page.is_closed() else None
    if with_page is not None and with_page.url != before_url:
        with contextlib.suppress(Exception):  # a slow page still gets its URL reported
            await with_page.wait_for_load_state(
                "domcontentloaded", timeout=session.browser.options.navigation_timeout * 1000
            )
        url, title = await _state(tab)
        lines.append(f"The page is now {url}.")
        lines.append(wrap_untrusted(f"Title: {title}", url))
    if len(session.tabs) > before_tabs:
        lines.append(f"A new tab opened and is selected: {session.tab.page.url} (list_tabs shows all).")
    if len(session.downloads) > before_downloads:
        for record in session.downloads[before_downloads:]:
            try:
                await asyncio.wait_for(record.done.wait(), session.browser.options.navigation_timeout)
            except TimeoutError:
                lines.append(f"A download of {record.name} started and is still running.")
                continue
            lines.append(_download_line(record))
    blocked = session.browser.denials_since(since)
    if blocked:
        lines.append(f"The egress guard refused {len(blocked)} request(s), e.g. {blocked[0]}")
    return "\n".join(lines)


async def type_text(session: Session, tab: Tab, locator: Any, text: str, submit: bool) -> str:
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


async def select(session: Session, tab: Tab, locator: Any, ref: str, values: list[str]) -> str:
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
    return f"Selected {', '.join(selected)} in {ref}."


async def handle_dialog(session: Session, tab: Tab, accept: bool, prompt_text: str | None) -> str:
    """Accept or dismiss the open dialog, then let the action it held finish."""
    dialog = tab.dialog
    if dialog is None:
        raise UserError(
            "No dialog is open on the selected tab.", hint="Nothing to do; take a snapshot to go on."
        )
    kind, message = dialog.type, dialog.message
    tab.dialog = None
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
    return f"{verb} the {kind} dialog ({message[:100]!r}).\n{_page_line(url, title)}"


# --- tabs --------------------------------------------------------------------------------------------------


def tab_index(session: Session, index: int) -> None:
    """Refuse an index that names no tab."""
    if not 0 <= index < len(session.tabs):
        raise UserError(
            f"There is no tab {index}; this session has {len(session.tabs)}.",
            hint="List them with list_tabs.",
        )


async def tabs_text(session: Session) -> str:
    """One line per tab: marker, index, URL, title."""
    if not session.tabs:
        return "No tab is open."
    lines = []
    for index, tab in enumerate(session.tabs):
        mark = "*" if index == session.current else " "
        title = await _title(tab)
        lines.append(f"{mark} {index}: {tab.page.url} {json.dumps(title, ensure_ascii=False)}")
    return wrap_untrusted("\n".join(lines), "browser tabs") + "\n(* = selected)"


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
    if record.error:
        return f"Download of {record.name} from {record.url} was not saved: {record.error}."
    return f"Downloaded {record.name} ({human_size(record.size or 0)}) from {record.url} to {record.path}."


async def downloads_text(session: Session) -> str:
    """One line per download of this session."""
    if not session.downloads:
        return "No downloads in this session."
    lines = []
    for record in session.downloads:
        if not record.done.is_set():
            lines.append(f"{record.name} from {record.url}: still downloading.")
        else:
            lines.append(_download_line(record))
    return "\n".join(lines)


async def save_pdf(session: Session, tab: Tab, name: str | None) -> str:
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
    return f"Saved {tab.page.url} as PDF to {path} ({human_size(len(data))})."


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


async def evaluate(session: Session, tab: Tab, script: str, max_chars: int) -> str:
    """Run `script` in the page; its JSON result and the console lines it wrote."""
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
    return wrap_untrusted(cap_text(body, max_chars).render(), tab.page.url)
