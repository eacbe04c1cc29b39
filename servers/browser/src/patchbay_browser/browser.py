"""The browser a server drives: started on first use, one isolated context per client, closed when idle.

`Browser` owns one Playwright driver, one Chromium and one egress proxy (`proxy.EgressProxy`), all started
lazily by the first call that needs a page, so a server answers `initialize` without touching them. Each
user (`Browser.session(key)`, keyed by `patchbay_common.principals.principal_key`) gets its own
`BrowserContext` (own cookies, storage, tabs), unless the operator named a persistent profile, which every
user then shares. A user's context is closed after `idle_timeout` seconds without a call of theirs, and the
least recently used one when more than `max_contexts` are open (nothing else ends a context keyed by a user
rather than a connection); a timer closes everything after `idle_timeout` seconds without any call, and the
next call starts it again.

Every connection Chromium opens goes through the proxy, loopback included; tools also check a URL before
navigating so the model reads why it was refused. Nothing here imports MCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from patchbay_browser import snapshot as snap
from patchbay_browser.proxy import DENIED_HEADER, EgressProxy
from patchbay_common.egress import EgressPolicy
from patchbay_common.errors import UserError
from patchbay_common.logs import get_logger
from patchbay_common.roots import Roots

if TYPE_CHECKING:  # Playwright is imported on first launch, never at start-up
    from playwright.async_api import Browser as PlaywrightBrowser
    from playwright.async_api import BrowserContext, Dialog, Download, Locator, Page, Playwright

__all__ = [
    "PAGE_TEXT_CHARS",
    "PROTECTED_SWITCHES",
    "RESPONSIVE_SECONDS",
    "SNAPSHOT_MAX_CHARS",
    "SNAPSHOT_MAX_ELEMENTS",
    "STALE_REF_HINT",
    "Browser",
    "BrowserOptions",
    "DownloadRecord",
    "RequestRecord",
    "Session",
    "Tab",
    "check_operator_args",
    "find_chromium",
]

log = get_logger("patchbay.browser")

DEFAULT_ARGS = (
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
)
"""Chromium flags: no calling home, no QUIC, no WebRTC UDP around the proxy."""

PROTECTED_SWITCHES = {
    "proxy-server": "every connection goes through the egress guard's proxy",
    "no-proxy-server": "every connection goes through the egress guard's proxy",
    "proxy-bypass-list": "every connection goes through the egress guard's proxy, loopback included",
    "proxy-pac-url": "every connection goes through the egress guard's proxy",
    "proxy-auto-detect": "every connection goes through the egress guard's proxy",
    "winhttp-proxy-resolver": "every connection goes through the egress guard's proxy",
    "enable-quic": "QUIC (UDP) would go around the egress guard's TCP proxy",
    "origin-to-force-quic-on": "QUIC (UDP) would go around the egress guard's TCP proxy",
    "webrtc-ip-handling-policy": "WebRTC must not send UDP around the egress guard's proxy",
    "force-webrtc-ip-handling-policy": "WebRTC must not send UDP around the egress guard's proxy",
    "explicitly-allowed-ports": "Chromium's list of ports no web page may reach stays in force",
    "disable-web-security": "the same-origin policy stays in force",
}
"""Chromium switches an operator's --browser-arg may not give: each would undo a protection of this server."""

SCHEMES = ("http", "https")
SNAPSHOT_MAX_ELEMENTS = 50_000
"""A snapshot of more elements takes Chromium minutes (100,000 links: about 30 s; its text: 10 MB)."""
SNAPSHOT_MAX_CHARS = 5_000_000
"""Nor of more text (20 buttons of a megabyte each: 42 s, and 20 MB of snapshot text)."""
RESPONSIVE_SECONDS = 3.0
"""How long a page may take to answer one small DOM call before it counts as busy."""
_PAGE_SIZE = (
    "() => [document.getElementsByTagName('*').length, "
    "(document.documentElement && document.documentElement.textContent || '').length]"
)
PAGE_TEXT_CHARS = 4_000_000
"""A page's text is used to keep its spacing in snapshots up to this size (beyond it, spacing is guessed)."""
_PAGE_STATE = """([withText, limit]) => {
  try {
    const html = document.documentElement;
    const state = [location.href, document.getElementsByTagName('*').length,
                   (html && html.textContent || '').length, innerWidth, innerHeight];
    let text = null;
    if (withText) {
      const root = document.body || html;
      text = root ? root.innerText : null;
      if (text && text.length > limit) text = null;
    }
    return {state, text};
  } catch (e) {
    return null;
  }
}"""
STALE_REF_HINT = "Refs come from the latest snapshot and change when the page navigates: take a new snapshot."
_MAX_EVENTS = 500
_MAX_SCREENSHOTS = 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def check_operator_args(args: tuple[str, ...] | list[str]) -> None:
    """Refuse operator flags that would undo a protective default (raises `ValueError`, named for the flag).

    Playwright passes `--browser-arg` values after its own `--proxy-server` and after this server's
    defaults, and Chromium keeps the last value of a switch, so `--proxy-server=direct://` or
    `--proxy-bypass-list=<local>` would have taken every request (or every loopback one) around the
    egress guard. Additions are fine; replacing a protection is not, whatever the spelling (`-x`, `--X=..`).
    """
    for arg in args:
        switch = arg.strip().lstrip("-").split("=", 1)[0].strip().lower()
        if switch in PROTECTED_SWITCHES:
            raise ValueError(
                f"--browser-arg {arg!r} is not accepted: {PROTECTED_SWITCHES[switch]} "
                "(what may be reached is set with --allow-private, --allow-host and --block-host)"
            )


def find_chromium() -> str | None:
    """An installed Chromium, Chrome or Edge (PATH, then the usual places on Linux, macOS, Windows), or None.

    None means Playwright's own Chromium is tried (`playwright install chromium`); see `discovery`.
    """
    from patchbay_browser.discovery import find_installed

    return find_installed()


@dataclass(frozen=True)
class BrowserOptions:
    """What the operator chose: binary, flags, profile, downloads, viewport, timeouts."""

    executable_path: str | None = None
    headless: bool = True
    sandbox: bool = False
    args: tuple[str, ...] = ()
    user_data_dir: str | None = None
    downloads_dir: str | None = None
    max_download_bytes: int = 100 * 1024 * 1024
    viewport: tuple[int, int] = (1280, 720)
    user_agent: str | None = None
    navigation_timeout: float = 15.0
    action_timeout: float = 5.0
    idle_timeout: float = 300.0
    max_contexts: int = 16


@dataclass
class RequestRecord:
    """One network request a page made."""

    method: str
    url: str
    kind: str
    status: int | None = None
    failure: str | None = None


@dataclass
class DownloadRecord:
    """One download: where it came from and where it was saved (or why it was not)."""

    name: str
    url: str
    path: str | None = None
    size: int | None = None
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


@dataclass
class Tab:
    """One page, with what it logged and requested, its pending dialog and its last snapshot."""

    page: Page
    requests: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=_MAX_EVENTS))
    dialog: Dialog | None = None
    dialog_opened: asyncio.Event = field(default_factory=asyncio.Event)
    last_snapshot: str | None = None
    last_snapshot_url: str | None = None
    ref_prefix: str = ""
    background: set[asyncio.Future[Any]] = field(default_factory=set)
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    """Names the tab in snapshot cursors (a cursor of another tab is refused)."""
    generation: int = 0
    """Counts what a tool did to the tab and every navigation of its main frame (a held snapshot is stale)."""
    snapshots: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)
    """The snapshot each user is paging through (`actions.Snapshot`), by principal key, latest last."""
    renders: int = 0
    """Snapshots rendered of this tab (each asks Chromium for the accessibility tree and the page's text)."""

    def touched(self) -> None:
        """Note that the page may have changed (an action, a navigation): held snapshots are stale."""
        self.generation += 1


@dataclass
class Session:
    """One user's isolated browser context: its tabs, console, downloads and screenshots."""

    context: BrowserContext
    browser: Browser
    shared: bool = False
    tabs: list[Tab] = field(default_factory=list)
    current: int = 0
    console: deque[str] = field(default_factory=lambda: deque(maxlen=_MAX_EVENTS))
    downloads: list[DownloadRecord] = field(default_factory=list)
    screenshots: OrderedDict[str, tuple[bytes, str]] = field(default_factory=OrderedDict)
    tab_opened: asyncio.Event = field(default_factory=asyncio.Event)
    unreported_tabs: int = 0
    """Popups no action's reply has mentioned yet: one slower than the settle time is told next time."""
    _opening: int = 0
    """Tabs of our own being opened now: the context's page event for them is not a popup."""
    closed: bool = False
    calls: int = 0
    """Tool calls using this session now (it is not closed for idleness or count while one runs)."""
    last_used: float = field(default_factory=time.monotonic)

    # --- tabs ---------------------------------------------------------------------------------------

    @property
    def tab(self) -> Tab:
        """The selected tab (a new blank one if every tab was closed)."""
        if not self.tabs:
            raise UserError("No tab is open.", hint="Open one with new_tab or navigate.")
        self.current = min(self.current, len(self.tabs) - 1)
        return self.tabs[self.current]

    async def ensure_tab(self) -> Tab:
        """The selected tab, opening a blank one first when none is open."""
        if not self.tabs:
            await self.open_tab()
        return self.tab

    async def open_tab(self) -> Tab:
        """Open a blank tab of our own (not a popup) and select it."""
        self._opening += 1
        try:
            page = await self.context.new_page()
        finally:
            self._opening -= 1
        tab = self.tab_for(page)
        self.current = self.tabs.index(tab)
        return tab

    def adopt(self, page: Page) -> None:
        """Take a page the context opened (a popup, a target=_blank link) as a new selected tab."""
        known = any(tab.page is page for tab in self.tabs)
        self.tab_for(page)
        if not known and not self._opening:
            self.unreported_tabs += 1

    def tab_for(self, page: Page) -> Tab:
        """The tab showing `page`, made (and selected) if it is new."""
        for tab in self.tabs:
            if tab.page is page:
                return tab
        tab = Tab(page)
        self.tabs.append(tab)
        self.tab_opened.set()
        self.current = len(self.tabs) - 1
        self._watch(tab)
        return tab

    def _watch(self, tab: Tab) -> None:
        page = tab.page
        page.set_default_timeout(self.browser.options.action_timeout * 1000)
        page.set_default_navigation_timeout(self.browser.options.navigation_timeout * 1000)

        def on_console(message: Any) -> None:
            self.console.append(f"[{message.type}] {message.text}")

        def on_error(error: Any) -> None:
            self.console.append(f"[pageerror] {error}")

        def on_request(request: Any) -> None:
            tab.requests.append(RequestRecord(request.method, request.url, request.resource_type))

        def record(request: Any) -> RequestRecord | None:
            for item in reversed(tab.requests):
                if item.url == request.url and item.status is None and item.failure is None:
                    return item
            return None

        def on_response(response: Any) -> None:
            item = record(response.request)
            if item is not None:
                item.status = response.status
                if response.headers.get(DENIED_HEADER.lower()) == "denied":
                    item.failure = "blocked by the egress guard"

        def on_failed(request: Any) -> None:
            item = record(request)
            if item is not None:
                item.failure = request.failure or "failed"

        def on_dialog(dialog: Dialog) -> None:
            tab.dialog = dialog
            tab.dialog_opened.set()

        def on_navigated(frame: Any) -> None:
            if frame == page.main_frame:
                tab.touched()

        def on_close(_: Any) -> None:
            tab.snapshots.clear()
            if tab in self.tabs:
                index = self.tabs.index(tab)
                self.tabs.remove(tab)
                if self.current >= index and self.current > 0:
                    self.current -= 1

        page.on("console", on_console)
        page.on("pageerror", on_error)
        page.on("request", on_request)
        page.on("response", on_response)
        page.on("requestfailed", on_failed)
        page.on("dialog", on_dialog)
        page.on("download", self._on_download)
        page.on("framenavigated", on_navigated)
        page.on("close", on_close)

    # --- downloads ----------------------------------------------------------------------------------

    def _on_download(self, download: Download) -> None:
        record = DownloadRecord(_safe_name(download.suggested_filename), download.url)
        self.downloads.append(record)
        task = asyncio.ensure_future(self._save(download, record))
        self.tab.background.add(task)
        task.add_done_callback(self.tab.background.discard)

    async def _save(self, download: Download, record: DownloadRecord) -> None:
        options = self.browser.options
        try:
            if options.downloads_dir is None:
                record.error = "downloads are off (the operator has not set --downloads-dir)"
                with contextlib.suppress(Exception):
                    await download.cancel()
                return
            failure = await download.failure()
            if failure:
                record.error = failure
                return
            temp = await download.path()
            data = await asyncio.to_thread(_read_limited, str(temp), options.max_download_bytes)
            if data is None:
                record.error = f"larger than the {options.max_download_bytes} byte limit"
                return
            size = len(data)
            target = Roots([options.downloads_dir])
            name = record.name
            for attempt in range(100):
                candidate = name if attempt == 0 else _numbered(name, attempt)
                try:
                    record.path = target.write_bytes(candidate, data, exclusive=True)
                    record.name = candidate
                    break
                except UserError:
                    continue
            record.size = size
        except Exception as exc:  # a download failing must not take the session down
            record.error = str(exc).splitlines()[0][:300]
        finally:
            record.done.set()

    # --- actions ------------------------------------------------------------------------------------

    async def run(self, tab: Tab, action: Any) -> bool:
        """Await `action` (a coroutine acting on `tab`); False when a dialog opened and holds it.

        A page blocked by an alert/confirm/prompt does not finish a click until the dialog is handled,
        so the action is left running and finishes after `handle_dialog`.
        """
        if tab.dialog is not None:
            raise UserError(
                f"A {tab.dialog.type} dialog is open on this tab ({tab.dialog.message[:200]!r}).",
                hint="Accept or dismiss it with handle_dialog first.",
            )
        tab.touched()
        tab.dialog_opened.clear()
        task = asyncio.ensure_future(action)
        waiter = asyncio.ensure_future(tab.dialog_opened.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            waiter.cancel()
        if task.done():
            task.result()
            return True
        tab.background.add(task)
        task.add_done_callback(_quietly_done(tab.background))
        return False

    def locator(self, tab: Tab, ref: str) -> Locator:
        """The element a snapshot showed as `[ref]`."""
        if not re.fullmatch(r"(?:f\d+)?e\d+", ref):
            raise UserError(
                f"{ref!r} is not a ref.", hint="Give a ref exactly as a snapshot shows it, e.g. e12 or f2e12."
            )
        return tab.page.locator(f"aria-ref={snap.full_ref(ref, tab.ref_prefix)}")

    async def require(self, tab: Tab, ref: str) -> Locator:
        """The element for `ref`, failing clearly when the page no longer has it."""
        tab.touched()  # the tools that look an element up act on it
        locator = self.locator(tab, ref)
        try:
            count = await locator.count()
        except Exception:
            count = 0
        if count == 0:
            raise UserError(
                f"No element has the ref {ref} on the current page.",
                hint=STALE_REF_HINT,
            )
        return locator

    async def snapshot_tree(self, tab: Tab) -> snap.Node:
        """The accessibility tree of the tab, with Playwright's refs."""
        if tab.dialog is not None:
            raise UserError(
                f"A {tab.dialog.type} dialog is open ({tab.dialog.message[:200]!r}); the page is frozen.",
                hint="Accept or dismiss it with handle_dialog first.",
            )
        elements, chars = await self._page_size(tab)
        if elements > SNAPSHOT_MAX_ELEMENTS or chars > SNAPSHOT_MAX_CHARS:
            raise UserError(
                f"The page has {elements:,} elements and {chars:,} characters of text; a snapshot covers at "
                f"most {SNAPSHOT_MAX_ELEMENTS:,} elements and {SNAPSHOT_MAX_CHARS:,} characters (the browser "
                "would need minutes for more, and the page would be frozen meanwhile).",
                hint="Take a screenshot, or wait_for a text you expect; navigate to a smaller page.",
            )
        seconds = self.browser.options.navigation_timeout
        try:
            text = await tab.page.aria_snapshot(mode="ai", timeout=seconds * 1000)
        except Exception as exc:
            if "Timeout" not in type(exc).__name__ and "Timeout" not in str(exc):
                raise
            raise UserError(
                f"The browser did not produce the page's snapshot within {seconds:g} s: the page is very "
                "large or very deeply nested, or a script on it keeps the browser busy.",
                hint="Take a screenshot, or wait_for a text you expect; close the tab if it stays busy.",
            ) from None
        # Parsing a few megabytes of snapshot text is CPU work: off the event loop.
        tree = await asyncio.to_thread(snap.parse, text)
        tab.ref_prefix = snap.frame_prefix(tree)
        return tree

    async def _page_size(self, tab: Tab) -> tuple[int, int]:
        """The page's elements and characters of text ((0, 0) when it cannot say); `UserError` when busy.

        Both are one DOM call each, done in C++; a page whose scripts keep its thread busy (an endless
        loop) answers nothing at all, and would hold every later call on the tab until its own timeout.
        """
        try:
            size = await asyncio.wait_for(tab.page.evaluate(_PAGE_SIZE), RESPONSIVE_SECONDS)
        except TimeoutError:
            raise UserError(
                f"The page did not answer within {RESPONSIVE_SECONDS:g} s: it is busy (still laying out a "
                "very large page, or running a script, possibly an endless loop), so it cannot be read now.",
                hint="Try again in a moment; if it stays busy, close the tab with close_tab (or open another "
                "with new_tab).",
            ) from None
        except Exception:
            return 0, 0  # e.g. a navigation replaced the document: the snapshot itself says what is there
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(n, int) for n in size)):
            return 0, 0
        return size[0], size[1]

    async def page_state(self, tab: Tab, *, with_text: bool) -> tuple[list[Any] | None, str | None]:
        """What tells whether the page changed (URL, elements, text length, viewport), and its text.

        The text is the page's `innerText` (what a reader sees, with its spacing and line breaks), at most
        `PAGE_TEXT_CHARS` of it. Either is None when the page cannot say in time (busy, navigating, or a
        script replaced what is asked for).
        """
        try:
            asked = tab.page.evaluate(_PAGE_STATE, [with_text, PAGE_TEXT_CHARS])
            found = await asyncio.wait_for(asked, RESPONSIVE_SECONDS)
        except Exception:
            return None, None
        if not isinstance(found, dict):
            return None, None
        state, text = found.get("state"), found.get("text")
        return (state if isinstance(state, list) else None), (text if isinstance(text, str) else None)

    def remember_screenshot(self, name: str, data: bytes, mime: str) -> None:
        """Keep a screenshot for the `screenshot://` resource (the oldest go first)."""
        self.screenshots.pop(name, None)
        self.screenshots[name] = (data, mime)
        while len(self.screenshots) > _MAX_SCREENSHOTS:
            self.screenshots.popitem(last=False)

    async def close(self) -> None:
        """Close this client's context (a shared persistent one stays open)."""
        if self.closed:
            return
        self.closed = True
        for tab in self.tabs:
            for task in tab.background:
                task.cancel()
        if not self.shared:
            with contextlib.suppress(Exception):
                await self.context.close()


def _quietly_done(bucket: set[asyncio.Future[Any]]) -> Any:
    def done(task: asyncio.Future[Any]) -> None:
        bucket.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved

    return done


def _read_limited(path: str, limit: int) -> bytes | None:
    """Playwright's own temporary download file (not a model-given path), or None above `limit` bytes."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    return None if len(data) > limit else data


def _safe_name(name: str) -> str:
    """A file name from a page, reduced to a harmless base name."""
    base = _SAFE_NAME.sub("_", os.path.basename(name.replace("\\", "/"))).strip(" .")
    return (base or "download")[:150]


def _numbered(name: str, attempt: int) -> str:
    stem, dot, suffix = name.rpartition(".")
    return f"{stem} ({attempt}).{suffix}" if dot and stem else f"{name} ({attempt})"


class Browser:
    """One lazily started Chromium behind an egress proxy, and the sessions of the clients using it."""

    def __init__(self, options: BrowserOptions, policy: EgressPolicy) -> None:
        check_operator_args(options.args)
        self.options = options
        self.policy = policy
        self.proxy: EgressProxy | None = None
        self._playwright: Playwright | None = None
        self._browser: PlaywrightBrowser | None = None
        self._persistent: BrowserContext | None = None
        self._sessions: dict[Any, Session] = {}
        self._lock = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None
        self._busy = 0
        self._holders = 0
        self._closing: asyncio.Future[None] | None = None  # a close started by a timer or a finaliser
        self.launches = 0
        self.idle_closes = 0
        self.context_closes = 0  # user contexts closed for idleness or count (`_make_room`)

    @property
    def running(self) -> bool:
        """Whether Chromium is running now."""
        return self._browser is not None or self._persistent is not None

    # --- lifetime -----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def held(self) -> Any:
        """Keep the browser for the duration of the block; the last holder to leave closes it.

        The server's lifespan holds it (once per process on stdio and HTTP, once per connection for an
        in-process client), so one client leaving does not close the browser under another.
        """
        self._holders += 1
        try:
            yield self
        finally:
            self._holders -= 1
            if self._holders == 0:
                await self.close()

    @contextlib.asynccontextmanager
    async def using(self, key: Any, owner: Any = None) -> Any:
        """The session for `key` during a call: neither idleness nor the count closes it meanwhile."""
        session = await self.session(key, owner)
        session.calls += 1
        try:
            yield session
        finally:
            session.calls -= 1
            session.last_used = time.monotonic()

    @contextlib.asynccontextmanager
    async def use(self) -> Any:
        """Mark a tool call in progress (the idle timer waits for it), and restart the timer after."""
        self._busy += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0 and self.running:
                loop = asyncio.get_running_loop()
                self._idle = loop.call_later(self.options.idle_timeout, self._idle_expired)

    def _idle_expired(self) -> None:
        self._idle = None
        if self._busy == 0 and self.running:
            log.info("browser idle; closing", seconds=self.options.idle_timeout)
            self.idle_closes += 1
            task = asyncio.ensure_future(self.close())
            self._closing = task  # keep a reference until it finishes

    async def _launch(self) -> None:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import async_playwright

        started = time.perf_counter()
        if self.options.user_data_dir:
            _check_profile_free(self.options.user_data_dir)
        self.proxy = EgressProxy(self.policy)
        await self.proxy.start()
        self._playwright = await async_playwright().start()
        options = self.options
        args = [*DEFAULT_ARGS, *options.args]
        launch: dict[str, Any] = {
            "headless": options.headless,
            "chromium_sandbox": options.sandbox,
            "args": args,
            "proxy": {"server": self.proxy.url, "bypass": ""},
            "handle_sigint": False,
            "handle_sigterm": False,
            "handle_sighup": False,
        }
        executable = options.executable_path or find_chromium()
        if executable:
            launch["executable_path"] = executable
        try:
            if options.user_data_dir:
                self._persistent = await self._playwright.chromium.launch_persistent_context(
                    options.user_data_dir, **launch, **self._context_options()
                )
            else:
                self._browser = await self._playwright.chromium.launch(**launch)
        except PlaywrightError as exc:
            await self._stop_driver()
            first = str(exc).strip().splitlines()[0][:300]
            if options.user_data_dir and ("ProcessSingleton" in str(exc) or "SingletonLock" in str(exc)):
                raise UserError(
                    f"The browser profile {options.user_data_dir} is in use by another browser.",
                    hint="Close that browser, or ask the operator to start this server with another "
                    "--user-data-dir (or none, for a fresh profile per session).",
                ) from None
            if executable is None and "xecutable doesn't exist" in str(exc):
                from patchbay_browser.discovery import INSTALL_HINT

                raise UserError(
                    "No browser to launch: no Chrome, Chromium or Edge was found on this machine and "
                    "Playwright's own Chromium is not installed.",
                    hint=f"The operator should {INSTALL_HINT}.",
                ) from None
            raise UserError(
                f"The browser could not start: {first}",
                hint="The operator should check --executable-path (a Chromium binary) and the browser flags.",
            ) from None
        self.launches += 1
        log.info("browser started", ms=round((time.perf_counter() - started) * 1000), executable=executable)

    def _context_options(self) -> dict[str, Any]:
        width, height = self.options.viewport
        context: dict[str, Any] = {
            "viewport": {"width": width, "height": height},
            "accept_downloads": self.options.downloads_dir is not None,
            "service_workers": "block",
        }
        if self.options.user_agent:
            context["user_agent"] = self.options.user_agent
        return context

    async def session(self, key: Any, owner: Any = None) -> Session:
        """The session for `key`, starting the browser and creating the context if needed.

        When `owner` is given (an object living as long as the client's connection), the session closes
        once it is garbage-collected. Other sessions idle for `idle_timeout`, and the least recently used
        beyond `max_contexts`, are closed first.
        """
        async with self._lock:
            if self._browser is not None and not self._browser.is_connected():
                await self._discard_dead_browser()
            found = self._sessions.get(key)
            if found is not None and not found.closed:
                found.last_used = time.monotonic()
                return found
            await self._make_room()
            if not self.running:
                await self._launch()
            if self._persistent is not None:
                context = self._persistent
                shared = True
            else:
                assert self._browser is not None
                context = await self._browser.new_context(**self._context_options())
                shared = False
            session = Session(context, self, shared=shared)
            await context.route(_not_web, _refuse_scheme)
            context.on("page", session.adopt)
            for page in context.pages:
                session.tab_for(page)
            self._sessions[key] = session
            if owner is not None:
                weakref.finalize(owner, self._forget, key)
            return session

    async def _make_room(self) -> None:
        """Close the sessions idle for `idle_timeout`, then the least recently used beyond `max_contexts - 1`.

        A session with a call running is never closed here. Called under the lock, before a new session.
        """
        limit = time.monotonic() - self.options.idle_timeout
        idle = [(key, s) for key, s in self._sessions.items() if s.calls == 0 and s.last_used < limit]
        spare = sorted(
            ((key, s) for key, s in self._sessions.items() if s.calls == 0 and s.last_used >= limit),
            key=lambda item: item[1].last_used,
        )
        over = len(self._sessions) - len(idle) - (self.options.max_contexts - 1)
        for key, session in [*idle, *spare[: max(0, over)]]:
            self._sessions.pop(key, None)
            self.context_closes += 1
            await session.close()
        if idle or over > 0:
            log.info("closed idle or least recently used browser contexts", open=len(self._sessions))

    async def _discard_dead_browser(self) -> None:
        """Forget a Chromium whose process ended (killed, crashed), so the next call starts a new one."""
        log.warning(
            "the browser process ended unexpectedly; starting a new one", sessions=len(self._sessions)
        )
        for session in self._sessions.values():
            session.closed = True
        self._sessions = {}
        self._browser = None
        await self._stop_driver()

    def _forget(self, key: Any) -> None:
        session = self._sessions.pop(key, None)
        if session is not None:
            with contextlib.suppress(RuntimeError):
                task = asyncio.get_running_loop().create_task(session.close())
                self._closing = task

    def find(self, key: Any) -> Session | None:
        """The open session for `key`, without starting anything."""
        found = self._sessions.get(key)
        return found if found is not None and not found.closed else None

    def sessions(self) -> list[Session]:
        """The open sessions."""
        return [s for s in self._sessions.values() if not s.closed]

    async def close(self) -> None:
        """Close every session, Chromium, the driver and the proxy (a later call starts them again)."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        async with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
            for session in sessions:
                await session.close()
            if self._persistent is not None:
                with contextlib.suppress(Exception):
                    await self._persistent.close()
                self._persistent = None
            if self._browser is not None:
                with contextlib.suppress(Exception):
                    await self._browser.close()
                self._browser = None
            await self._stop_driver()

    async def _stop_driver(self) -> None:
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
            self._playwright = None
        if self.proxy is not None:
            await self.proxy.close()
            self.proxy = None

    # --- checks -------------------------------------------------------------------------------------

    async def check_url(self, url: str) -> str:
        """Refuse a URL the browser must not open; return it (about:blank passes)."""
        if url == "about:blank":
            return url
        scheme = urlsplit(url).scheme.lower()
        if scheme not in SCHEMES:
            shown = scheme or "(none)"
            raise UserError(
                f"The URL {url[:200]} uses the scheme {shown!r}; the browser opens only http and https URLs.",
                hint="Give an http:// or https:// URL (file:, data:, javascript:, chrome: and view-source: "
                "are refused).",
            )
        await self.policy.check_url(url)
        return url

    def denials_since(self, since: float) -> list[str]:
        """The egress refusals since `since`, as text."""
        if self.proxy is None:
            return []
        return [f"{d.target}: {d.reason}" for d in self.proxy.denied_since(since)]


def _not_web(url: str) -> bool:
    return urlsplit(url).scheme.lower() not in (*SCHEMES, "about", "blob")


async def _refuse_scheme(route: Any) -> None:
    await route.abort("blockedbyclient")


def _check_profile_free(directory: str) -> None:
    """Refuse a persistent profile another Chromium holds (its SingletonLock names a live process)."""
    lock = os.path.join(directory, "SingletonLock")
    try:
        target = os.readlink(lock)
    except OSError:
        return
    host, _, pid = target.rpartition("-")
    if host and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        raise UserError(
            f"The browser profile {directory} is in use by another browser (process {pid}).",
            hint="Close that browser, or ask the operator to start this server with another --user-data-dir "
            "(or none, for a fresh profile per session).",
        )


def new_name(prefix: str) -> str:
    """A short unique name, e.g. for a screenshot nobody named."""
    return f"{prefix}-{secrets.token_hex(3)}"
