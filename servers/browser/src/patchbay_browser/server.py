"""patchbay-browser: a headless Chromium for a model, driven with Playwright, over MCP.

The browser starts on the first tool call (never at start-up, so `initialize` is answered at SDK speed) and
closes after `--idle-timeout` seconds without a call. Each client connection gets its own browser context
(cookies, storage, tabs); stateless 2026-era requests, which carry no connection, share one. Every
connection Chromium opens goes through a local forward proxy that applies the shared egress guard
(`patchbay_common.egress`): the host is resolved once, each address checked, and the checked address
dialled, so private, loopback and cloud-metadata addresses stay unreachable (no DNS-rebinding gap) unless the
operator allows them; non-web schemes (file:, data:, javascript:, chrome:, view-source:) are refused.

A model sees the page through `snapshot`: Playwright's accessibility tree re-rendered compactly, with refs
(`[e12]`) that the action tools take, capped with a marker and an offset to read on, as a subtree by ref, or
as the lines that changed since the last snapshot. Page content is wrapped as untrusted data. Launch options
come from the operator only. `evaluate` exists only with `--allow-eval`, `upload_file` only with
`--upload-dir`, `list_downloads` and `save_pdf` only with `--downloads-dir`. Anticipated failures are
`isError` text saying what to try next. stdio, SSE and streamable HTTP; both protocol eras.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, Image
from mcp.server.mcpserver.exceptions import ResourceError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import Field

from patchbay_browser import __version__, actions
from patchbay_browser.browser import Browser, BrowserOptions, Session
from patchbay_common.annotations import hints
from patchbay_common.app import PatchbayServer, serve
from patchbay_common.client_roots import AllowedRoots
from patchbay_common.connections import connection_of
from patchbay_common.egress import EgressSettings
from patchbay_common.errors import UserError
from patchbay_common.limits import cap_text
from patchbay_common.roots import Roots
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_common.untrusted import wrap_untrusted

Ref = Annotated[
    str, Field(min_length=1, max_length=40, description="An element ref from the latest snapshot, e.g. e12.")
]


class Settings(CommonSettings, EgressSettings):
    """Flags of patchbay-browser: the common ones, the egress guard's, and these."""

    model_config = settings_config("browser")

    executable_path: str | None = Field(
        None, description="Chromium binary to launch (default: chromium on the PATH, else Playwright's own)."
    )
    headed: bool = Field(False, description="Show a browser window instead of running headless.")
    sandbox: bool = Field(False, description="Run Chromium with its sandbox (needs a non-root user).")
    browser_arg: list[str] = Field(default_factory=list, description="Extra Chromium flag (repeatable).")
    user_data_dir: Path | None = Field(
        None, description="Persistent browser profile shared by every session (default: a fresh one each)."
    )
    downloads_dir: Path | None = Field(
        None, description="Save downloads (and PDFs) here; without it downloads are refused."
    )
    max_download_mb: int = Field(100, ge=1, description="Largest download saved, in megabytes.")
    upload_dir: list[Path] = Field(
        default_factory=list, description="Directory files may be uploaded from (repeatable)."
    )
    allow_eval: bool = Field(False, description="List the evaluate tool, which runs JavaScript in the page.")
    viewport: str = Field(
        "1280x720", pattern=r"^\d{2,5}x\d{2,5}$", description="Viewport size, WIDTHxHEIGHT."
    )
    user_agent: str | None = Field(None, description="User-Agent header (default: Chromium's own).")
    navigation_timeout: float = Field(15.0, gt=0, description="Seconds a navigation may take.")
    action_timeout: float = Field(5.0, gt=0, description="Seconds an action waits for its element.")
    idle_timeout: float = Field(300.0, gt=0, description="Close the browser after this many idle seconds.")
    max_screenshot_kb: int = Field(
        800, ge=16, description="Largest screenshot returned, in KB (PNG falls back to JPEG above it)."
    )
    snapshot_text_chars: int = Field(
        140,
        ge=40,
        description="Running text longer than this is shortened in snapshots (full_text shows it).",
    )


def _browser_options(settings: Settings) -> BrowserOptions:
    width, height = (int(part) for part in settings.viewport.split("x"))
    return BrowserOptions(
        executable_path=settings.executable_path,
        headless=not settings.headed,
        sandbox=settings.sandbox,
        args=tuple(settings.browser_arg),
        user_data_dir=str(settings.user_data_dir) if settings.user_data_dir else None,
        downloads_dir=str(settings.downloads_dir) if settings.downloads_dir else None,
        max_download_bytes=settings.max_download_mb * 1024 * 1024,
        viewport=(width, height),
        user_agent=settings.user_agent,
        navigation_timeout=settings.navigation_timeout,
        action_timeout=settings.action_timeout,
        idle_timeout=settings.idle_timeout,
    )


def _client(ctx: Context[Any, Any]) -> tuple[Any, Any]:
    """The key of this client's session, and the object whose lifetime bounds it (None when shared)."""
    if ctx.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS:
        connection = connection_of(ctx)
        return id(connection), connection
    return "shared", None


def build(settings: Settings) -> PatchbayServer:
    """The browser server: navigation, snapshots, actions, tabs, dialogs and files, over one lazy browser."""
    for directory in [settings.downloads_dir, *settings.upload_dir]:
        if directory is not None and not directory.is_dir():
            raise ValueError(f"{directory} is not a directory")
    browser = Browser(_browser_options(settings), settings.egress_policy())
    limit = settings.max_output_chars
    max_image = settings.max_screenshot_kb * 1024

    @asynccontextmanager
    async def close_browser(_: object) -> AsyncIterator[None]:
        async with browser.held():
            yield

    uploads = Roots(settings.upload_dir) if settings.upload_dir else None
    mcp = PatchbayServer(
        "patchbay-browser", version=__version__, settings=settings, lifespan=close_browser, roots=uploads
    )
    mcp.browser = browser  # type: ignore[attr-defined]  # tests and forks reach the browser through it

    @asynccontextmanager
    async def session_for(ctx: Context[Any, Any]) -> AsyncIterator[Session]:
        async with browser.use():
            key, owner = _client(ctx)
            try:
                yield await browser.session(key, owner)
            # Playwright is imported lazily, so its closed-target error is recognised by name.
            except Exception as exc:
                if type(exc).__name__ == "TargetClosedError" or "has been closed" in str(exc):
                    raise UserError(
                        "The browser closed while this call ran (its process ended or the tab was closed).",
                        hint="Call the tool again: a new browser is started when the old one is gone.",
                    ) from exc
                raise

    # --- navigation ---------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=False, idempotent=True, open_world=True), structured_output=False)
    async def navigate(
        url: Annotated[
            str, Field(min_length=1, max_length=8000, description="The http or https URL to open.")
        ],
        ctx: Context[Any, Any],
        wait_until: Annotated[
            Literal["load", "domcontentloaded", "networkidle", "commit"],
            Field(description="Which page event ends the navigation."),
        ] = "load",
    ) -> str:
        """Open a URL in the selected tab; return the final URL, HTTP status and page title."""
        await browser.check_url(url)
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            return await actions.navigate(session, tab, url, wait_until)

    @mcp.tool(annotations=hints(read_only=False, idempotent=False, open_world=True), structured_output=False)
    async def go_back(ctx: Context[Any, Any]) -> str:
        """Go back one page in the selected tab's history; return the URL and title now shown."""
        async with session_for(ctx) as session:
            return await actions.history(session, await session.ensure_tab(), back=True)

    @mcp.tool(annotations=hints(read_only=False, idempotent=False, open_world=True), structured_output=False)
    async def go_forward(ctx: Context[Any, Any]) -> str:
        """Go forward one page in the selected tab's history; return the URL and title now shown."""
        async with session_for(ctx) as session:
            return await actions.history(session, await session.ensure_tab(), back=False)

    # --- reading ------------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=True, open_world=True), structured_output=False)
    async def snapshot(
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
        max_chars: Annotated[
            int, Field(ge=100, le=1_000_000, description="Most characters to return.")
        ] = 25_000,
    ) -> str:
        """Return the selected tab's accessibility tree as compact indented text.

        Each line is a role, a quoted name, states such as [checked], and a ref such as [e12] on elements
        the action tools accept (and on sections, for `ref`); links end with -> URL. Long text is shortened
        with ...(+N chars) unless full_text is set. Output beyond max_chars is cut with a marker giving the
        offset to continue from.
        """
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            text, header = await actions.snapshot(
                session,
                tab,
                ref=ref,
                changes_only=changes_only,
                text_limit=None if full_text else settings.snapshot_text_chars,
            )
        window = cap_text(text, min(max_chars, limit), offset)
        body = wrap_untrusted(window.text, "page snapshot") if window.text else "(empty)"
        marker = ""
        if window.truncated:
            marker = (
                f"\n[truncated: showing characters {window.start}-{window.end} of {window.total_chars}; "
                f"call snapshot again with offset={window.end} to read on, or pass ref to narrow it]"
            )
        return f"{header}\n{body}{marker}"

    @mcp.tool(annotations=hints(read_only=True, open_world=True), structured_output=False)
    async def screenshot(
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
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            shot = await actions.screenshot(session, tab, ref, full_page, format, name, max_image)
        note = f"Screenshot {shot.name} ({shot.mime}, {len(shot.data)} bytes{shot.note}) of {tab.page.url}"
        return [note, Image(data=shot.data, format=shot.mime.split("/")[1])]

    @mcp.tool(annotations=hints(read_only=True, open_world=True), structured_output=False)
    async def wait_for(
        ctx: Context[Any, Any],
        text: Annotated[
            str | None, Field(max_length=500, description="Wait until this text is visible.")
        ] = None,
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
        async with session_for(ctx) as session:
            return await actions.wait_for(
                session, await session.ensure_tab(), text, text_gone, selector, seconds
            )

    @mcp.tool(annotations=hints(read_only=True, open_world=False), structured_output=False)
    async def console_messages(
        ctx: Context[Any, Any],
        last: Annotated[
            int, Field(ge=1, le=500, description="How many of the latest messages to return.")
        ] = 50,
    ) -> str:
        """Return the latest console messages and page errors of this session, oldest first."""
        async with session_for(ctx) as session:
            lines = list(session.console)[-last:]
        if not lines:
            return "No console messages yet."
        return wrap_untrusted(cap_text("\n".join(lines), limit).render(), "browser console")

    @mcp.tool(annotations=hints(read_only=True, open_world=False), structured_output=False)
    async def network_requests(
        ctx: Context[Any, Any],
        last: Annotated[
            int, Field(ge=1, le=500, description="How many of the latest requests to return.")
        ] = 100,
        failed_only: Annotated[bool, Field(description="Return only failed or blocked requests.")] = False,
    ) -> str:
        """Return the selected tab's latest requests: method, URL, resource type, status or failure."""
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            return actions.requests_text(tab, last, failed_only, limit)

    # --- acting -------------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=False, destructive=True, open_world=True), structured_output=False)
    async def click(
        ref: Ref,
        ctx: Context[Any, Any],
        double: Annotated[bool, Field(description="Double-click instead of a single click.")] = False,
        button: Annotated[Literal["left", "right", "middle"], Field(description="Mouse button.")] = "left",
    ) -> str:
        """Click an element by ref; return what changed (URL, title, new tab, dialog, download)."""
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            locator = await session.require(tab, ref)
            act = locator.dblclick(button=button) if double else locator.click(button=button)
            return await actions.act(session, tab, act, f"Clicked {ref}", f"Clicking {ref}")

    @mcp.tool(annotations=hints(read_only=False, idempotent=True, open_world=True), structured_output=False)
    async def hover(ref: Ref, ctx: Context[Any, Any]) -> str:
        """Move the mouse over an element by ref; return what changed."""
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            locator = await session.require(tab, ref)
            return await actions.act(session, tab, locator.hover(), f"Hovered {ref}", f"Hovering {ref}")

    @mcp.tool(annotations=hints(read_only=False, idempotent=True, open_world=True), structured_output=False)
    async def fill(
        ref: Ref,
        value: Annotated[str, Field(max_length=100_000, description="The text the field should hold.")],
        ctx: Context[Any, Any],
    ) -> str:
        """Replace the text of an input, textarea or editable element by ref with `value`."""
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            locator = await session.require(tab, ref)
            return await actions.act(
                session,
                tab,
                locator.fill(value),
                f"Filled {ref} with {len(value)} characters",
                f"Filling {ref}",
            )

    @mcp.tool(annotations=hints(read_only=False, destructive=True, open_world=True), structured_output=False)
    async def type_text(
        text: Annotated[str, Field(max_length=10_000, description="The text to type, key by key.")],
        ctx: Context[Any, Any],
        ref: Annotated[
            str | None, Field(max_length=40, description="Element to type into (default: the focused one).")
        ] = None,
        submit: Annotated[bool, Field(description="Press Enter after typing.")] = False,
    ) -> str:
        """Type text key by key (firing key events) into an element by ref or the focused element."""
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            locator = await session.require(tab, ref) if ref else None
            return await actions.type_text(session, tab, locator, text, submit)

    @mcp.tool(annotations=hints(read_only=False, destructive=True, open_world=True), structured_output=False)
    async def press_key(
        key: Annotated[
            str,
            Field(
                min_length=1,
                max_length=60,
                description="A key such as Enter, Tab, ArrowDown, Escape or Control+A.",
            ),
        ],
        ctx: Context[Any, Any],
        ref: Annotated[str | None, Field(max_length=40, description="Element to focus first.")] = None,
    ) -> str:
        """Press a key or key combination in the selected tab; return what changed."""
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            if ref:
                locator = await session.require(tab, ref)
                act = locator.press(key)
            else:
                act = tab.page.keyboard.press(key)
            return await actions.act(session, tab, act, f"Pressed {key}", f"Pressing {key}")

    @mcp.tool(annotations=hints(read_only=False, idempotent=True, open_world=True), structured_output=False)
    async def select_option(
        ref: Ref,
        values: Annotated[
            list[str], Field(min_length=1, max_length=100, description="Option values or labels to select.")
        ],
        ctx: Context[Any, Any],
    ) -> str:
        """Select one or more options of a select element by ref; return the values now selected."""
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            locator = await session.require(tab, ref)
            return await actions.select(session, tab, locator, ref, values)

    @mcp.tool(annotations=hints(read_only=False, destructive=True, open_world=True), structured_output=False)
    async def handle_dialog(
        accept: Annotated[bool, Field(description="Accept (OK) or dismiss (Cancel) the dialog.")],
        ctx: Context[Any, Any],
        prompt_text: Annotated[
            str | None, Field(max_length=10_000, description="Text to answer a prompt dialog with.")
        ] = None,
    ) -> str:
        """Accept or dismiss the alert, confirm, prompt or beforeunload dialog open on the selected tab."""
        async with session_for(ctx) as session:
            return await actions.handle_dialog(session, await session.ensure_tab(), accept, prompt_text)

    @mcp.tool(annotations=hints(read_only=False, idempotent=True, open_world=False), structured_output=False)
    async def resize(
        width: Annotated[int, Field(ge=200, le=7680, description="Viewport width in CSS pixels.")],
        height: Annotated[int, Field(ge=200, le=4320, description="Viewport height in CSS pixels.")],
        ctx: Context[Any, Any],
    ) -> str:
        """Resize the selected tab's viewport."""
        async with session_for(ctx) as session:
            tab = await session.ensure_tab()
            await tab.page.set_viewport_size({"width": width, "height": height})
            return f"Viewport is now {width}x{height}."

    # --- tabs ---------------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=True, open_world=False), structured_output=False)
    async def list_tabs(ctx: Context[Any, Any]) -> str:
        """List this session's tabs: index, URL and title, marking the selected one."""
        async with session_for(ctx) as session:
            return await actions.tabs_text(session)

    @mcp.tool(annotations=hints(read_only=False, open_world=True), structured_output=False)
    async def new_tab(
        ctx: Context[Any, Any],
        url: Annotated[
            str | None, Field(max_length=8000, description="URL to open in it (default: blank).")
        ] = None,
    ) -> str:
        """Open a new tab, select it, and optionally navigate it; return the tab list."""
        if url:
            await browser.check_url(url)
        async with session_for(ctx) as session:
            page = await session.context.new_page()
            tab = session.tab_for(page)
            session.current = session.tabs.index(tab)
            result = await actions.navigate(session, tab, url, "load") + "\n" if url else ""
            return result + await actions.tabs_text(session)

    @mcp.tool(annotations=hints(read_only=False, idempotent=True, open_world=False), structured_output=False)
    async def select_tab(
        index: Annotated[int, Field(ge=0, description="Index of the tab, as list_tabs shows it.")],
        ctx: Context[Any, Any],
    ) -> str:
        """Select the tab at `index` for the following tools; return the tab list."""
        async with session_for(ctx) as session:
            actions.tab_index(session, index)
            session.current = index
            await session.tabs[index].page.bring_to_front()
            return await actions.tabs_text(session)

    @mcp.tool(annotations=hints(read_only=False, destructive=True, open_world=False), structured_output=False)
    async def close_tab(
        ctx: Context[Any, Any],
        index: Annotated[
            int | None, Field(ge=0, description="Index of the tab to close (default: the selected one).")
        ] = None,
    ) -> str:
        """Close a tab (the selected one by default); return the remaining tabs."""
        async with session_for(ctx) as session:
            target = session.current if index is None else index
            actions.tab_index(session, target)
            await session.tabs[target].page.close()
            return await actions.tabs_text(session)

    # --- files (each only when the operator enabled it) ---------------------------------------------

    if uploads is not None:

        @mcp.tool(annotations=hints(read_only=False, open_world=True), structured_output=False)
        async def upload_file(
            ref: Ref,
            paths: Annotated[
                list[str],
                Field(
                    min_length=1, max_length=20, description="Files to attach, inside the upload directories."
                ),
            ],
            ctx: Context[Any, Any],
            roots: AllowedRoots,
        ) -> str:
            """Attach files from the allowed upload directories to a file input by ref, or its chooser."""
            files = [actions.read_upload(roots, path) for path in paths]
            async with session_for(ctx) as session:
                tab = await session.ensure_tab()
                locator = await session.require(tab, ref)
                return await actions.upload(session, tab, locator, ref, files)

    if settings.downloads_dir is not None:

        @mcp.tool(annotations=hints(read_only=True, open_world=False), structured_output=False)
        async def list_downloads(ctx: Context[Any, Any]) -> str:
            """List this session's downloads: name, size, source URL, and where each was saved or why not."""
            async with session_for(ctx) as session:
                return await actions.downloads_text(session)

        @mcp.tool(annotations=hints(read_only=False, open_world=False), structured_output=False)
        async def save_pdf(
            ctx: Context[Any, Any],
            name: Annotated[
                str | None,
                Field(
                    max_length=100,
                    pattern=r"^[A-Za-z0-9._ -]+$",
                    description="File name (default: from the title).",
                ),
            ] = None,
        ) -> str:
            """Print the selected tab to a PDF file in the downloads directory; return its path and size."""
            async with session_for(ctx) as session:
                return await actions.save_pdf(session, await session.ensure_tab(), name)

    if settings.allow_eval:

        @mcp.tool(
            annotations=hints(read_only=False, destructive=True, open_world=True), structured_output=False
        )
        async def evaluate(
            script: Annotated[
                str,
                Field(
                    min_length=1, max_length=100_000, description="A JavaScript expression or function body."
                ),
            ],
            ctx: Context[Any, Any],
        ) -> str:
            """Run JavaScript in the selected tab; return its JSON result and the console output it caused."""
            async with session_for(ctx) as session:
                return await actions.evaluate(session, await session.ensure_tab(), script, limit)

    # --- resources ----------------------------------------------------------------------------------

    @mcp.resource("console://{stream}", name="console", mime_type="text/plain")
    async def console_resource(stream: str, ctx: Context[Any, Any]) -> str:
        """The console messages of this session (console://logs)."""
        if stream != "logs":
            raise ResourceError(f"Unknown console stream {stream!r}; read console://logs.")
        session = browser.find(_client(ctx)[0])
        return "\n".join(session.console) if session is not None else ""

    @mcp.resource("screenshot://{name}", name="screenshot", mime_type="image/png")
    async def screenshot_resource(name: str, ctx: Context[Any, Any]) -> bytes:
        """A screenshot this session took, by name."""
        session = browser.find(_client(ctx)[0])
        if session is None or name not in session.screenshots:
            raise ResourceError(f"No screenshot named {name!r} in this session; take one with screenshot.")
        return session.screenshots[name][0]

    return mcp


def main() -> None:
    """Console entry point: `patchbay-browser [flags]`."""
    serve(build, Settings)
