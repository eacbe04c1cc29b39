"""The browser server end to end through an MCP client, against Debian's Chromium and a local site."""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ImageContent

from patchbay_browser.server import build
from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.modules import import_file
from patchbay_common.testing.results import text as text_of

pytestmark = pytest.mark.anyio

paging = import_file(Path(__file__).parent / "browser_paging.py", "patchbay_browser_tests_paging")


def settings_for(*flags: str) -> Any:
    from patchbay_browser.server import Settings

    return Settings(_cli_parse_args=list(flags))  # type: ignore[call-arg]


async def ok(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, text_of(result)
    return text_of(result)


def ref_of(snapshot: str, line_start: str) -> str:
    """The ref on the snapshot line that starts (after indentation) with `line_start`."""
    for line in snapshot.splitlines():
        if line.lstrip().startswith(line_start):
            found = re.search(r"\[((?:f\d+)?e\d+)\]", line)
            assert found, line
            return found.group(1)
    raise AssertionError(f"no line starting with {line_start!r} in:\n{snapshot}")


BASE_TOOLS = {
    "navigate", "go_back", "go_forward", "snapshot", "screenshot", "wait_for", "console_messages",
    "network_requests", "click", "hover", "fill", "type_text", "press_key", "select_option", "handle_dialog",
    "resize", "list_tabs", "new_tab", "select_tab", "close_tab",
}  # fmt: skip


@pytest.mark.parametrize("era", ERAS)
async def test_tools_follow_the_configuration_and_nothing_starts_before_a_call(server: Any, era: Era) -> None:
    plain = build(settings_for())
    async with connect(plain, era=era) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == BASE_TOOLS
    assert not plain.browser.running
    snapshot = tools["snapshot"].annotations
    assert snapshot is not None and snapshot.read_only_hint is True and snapshot.open_world_hint is True
    click = tools["click"].annotations
    assert click is not None and click.read_only_hint is False and click.destructive_hint is True
    assert all(tool.description and tool.description.isascii() for tool in tools.values())
    async with connect(server, era=era) as client:
        full = {tool.name for tool in (await client.list_tools()).tools}
    assert full == BASE_TOOLS | {"upload_file", "list_downloads", "save_pdf", "evaluate"}


@pytest.mark.parametrize("era", ERAS)
async def test_navigate_snapshot_act_with_refs_that_stay_stable(server: Any, site: Any, era: Era) -> None:
    async with connect(server, era=era) as client:
        text = await ok(client, "navigate", url=site.url("/"))
        assert f"Navigated to {site.url('/')} (HTTP 200)." in text
        assert "Title: Home page" in text and re.search(r"<untrusted-data-[0-9a-f]{16}", text)
        first = await ok(client, "snapshot")
        assert f'URL: {site.url("/")}\nTitle: "Home page"' in first
        assert 'h1 "Welcome"' in first and "-> /two" in first
        press, add = ref_of(first, 'button "Press me"'), ref_of(first, 'button "Add item"')
        assert f"Clicked {press}." in await ok(client, "click", ref=press)
        await ok(client, "click", ref=add)
        changes = await ok(client, "snapshot", changes_only=True)
        assert "Changes since the last snapshot:" in changes
        assert re.search(r"^- +nothing yet$", changes, re.M) and re.search(r"^\+ +pressed 1$", changes, re.M)
        assert re.search(r"^\+ +item 0$", changes, re.M)
        again = await ok(client, "snapshot")
        assert ref_of(again, 'button "Press me"') == press and ref_of(again, 'button "Add item"') == add
        assert "(no change since the last snapshot)" in await ok(client, "snapshot", changes_only=True)
        link = ref_of(again, 'link "Second page"')
        moved = await ok(client, "click", ref=link)
        assert f"The page is now {site.url('/two')}." in moved and "Title: Second page" in moved
        back = await ok(client, "go_back")
        assert back.rstrip().endswith("Went back.") and f"URL: {site.url('/')}" in back
        assert "Title: Second page" in await ok(client, "go_forward")
        stale = await refused(client, "click", ref=press)
        if press not in await ok(client, "snapshot"):
            assert f"No element has the ref {press} on the current page." in stale
        assert "is not a ref" in await refused(client, "click", ref="button")


async def test_fill_type_press_select_hover_and_check(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/"))
        page = await ok(client, "snapshot")
        name, fruit = ref_of(page, 'textbox "Name"'), ref_of(page, 'combobox "Fruit"')
        assert f"Filled {name} with 3 characters." in await ok(client, "fill", ref=name, value="Ada")
        await ok(client, "type_text", ref=name, text=" L")
        assert f"Selected b in {fruit}." in await ok(client, "select_option", ref=fruit, values=["Banana"])
        missing = await refused(client, "select_option", ref=fruit, values=["Cherry"])
        assert "'Cherry' is not an option of" in missing and "'Banana' (b)" in missing
        assert "is not a select element" in await refused(client, "select_option", ref=name, values=["x"])
        await ok(client, "click", ref=ref_of(page, 'checkbox "I agree"'))
        await ok(client, "hover", ref=ref_of(page, "generic ["))
        query = ref_of(page, 'textbox "Query"')
        await ok(client, "fill", ref=query, value="tides")
        await ok(client, "press_key", ref=query, key="Enter")
        after = await ok(client, "snapshot")
        assert 'textbox "Name" [' in after and ": Ada L" in after
        assert "Ada L" in after.split('textbox "Name"', 1)[1]  # the keyup echo saw the typed keys
        assert re.search(r'option "Banana" \[selected\]', after)
        assert re.search(r'checkbox "I agree" \[checked\]', after)
        assert "hovered" in after and "submitted Ada L" in after
        await ok(client, "type_text", text="!", ref=name, submit=True)
        assert "Pressed Tab" in await ok(client, "press_key", key="Tab")


async def test_snapshot_windows_cursor_subtree_and_full_text(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/big"))
        first = await ok(client, "snapshot", max_chars=2000)
        marker = paging.MARKER.search(first)
        assert marker is not None, first
        start, end, total = (int(marker.group(i)) for i in (1, 2, 3))
        assert start == 0 and 1000 < end <= 2000 and total > 50_000
        assert f'URL: {site.url("/big")}\nTitle: "Big"' in first
        assert paging.framed(first).endswith("]")  # the window ends at a line end, a ref last on it
        second = await ok(client, "snapshot", cursor=marker.group(5), max_chars=2000)
        assert f"showing characters {end}-" in second
        assert paging.framed(second).splitlines()[0] == f"URL: {site.url('/big')} (continued)"
        capped = await ok(client, "snapshot")  # the window leaves room for the header, frame and marker
        shown = int(re.search(r"showing characters 0-(\d+) of", capped).group(1))  # type: ignore[union-attr]
        assert 23_000 < shown < 25_000 and len(capped) <= 25_000
        body, signature = marker.group(5).split(".")
        forged = f"{body[:9]}{'B' if body[9] == 'A' else 'A'}{body[10:]}.{signature}"
        assert "The cursor is not valid" in await refused(client, "snapshot", cursor=forged)
        too_many = await refused(client, "snapshot", max_chars=30_000)
        assert "max_chars 30,000 is more than this server returns in one answer (25,000" in too_many
        await ok(client, "navigate", url=site.url("/"))
        page = await ok(client, "snapshot")
        nav = ref_of(page, 'navigation "Main"')
        sub = await ok(client, "snapshot", ref=nav)
        assert f"Subtree of {nav}" in sub and 'link "Second page"' in sub and "Welcome" not in sub
        assert "No element has the ref e9999" in await refused(client, "snapshot", ref="e9999")


async def test_long_text_is_shortened_unless_full_text(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/"))
        await ok(
            client, "evaluate", script="document.getElementById('out').textContent = 'long '.repeat(100)"
        )
        short = await ok(client, "snapshot")
        assert "...(+" in short and "long " * 60 not in short
        full = await ok(client, "snapshot", full_text=True)
        assert "long " * 99 in full


async def test_dialogs_hold_the_page_until_handled(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/dialogs"))
        page = await ok(client, "snapshot")
        alert = await ok(client, "click", ref=ref_of(page, 'button "Alert"'))
        assert "A alert dialog is open" in alert and "Saved!" in alert and "handle_dialog" in alert
        blocked = await refused(client, "snapshot")
        assert "dialog is open" in blocked and "handle_dialog" in blocked
        assert "Accepted the alert dialog" in await ok(client, "handle_dialog", accept=True)
        assert "after alert" in await ok(client, "snapshot")
        await ok(client, "click", ref=ref_of(page, 'button "Confirm"'))
        await ok(client, "handle_dialog", accept=False)
        assert "cancelled" in await ok(client, "snapshot")
        prompt = await ok(client, "click", ref=ref_of(page, 'button "Prompt"'))
        assert "default answer 'Paris'" in prompt
        await ok(client, "handle_dialog", accept=True, prompt_text="Oslo")
        assert "answer: Oslo" in await ok(client, "snapshot")
        assert "No dialog is open" in await refused(client, "handle_dialog", accept=True)


async def test_tabs_open_select_and_close(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/tabs"))
        page = await ok(client, "snapshot")
        opened = await ok(client, "click", ref=ref_of(page, 'link "Open in new tab"'))
        if "A new tab opened; the newest is selected" not in opened:
            # A loaded machine may open the popup after the click's settle time: the next action tells it.
            for _ in range(50):
                if "* 1:" in await ok(client, "list_tabs"):
                    break
                await asyncio.sleep(0.1)
            later = await ok(client, "press_key", key="Shift")
            assert "A new tab opened; the newest is selected" in later
        tabs = await ok(client, "list_tabs")
        assert f"  0: {site.url('/tabs')}" in tabs and f"* 1: {site.url('/two')}" in tabs
        created = await ok(client, "new_tab", url=site.url("/dialogs"))
        assert f"* 2: {site.url('/dialogs')}" in created
        selected = await ok(client, "select_tab", index=0)
        assert f"* 0: {site.url('/tabs')}" in selected
        assert 'link "Open in new tab"' in await ok(client, "snapshot")
        remaining = await ok(client, "close_tab", index=1)
        assert site.url("/two") not in remaining and site.url("/dialogs") in remaining
        assert "There is no tab 7" in await refused(client, "select_tab", index=7)


async def test_a_popup_slower_than_the_click_is_told_by_the_next_action(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/tabs"))
        page = await ok(client, "snapshot")
        clicked = await ok(client, "click", ref=ref_of(page, 'button "Pop up late"'))
        assert "new tab" not in clicked
        for _ in range(50):
            if "* 1:" in await ok(client, "list_tabs"):
                break
            await asyncio.sleep(0.1)
        later = await ok(client, "press_key", key="Shift")
        assert "A new tab opened; the newest is selected" in later and site.url("/two") in later
        assert "new tab" not in await ok(client, "press_key", key="Shift")


async def test_downloads_land_in_the_operator_directory_under_safe_names(
    server: Any, site: Any, dirs: dict[str, Path]
) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/download"))
        page = await ok(client, "snapshot")
        got = await ok(client, "click", ref=ref_of(page, 'link "Get the CSV"'))
        saved = dirs["downloads"] / "tides.csv"
        assert f"Downloaded tides.csv (25 B) from {site.url('/file.csv')} to {saved}." in got
        assert saved.read_text() == "day,high,low\nmon,5.1,0.9\n"
        bad = await ok(client, "click", ref=ref_of(page, 'link "Get a badly named file"'))
        evil = [p for p in dirs["downloads"].iterdir() if p.name.endswith("evil.sh")]
        assert len(evil) == 1 and f"to {evil[0]}." in bad and "/" not in evil[0].name
        assert not (dirs["downloads"].parent / "etc").exists()
        again = await ok(client, "click", ref=ref_of(page, 'link "Get the CSV"'))
        assert "tides (1).csv" in again and saved.read_text().startswith("day")
        listing = await ok(client, "list_downloads")
        assert listing.count("Downloaded") == 3
        pdf = await ok(client, "save_pdf", name="download-page")
        assert f"to {dirs['downloads'] / 'download-page.pdf'}" in pdf
        assert (dirs["downloads"] / "download-page.pdf").read_bytes().startswith(b"%PDF")


async def test_downloads_are_refused_without_a_directory(chromium_path: str, site: Any) -> None:
    plain = build(settings_for("--allow-host", "127.0.0.1", "--executable-path", chromium_path))
    try:
        async with connect(plain) as client:
            await ok(client, "navigate", url=site.url("/download"))
            page = await ok(client, "snapshot")
            got = await ok(client, "click", ref=ref_of(page, 'link "Get the CSV"'))
            assert "was not saved" in got and "--downloads-dir" in got
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "list_downloads" not in names and "upload_file" not in names and "evaluate" not in names
    finally:
        await plain.browser.close()


async def test_uploads_only_from_the_allowed_directories(
    server: Any, site: Any, dirs: dict[str, Path]
) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/upload"))
        page = await ok(client, "snapshot")
        field = ref_of(page, 'button "Attachment"')
        outside = await refused(client, "upload_file", ref=field, paths=[str(dirs["outside"] / "secret.txt")])
        assert "Access denied" in outside and "outside the allowed directories" in outside
        escape = await refused(client, "upload_file", ref=field, paths=["escape.txt"])
        assert "outside the allowed directories" in escape
        traversal = await refused(client, "upload_file", ref=field, paths=["../outside/secret.txt"])
        assert "Access denied" in traversal
        assert "none" in await ok(client, "snapshot")  # nothing was attached by the refused calls
        done = await ok(
            client, "upload_file", ref=field, paths=["report.txt", str(dirs["uploads"] / "photo.png")]
        )
        assert done == f"Attached report.txt, photo.png to {field}."
        assert "report.txt:17, photo.png:108" in await ok(client, "snapshot")


async def test_each_connection_gets_its_own_cookies(server: Any, site: Any) -> None:
    gc.collect()
    await anyio.sleep(0.1)
    before = len(server.browser.sessions())
    async with connect(server) as alice, connect(server) as bob:
        await ok(alice, "navigate", url=site.url("/cookie?v=alice"))
        await ok(bob, "navigate", url=site.url("/whoami"))
        assert "cookie: no cookie" in await ok(bob, "snapshot")
        await ok(alice, "navigate", url=site.url("/whoami"))
        assert "cookie: v=alice" in await ok(alice, "snapshot")
        assert site.url("/cookie") not in await ok(bob, "list_tabs")
        assert len(server.browser.sessions()) == before + 2
    gc.collect()  # the connections are gone: their contexts close
    await anyio.sleep(0.2)
    assert len(server.browser.sessions()) == before


async def test_a_persistent_profile_is_shared_and_refused_while_in_use(
    chromium_path: str, site: Any, tmp_path: Path
) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "SingletonLock").symlink_to(f"otherhost-{os.getpid()}")
    shared = build(
        settings_for(
            "--allow-host", "127.0.0.1", "--executable-path", chromium_path, "--user-data-dir", str(profile)
        )
    )
    try:
        async with connect(shared) as client:
            locked = await refused(client, "navigate", url=site.url("/"))
            assert (
                f"The browser profile {profile} is in use by another browser (process {os.getpid()})"
                in locked
            )
            assert not shared.browser.running
            (profile / "SingletonLock").unlink()
            await ok(client, "navigate", url=site.url("/cookie?v=kept"))
            async with connect(shared) as other:  # every client shares the operator's profile
                await ok(other, "navigate", url=site.url("/whoami"))
                assert "cookie: v=kept" in await ok(other, "snapshot")
        assert not shared.browser.running  # the last client left: the browser closed
    finally:
        await shared.browser.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///etc/passwd", "uses the scheme 'file'"),
        ("data:text/html,<h1>hi</h1>", "uses the scheme 'data'"),
        ("javascript:alert(1)", "uses the scheme 'javascript'"),
        ("chrome://settings", "uses the scheme 'chrome'"),
        ("view-source:http://127.0.0.1/", "uses the scheme 'view-source'"),
        ("http://169.254.169.254/latest/meta-data/", "is a cloud metadata address"),
        ("http://[::1]:9/", "is a loopback address"),
        ("http://10.0.0.1/", "is a private address"),
    ],
)
async def test_blocked_navigations_say_why(server: Any, url: str, expected: str) -> None:
    async with connect(server) as client:
        text = await refused(client, "navigate", url=url)
    assert expected in text


async def test_internal_hosts_redirects_and_subrequests_are_refused(
    server: Any, site: Any, internal_site: Any
) -> None:
    before = sum(internal_site.hits.values())
    async with connect(server) as client:
        direct = await refused(client, "navigate", url=internal_site.url("/"))
        assert (
            "Refused to connect: 127.0.0.2 is a loopback address." in direct and "--allow-private" in direct
        )
        redirected = await refused(
            client, "navigate", url=site.url(f"/redirect?to={internal_site.url('/two')}")
        )
        assert "127.0.0.2 is a loopback address" in redirected
        page = await ok(client, "navigate", url=site.url(f"/subrequests?target={internal_site.base}"))
        assert "The egress guard refused" in page
        await ok(client, "wait_for", text="Sub-requests to")
        failed = await ok(client, "network_requests", failed_only=True)
        for path in ("/pixel.png", "/script.js", "/style.css", "/frame", "/fetch", "/xhr"):
            assert f"{internal_site.base}{path}" in failed, failed
        assert "blocked by the egress guard" in failed
    assert sum(internal_site.hits.values()) == before


async def test_unconfigured_server_refuses_loopback_before_starting_a_browser(site: Any) -> None:
    plain = build(settings_for())
    async with connect(plain) as client:
        text = await refused(client, "navigate", url=site.url("/"))
    assert "Refused to connect: 127.0.0.1 is a loopback address." in text
    assert not plain.browser.running
    assert site.hits["/"] >= 0


async def test_browser_starts_lazily_and_closes_when_idle(chromium_path: str, site: Any) -> None:
    idle = build(
        settings_for("--allow-host", "127.0.0.1", "--executable-path", chromium_path, "--idle-timeout", "0.5")
    )
    try:
        async with connect(idle) as client:
            await client.list_tools()
            assert not idle.browser.running
            await ok(client, "navigate", url=site.url("/"))
            assert idle.browser.running and idle.browser.launches == 1
            await anyio.sleep(1.2)
            assert not idle.browser.running and idle.browser.idle_closes == 1
            assert "Second page" in await ok(client, "navigate", url=site.url("/two"))
            assert idle.browser.launches == 2
    finally:
        await idle.browser.close()


def _kill_processes_with_argument(argument: str) -> int:
    """SIGKILL every process whose command line holds `argument`; how many there were."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argument.encode() in cmdline:
                os.kill(int(entry.name), 9)
                killed += 1
    return killed


async def test_a_killed_browser_is_replaced_on_the_next_call(chromium_path: str, site: Any) -> None:
    fresh = build(settings_for("--allow-host", "127.0.0.1", "--executable-path", chromium_path))
    try:
        async with connect(fresh) as client:
            await ok(client, "navigate", url=site.url("/"))
            assert fresh.browser.proxy is not None
            killed = _kill_processes_with_argument(f"--proxy-server={fresh.browser.proxy.url}")
            assert killed == 1
            await anyio.sleep(0.5)
            assert "Second page" in await ok(client, "navigate", url=site.url("/two"))
            assert fresh.browser.launches == 2
    finally:
        await fresh.browser.close()


async def test_console_evaluate_and_resources(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/console"))
        console = await ok(client, "console_messages")
        assert "[log] hello from the page" in console and "[error] something broke" in console
        result = await ok(client, "evaluate", script="console.log('from eval'); return document.title")
        assert 'Result:\n"Console"' in result and "[log] from eval" in result
        assert "Result:\n4" in await ok(client, "evaluate", script="2 + 2")
        failed = await refused(client, "evaluate", script="throw new Error('nope')")
        assert "The script failed" in failed and "nope" in failed
        logs = await client.read_resource("console://logs")
        assert "hello from the page" in logs.contents[0].text  # type: ignore[union-attr]
        shot = await client.call_tool("screenshot", {"name": "console-page"})
        assert not shot.is_error and isinstance(shot.content[-1], ImageContent)
        stored = await client.read_resource("screenshot://console-page")
        blob = stored.contents[0].blob  # type: ignore[union-attr]
        assert base64.b64decode(blob).startswith(b"\x89PNG")


async def test_screenshots_viewport_element_full_page_and_jpeg(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/"))
        page = await ok(client, "snapshot")
        viewport = await client.call_tool("screenshot", {})
        image = viewport.content[-1]
        assert isinstance(image, ImageContent) and image.mime_type == "image/png"
        element = await client.call_tool(
            "screenshot", {"ref": ref_of(page, 'button "Press me"'), "format": "jpeg"}
        )
        small = element.content[-1]
        assert isinstance(small, ImageContent) and small.mime_type == "image/jpeg"
        assert len(small.data) < len(image.data)
        full = await client.call_tool("screenshot", {"full_page": True})
        assert not full.is_error
        assert await ok(client, "resize", width=400, height=300) == "Viewport is now 400x300."


async def test_a_large_screenshot_falls_back_to_jpeg_or_fails_clearly(chromium_path: str, site: Any) -> None:
    capped = build(
        settings_for(
            "--allow-host", "127.0.0.1", "--executable-path", chromium_path, "--max-screenshot-kb", "100"
        )
    )
    try:
        async with connect(capped) as client:
            await ok(client, "navigate", url=site.url("/photo"))
            viewport = await client.call_tool("screenshot", {})
            assert not viewport.is_error and "re-encoded as JPEG quality 40 to fit 100 KB" in text_of(
                viewport
            )
            image = viewport.content[-1]
            assert isinstance(image, ImageContent) and image.mime_type == "image/jpeg"
            assert len(base64.b64decode(image.data)) <= 100 * 1024
            result = await client.call_tool("screenshot", {"full_page": True})
            assert result.is_error
            assert "even as JPEG, over the 100 KB limit" in text_of(result) and "ref" in text_of(result)
    finally:
        await capped.browser.close()


async def test_wait_for_text_and_its_timeout(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/delayed"))
        assert (
            await ok(client, "wait_for", text="Ready now", text_gone="Loading...")
            == "Done: text 'Ready now' is visible; text 'Loading...' is gone."
        )
        late = await refused(client, "wait_for", text="Never shown", seconds=0.3)
        assert "Waited 0.3 s; the condition did not come true" in late
        assert "Nothing to wait for" in await refused(client, "wait_for")
