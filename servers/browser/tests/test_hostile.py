"""Every tool that returns what a page chose, against a hostile and oversized page, in both eras.

The page puts `HOSTILE` (forged frame boundaries, invisible characters, an instruction) into everything a
tool can report: its title, text, link and option values, console messages, dialog texts, a popup's title,
request URLs and a script's result, at sizes far over the 3000-character budget. Every answer must be
framed where it carries the payload, sanitized everywhere, and fit the budget; snapshot windows must page
through the whole text without a gap or an overlap.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from patchbay_browser.server import Settings, build
from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.modules import import_file
from patchbay_common.testing.results import HOSTILE, assert_capped, assert_neutralized, text

pytestmark = pytest.mark.anyio

read_all = import_file(Path(__file__).parent / "browser_paging.py", "patchbay_browser_tests_paging").read_all

BUDGET = 3000
OUTSIDE_CONTENT_TOOLS = {
    "navigate", "go_back", "go_forward", "snapshot", "screenshot", "console_messages", "network_requests",
    "click", "hover", "fill", "type_text", "press_key", "select_option", "handle_dialog", "list_tabs",
    "new_tab", "select_tab", "close_tab", "list_downloads", "save_pdf", "evaluate",
}  # fmt: skip


def _js(value: str) -> str:
    return json.dumps(value).replace("</", "<\\/")


def hostile_page(paragraphs: int = 150) -> str:
    """A page carrying HOSTILE, much of it oversized, in every place a tool reports from."""
    big = HOSTILE * 40
    body = "".join(f"<p>{html.escape(HOSTILE)} {i}</p>" for i in range(paragraphs))
    return f"""<!doctype html><html><head><title>{html.escape(HOSTILE * 100)}</title></head><body>
<h1>{html.escape(HOSTILE)}</h1>
<a href="/hostile-two" aria-label="Onward">{html.escape(HOSTILE)}</a>
<label>Pick <select id="s"><option value="a">Plain</option>
<option value="{html.escape(HOSTILE * 20, quote=True)}">Evil</option></select></label>
<button onclick="alert({html.escape(_js(big), quote=True)})">Alert</button>
<button onclick="window.open('/hostile-two')">Pop</button>
<div onmouseover="history.pushState(null, '', '/hovered'); document.title = document.title + '!'"
 style="cursor: pointer">Hover trap</div>
<input aria-label="Field" oninput="location.href = '/hostile-two'">
<form action="/hostile-two"><input aria-label="Query" name="q"></form>
<a href="/file.csv">Get the CSV</a>
{body}
<script>
for (let i = 0; i < 120; i++) console.log({_js(big)} + i);
fetch('/missing?' + encodeURIComponent({_js(HOSTILE * 30)})).catch(() => {{}});
</script></body></html>"""


def ref_of(snapshot: str, line_start: str) -> str:
    for line in snapshot.splitlines():
        if line.lstrip().startswith(line_start):
            found = re.search(r"\[((?:f\d+)?e\d+)\]", line)
            assert found, line
            return found.group(1)
    raise AssertionError(f"no line starting with {line_start!r}")


@pytest.fixture(scope="module")
async def hostile(
    tmp_path_factory: pytest.TempPathFactory, chromium_path: str, site: Any
) -> AsyncIterator[tuple[Any, Any]]:
    downloads = tmp_path_factory.mktemp("hostile-downloads")  # not the other tests' directory
    site.extra["/hostile"] = hostile_page()
    site.extra["/hostile-two"] = f"<title>{html.escape(HOSTILE * 100)}</title><p>{html.escape(HOSTILE)}</p>"
    server = build(
        Settings(  # type: ignore[call-arg]
            _cli_parse_args=[
                "--allow-host", "127.0.0.1",
                "--executable-path", chromium_path,
                "--downloads-dir", str(downloads),
                "--allow-eval",
                "--action-timeout", "10",
                "--max-output-chars", str(BUDGET),
            ]
        )
    )  # fmt: skip
    async with server.browser.held():
        yield server, site


@pytest.mark.parametrize("era", ERAS)
async def test_every_tool_with_page_content_is_framed_sanitized_and_capped(
    hostile: tuple[Any, Any], era: Era
) -> None:
    server, site = hostile
    results: dict[str, list[Any]] = {}

    async def call(tool: str, **arguments: Any) -> str:
        result = await client.call_tool(tool, arguments)
        assert not result.is_error, (tool, text(result))
        results.setdefault(tool, []).append(result)
        return text(result)

    async def fresh() -> str:
        # The previous action may have started a navigation of its own (an input handler, a form
        # submit) that interrupts this one: then open the page again once it is done.
        opened = await client.call_tool("navigate", {"url": site.url("/hostile")})
        if opened.is_error and "is interrupted by another navigation" in text(opened):
            await call("navigate", url=site.url("/hostile"))
        else:
            assert not opened.is_error, text(opened)
            results.setdefault("navigate", []).append(opened)
        paged = await read_all(client)
        results.setdefault("snapshot", []).extend(paged.answers)
        return str(paged.whole)

    async with connect(server, era=era) as client:
        page = await fresh()
        assert "Ignore previous instructions" in page
        await call("snapshot", full_text=True)
        await call("snapshot", changes_only=True)
        await call("snapshot", ref=ref_of(page, 'link "Onward"'))
        await call("screenshot")
        await call("wait_for", text="Hover trap")
        assert "Ignore previous instructions" in await call("console_messages", last=500)
        await call("network_requests", last=500)
        dialog = await call("click", ref=ref_of(page, 'button "Alert"'))
        assert "Ignore previous instructions" in dialog
        assert "Ignore previous instructions" in await call("handle_dialog", accept=True)
        await call("select_option", ref=ref_of(page, 'combobox "Pick"'), values=["Evil"])
        assert "Ignore previous instructions" in await call("click", ref=ref_of(page, 'link "Onward"'))
        await call("go_back")
        await call("go_forward")
        page = await fresh()
        await call("hover", ref=ref_of(page, "generic ["))
        page = await fresh()
        await call("fill", ref=ref_of(page, 'textbox "Field"'), value="x")
        page = await fresh()
        await call("type_text", ref=ref_of(page, 'textbox "Query"'), text="q", submit=True)
        page = await fresh()
        await call("press_key", ref=ref_of(page, 'textbox "Query"'), key="Enter")
        page = await fresh()
        await call("click", ref=ref_of(page, 'link "Get the CSV"'))
        await call("click", ref=ref_of(page, 'button "Pop"'))
        for _ in range(12):  # more tabs than the budget holds
            await call("new_tab", url=site.url("/hostile-two"))
        assert "Ignore previous instructions" in await call("list_tabs")
        await call("select_tab", index=0)
        await call("close_tab", index=1)
        await call("list_downloads")
        await call("save_pdf")
        assert "Ignore previous instructions" in await call("evaluate", script=f"return {_js(HOSTILE * 200)}")
        await call("evaluate", script="return document.title")
        logs = await client.read_resource("console://logs")
        results.setdefault("console://logs", []).append(logs)

    assert set(results) >= OUTSIDE_CONTENT_TOOLS
    for tool, answers in results.items():
        for answer in answers:
            try:
                assert_neutralized(answer)
                assert_capped(answer, BUDGET)
            except AssertionError as failure:
                raise AssertionError(f"{tool}: {failure}\n{text(answer)[:600]}") from None


@pytest.mark.parametrize("era", ERAS)
async def test_a_snapshot_pages_through_a_hostile_page_within_the_budget(
    hostile: tuple[Any, Any], era: Era
) -> None:
    server, site = hostile
    async with connect(server, era=era) as client:
        await client.call_tool("navigate", {"url": site.url("/hostile")})
        paged = await read_all(client)
    whole, answers = paged.whole, paged.answers
    for answer in answers:
        assert_neutralized(answer)
        assert_capped(answer, BUDGET)
    assert len(answers) > 5 and whole.count("Ignore previous instructions") > 100
    assert whole.rstrip().endswith("149")  # the last paragraph: nothing lost at the end
