"""patchbay-browser: a headless Chromium for a model, driven with Playwright, over MCP.

The browser starts on the first tool call (never at start-up, so `initialize` is answered at SDK speed) and
closes after `--idle-timeout` seconds without a call. Each user gets its own browser context (cookies,
storage, tabs), keyed by `patchbay_common.principals.principal_key`: the authenticated identity when clients
authenticate, else the handshake-era connection; unauthenticated 2026-era requests cannot be told apart and
share one, so over streamable HTTP the server refuses to start without authentication unless the operator
passes --single-user. A user's context closes after --idle-timeout seconds without a call of theirs, and the
least recently used one beyond --max-contexts. Every
connection Chromium opens goes through a local forward proxy that applies the shared egress guard
(`patchbay_common.egress`): the host is resolved once, each address checked, and the checked address
dialled, so private, loopback and cloud-metadata addresses stay unreachable (no DNS-rebinding gap) unless the
operator allows them; non-web schemes (file:, data:, javascript:, chrome:, view-source:) are refused.

A model sees the page through `snapshot`: Playwright's accessibility tree re-rendered compactly, with refs
(`[e12]`) that the action tools take and running text as the page shows it, in windows cut at line ends and
read from one rendering with a signed cursor, as an outline of headings, as a section or subtree by ref, or
as the lines that changed since the last snapshot. Launch options come from the operator only.

The tools are declared in toolset modules (navigation, reading, acting, tabs, files, scripting) on the
`Deps` of deps.py; what a page chose (text, titles, URLs, dialog and console texts) is declared untrusted
and framed by the layer, our own notes stay after the frame. Access tiers: read tools and the `interact`
tier are always granted; `eval` (evaluate) with `--allow-eval`, `upload` (upload_file) with `--upload-dir`,
`download` (save_pdf, with the read tool list_downloads) with `--downloads-dir`. Domain logic lives in
browser.py, actions.py and snapshot.py. Anticipated failures are `isError` text saying what to try next.
stdio, SSE and streamable HTTP; both protocol eras.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_browser import __version__, acting, files, navigation, reading, scripting, tabs
from patchbay_browser.browser import Browser, BrowserOptions
from patchbay_browser.deps import DOWNLOAD, EVAL, INTERACT, UPLOAD, Deps, client_key
from patchbay_browser.discovery import INSTALL_HINT, Search, find_installed
from patchbay_common.app import PatchbayServer, serve
from patchbay_common.egress import EgressSettings
from patchbay_common.errors import NotFound, UserError
from patchbay_common.roots import Roots
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_common.toolsets import READ

# Playwright's Python side is imported by the first call that launches the browser (100-200 ms); it is
# imported in the background as soon as a client has connected instead (patchbay_common.warmup), so that call
# does not wait for it. The browser itself still starts on the first call.
WARM_IMPORTS = ("playwright.async_api",)


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
    idle_timeout: float = Field(
        300.0,
        gt=0,
        description="Close a user's browser context after this many seconds without a call of theirs, and "
        "the browser after this many without any call.",
    )
    max_contexts: int = Field(
        16,
        ge=1,
        description="Most browser contexts (one per user: cookies, storage, tabs) open at once; beyond it "
        "the least recently used is closed.",
    )
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
        max_contexts=settings.max_contexts,
    )


def granted(settings: Settings) -> set[str]:
    """The access tiers the flags grant: reading and interacting always, the gated ones by their flag."""
    access = {READ, INTERACT}
    if settings.upload_dir:
        access.add(UPLOAD)
    if settings.downloads_dir is not None:
        access.add(DOWNLOAD)
    if settings.allow_eval:
        access.add(EVAL)
    return access


def holding(browser: Browser) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan holding the browser: the last holder to leave closes it."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        async with browser.held():
            yield

    return lifespan


def build(settings: Settings) -> PatchbayServer:
    """The browser server: navigation, snapshots, actions, tabs, dialogs and files, over one lazy browser."""
    for directory in [settings.downloads_dir, *settings.upload_dir]:
        if directory is not None and not directory.is_dir():
            raise ValueError(f"{directory} is not a directory")
    browser = Browser(_browser_options(settings), settings.egress_policy())
    deps = Deps(
        browser=browser,
        max_chars=settings.max_output_chars,
        snapshot_text_chars=settings.snapshot_text_chars,
        max_image_bytes=settings.max_screenshot_kb * 1024,
    )
    uploads = Roots(settings.upload_dir) if settings.upload_dir else None
    mcp = PatchbayServer(
        "patchbay-browser",
        version=__version__,
        settings=settings,
        lifespan=holding(browser),
        roots=uploads,
        warm_imports=WARM_IMPORTS,
    )
    mcp.browser = browser  # type: ignore[attr-defined]  # tests and forks reach the browser through it

    access = granted(settings)
    for toolset in (navigation.tools, reading.tools, acting.tools, tabs.tools, scripting.tools):
        mcp.add_toolset(toolset, deps, access=access)
    mcp.add_toolset(  # list_downloads reads, but only means something with a downloads directory
        files.tools,
        deps,
        access=access,
        only=lambda spec: spec.name != files.LIST_DOWNLOADS or DOWNLOAD in access,
    )

    @mcp.resource("console://{stream}", name="console", mime_type="text/plain", untrusted="browser console")
    async def console_resource(stream: str, ctx: Context[Any, Any]) -> str:
        """The console messages of this session (console://logs)."""
        if stream != "logs":
            raise UserError(f"Unknown console stream {stream!r}; read console://logs.")
        session = browser.find(client_key(ctx)[0])
        return "\n".join(session.console) if session is not None else ""

    @mcp.resource("screenshot://{name}", name="screenshot", mime_type="image/png")
    async def screenshot_resource(name: str, ctx: Context[Any, Any]) -> bytes:
        """A screenshot this session took, by name."""
        session = browser.find(client_key(ctx)[0])
        if session is None or name not in session.screenshots:
            raise NotFound(f"No screenshot named {name!r} in this session.", hint="Take one with screenshot.")
        return session.screenshots[name][0]

    # Completions: the one console stream, and the names of this session's screenshots (never another
    # session's). No template or prompt takes a tab index, so tabs have nothing to complete.
    @mcp.complete("console://{stream}", "stream")
    def console_streams(value: str, arguments: dict[str, str], ctx: Any) -> list[str]:
        return ["logs"]

    @mcp.complete("screenshot://{name}", "name")
    async def screenshot_names(value: str, arguments: dict[str, str], ctx: Any) -> list[str]:
        session = browser.find(client_key(ctx)[0])
        return sorted(session.screenshots) if session is not None else []

    return mcp


def preflight(settings: Settings, search: Search | None = None) -> list[str]:
    """Start-up check: a browser to launch exists (a warning, or with --strict a refusal).

    `search` says where to look (tests point it at a directory tree); by default this machine.
    """
    import os

    from patchbay_common.preflight import playwright_browser

    if settings.executable_path:
        if os.path.isfile(settings.executable_path):
            return []
        return [
            f"--executable-path {settings.executable_path}: no such file; name the Chrome or Chromium binary"
        ]
    if find_installed(search) or playwright_browser():
        return []
    return [f"no Chrome, Chromium or Edge found, nor Playwright's own Chromium: {INSTALL_HINT}"]


def main() -> None:
    """Console entry point: `patchbay-browser [flags]`."""
    serve(build, Settings, preflight=preflight, per_user_state=True)
