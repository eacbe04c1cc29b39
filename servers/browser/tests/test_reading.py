"""Snapshots that keep their meaning, against real Chromium: signatures as written on pages marked up the way
Sphinx, rustdoc and MDN mark them up (tests/pages), windows cut at line ends with every ref whole in exactly
one window, later windows read from the rendering of the first (and a changed page said to be changed), the
outline and sections by heading ref, and honest limits.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from patchbay_browser import snapshot as snap
from patchbay_browser.browser import Tab
from patchbay_common.principals import SINGLE_USER
from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.modules import import_file
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio

PAGES = Path(__file__).parent / "pages"
paging = import_file(Path(__file__).parent / "browser_paging.py", "patchbay_browser_tests_paging")

SIGNATURES: dict[str, list[str]] = {
    page: lines
    for page, lines in json.loads((PAGES / "signatures.json").read_text()).items()
    if page.endswith(".html")
}


@pytest.fixture(scope="module")
def pages(site: Any) -> Any:
    for page in PAGES.glob("*.html"):
        site.extra[f"/docs/{page.name}"] = page.read_text()
    site.extra["/docs/long.html"] = long_page(150)
    site.extra["/docs/ticking.html"] = long_page(60, ticking=True)
    site.extra["/docs/flag"] = "wait"
    return site


def long_page(functions: int, *, ticking: bool = False) -> str:
    """A Sphinx-style reference page with `functions` entries: signatures, prose with links, a long line."""
    entries = []
    for i in range(functions):
        words = " ".join(
            f'<a class="reference internal" href="#f{j}?x={i}"><code>f{j}()</code></a>' for j in range(8)
        )
        entries.append(
            f'<dl class="py function"><dt class="sig sig-object py" id="f{i}"><span class="sig-prename '
            f'descclassname"><span class="pre">mod.</span></span><span class="sig-name descname"><span '
            f'class="pre">f{i}</span></span><span class="sig-paren">(</span><em class="sig-param"><span '
            f'class="n"><span class="pre">a</span></span></em>, <em class="sig-param"><span class="o"><span '
            f'class="pre">*</span></span></em>, <em class="sig-param"><span class="n"><span class="pre">'
            f'key</span></span><span class="o"><span class="pre">=</span></span><span class="default_value">'
            f"<span "
            f'class="pre">{i}</span></span></em><span class="sig-paren">)</span><a class="headerlink" '
            f'href="#f{i}" title="Link to this definition">¶</a></dt><dd><p>Call f{i}; see {words} and the '
            f"rest of the module for what it does with <em>a</em> and <em>key</em>.</p></dd></dl>"
        )
        if i % 25 == 0:
            prose = "".join(f'long words <a href="#s{i}-{k}">here</a> ' for k in range(150))
            entries.append(f'<section id="s{i}"><h2>Section {i}</h2><p>{prose}</p></section>')
    tick = (  # the page changes its own text once the site says so (no tool acts on it)
        "<p id='tick'>tick</p><script>const poll = setInterval(async () => { const said = await (await "
        "fetch('/docs/flag')).text(); if (said.includes('go')) { clearInterval(poll); "
        "document.getElementById('tick').textContent = 'tock, and much more text than before'; } }, 100)"
        "</script>"
        if ticking
        else ""
    )
    return (
        "<!doctype html><html><head><title>mod — a long reference</title></head><body>"
        f'<div class="body" role="main"><h1>mod</h1>{tick}{"".join(entries)}</div></body></html>'
    )


async def ok(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    return text(result)


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, text(result)
    return text(result)


def tab_showing(server: Any, url: str, era: Era = "legacy") -> Tab:
    """The tab showing `url`: in a connection's own session, or for stateless requests in the shared one."""
    sessions = server.browser.sessions() if era == "legacy" else [server.browser.find(SINGLE_USER)]
    tabs: list[Tab] = [t for s in sessions for t in s.tabs if t.page.url == url]
    assert len(tabs) == 1, [tab.page.url for s in server.browser.sessions() for tab in s.tabs]
    return tabs[0]


@pytest.mark.parametrize("page", sorted(SIGNATURES))
async def test_signatures_and_code_read_as_written(server: Any, pages: Any, page: str) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=pages.url(f"/docs/{page}"))
        paged = await paging.read_all(client, max_chars=1500)
    assert len(paged.windows) > 1
    lines = [snap.strip_annotations(line) for line in paged.whole.splitlines()]
    for signature in SIGNATURES[page]:
        if signature.startswith(" "):  # code keeps its indentation (after the tree's)
            indented = [line[: -len(signature)] for line in lines if line.endswith(signature)]
            assert any(indent.isspace() for indent in indented), signature
        else:
            assert any(signature in line for line in lines), (signature, paged.whole)
    assert not [line for line in lines if line.strip() in ("emphasis", "generic", "strong", "code")]
    assert "-> :" not in paged.whole and not re.search(r"-> *$", paged.whole, re.M)


@pytest.mark.parametrize("era", ERAS)
async def test_windows_cut_at_line_ends_each_ref_whole_in_one_window_from_one_rendering(
    server: Any, pages: Any, era: Era
) -> None:
    url = pages.url("/docs/long.html")
    async with connect(server, era=era) as client:
        await ok(client, "navigate", url=url)
        paged = await paging.read_all(client, max_chars=3000, full_text=True)
        tab = tab_showing(server, url, era)
        renders = tab.renders
    assert len(paged.windows) > 20
    every = snap.refs_in(paged.whole)
    assert len(every) == len(set(every)) > 150 * 9
    counted = Counter(ref for window in paged.windows for ref in snap.refs_in(window))
    assert counted == Counter(every)  # every ref whole, in exactly one window
    long_lines = {i for i, line in enumerate(paged.whole.splitlines()) if len(line) > 3000}
    assert long_lines  # the "long words" paragraphs and linked prose are longer than a window
    assert sum(paged.line_ends) >= len(paged.line_ends) - 3 * len(long_lines)  # only those end mid-line
    assert paged.headers[0] == f'URL: {url}\nTitle: "mod — a long reference"'
    assert set(paged.headers[1:]) == {f"URL: {url} (continued)"}
    assert renders == 1, renders  # every window from the first rendering (stateless requests: one per tab)


async def test_a_changed_page_is_said_and_an_unchanged_one_is_not_rendered_again(
    server: Any, pages: Any
) -> None:
    url = pages.url("/docs/ticking.html")
    async with connect(server) as client:
        await ok(client, "navigate", url=url)
        first = await ok(client, "snapshot", max_chars=2000)
        tab = tab_showing(server, url)
        assert tab.renders == 1
        await ok(client, "list_tabs")
        await ok(client, "screenshot")
        second = await ok(client, "snapshot", cursor=paging.MARKER.search(first).group(5))
        assert tab.renders == 1 and "(continued)" in second and "The page changed" not in second
        pages.extra["/docs/flag"] = "go"  # the page's own script changes its text
        await anyio.sleep(1)
        third = await ok(client, "snapshot", cursor=paging.MARKER.search(second).group(5))
        assert tab.renders == 2
        assert "The page changed since the earlier window: this is a new snapshot, from its start." in third
        assert f'URL: {url}\nTitle: "mod — a long reference"' in third and "tock, and much more" in third
        assert "showing characters 0-" in third
        cursor = paging.MARKER.search(third).group(5)
        await ok(client, "evaluate", script="document.title = 'retitled'")  # a tool acted on the tab
        fourth = await ok(client, "snapshot", cursor=cursor)  # rendered again: the same text, read on
        assert tab.renders == 3 and "The page changed" not in fourth and "(continued)" in fourth
        cursor = paging.MARKER.search(fourth).group(5)
        await ok(client, "evaluate", script="document.getElementById('tick').textContent = 'by a tool'")
        fifth = await ok(client, "snapshot", cursor=cursor)
        assert tab.renders == 4 and "The page changed since the earlier window" in fifth
        assert 'Title: "retitled"' in fifth and "by a tool" in fifth
        await ok(client, "new_tab", url=pages.url("/two"))
        other = await refused(client, "snapshot", cursor=paging.MARKER.search(fifth).group(5))
        assert "That cursor continues a snapshot of another tab" in other
        await ok(client, "close_tab")


async def test_the_outline_gives_each_section_its_ref_and_size(server: Any, pages: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=pages.url("/docs/sphinx-os.html"))
        outline = await ok(client, "snapshot", outline=True)
        assert "Outline: " in outline and "snapshot(ref=...) returns one section" in outline
        found = re.search(r'^ +h2 "Process Parameters" \[(e\d+)\] ([\d,]+) chars$', outline, re.M)
        assert found is not None, outline
        assert re.search(r"^main \[e\d+\] [\d,]+ chars$", outline, re.M)
        assert re.search(r'^ h1 "os — Miscellaneous operating system interfaces" \[e\d+\]', outline, re.M)
        section = await ok(client, "snapshot", ref=found.group(1))
        body = paging.framed(section).split("\n", 2)[2]
        assert len(body) == int(found.group(2).replace(",", ""))
        assert body.startswith(f'h2 "Process Parameters" [{found.group(1)}]')
        assert "term: os.get_exec_path(env=None)" in body and "File Descriptor Operations" not in body
        assert f"Section of {found.group(1)}" in section


async def test_max_chars_above_the_answer_budget_is_refused_and_the_schema_says_so(server: Any) -> None:
    async with connect(server) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "snapshot")
        schema = tool.input_schema["properties"]["max_chars"]
        assert "maximum" not in str(schema) or "1000000" not in str(schema)
        assert "--max-output-chars" in str(schema)
        assert "offset" not in tool.input_schema["properties"]
        answer = await refused(client, "snapshot", max_chars=25_001)
        assert "max_chars 25,001 is more than this server returns in one answer (25,000 characters" in answer
