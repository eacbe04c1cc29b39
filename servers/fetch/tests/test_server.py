"""The fetch server end to end through an MCP client: both protocol eras, stdio and streamable HTTP."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from mcp_types import CallToolResult, ImageContent, TextContent

from patchbay_common.testing.clients import ERAS, Era, Launch, connect, http_server
from patchbay_common.testing.results import text
from patchbay_fetch.server import Settings, build


def make_settings(*flags: str) -> Settings:
    return Settings(_cli_parse_args=list(flags))  # type: ignore[call-arg]


async def call(server: Any, era: Era, **arguments: Any) -> CallToolResult:
    async with connect(server, era=era) as client:
        return await client.call_tool("fetch", arguments)


@pytest.mark.anyio
@pytest.mark.parametrize("era", ERAS)
async def test_tools_prompts_and_annotations(era: Era) -> None:
    async with connect(build(make_settings()), era=era) as client:
        tools = (await client.list_tools()).tools
        prompts = (await client.list_prompts()).prompts
    assert [t.name for t in tools] == ["fetch"]
    tool = tools[0]
    assert tool.annotations is not None
    assert tool.annotations.read_only_hint is True and tool.annotations.open_world_hint is True
    assert tool.annotations.destructive_hint is False
    properties = tool.input_schema["properties"]
    assert set(properties) == {"url", "max_length", "start_index", "raw", "format", "selector", "question"}
    assert properties["format"]["enum"] == ["markdown", "text", "html", "json", "links"]
    assert tool.description is not None and tool.description.isascii()
    assert [p.name for p in prompts] == ["fetch"]


@pytest.mark.anyio
@pytest.mark.parametrize("era", ERAS)
async def test_fetch_a_saved_page_as_markdown(site: Any, allowed_server: Any, era: Era) -> None:
    result = await call(allowed_server, era, url=site.url("/pages/news-article.html"), max_length=3000)
    assert not result.is_error
    shown = text(result)
    framed = r'<(untrusted-data-[0-9a-f]{16}) source="([^"]*)">\n[^\n]*\n(.*)\n</\1>\n'
    frame = re.match(framed, shown, re.DOTALL)
    assert frame is not None and frame[2] == site.url("/pages/news-article.html")
    assert frame[3].startswith(f"URL: {site.url('/pages/news-article.html')}\nContent-Type: text/html\n")
    assert shown[frame.end() :].startswith("Status: 200. Showing characters 0-")  # our note, after the frame
    assert "Title: Harbour town votes to rebuild its tidal mill | The Coastal Courier" in shown
    assert "Canonical: https://www.coastalcourier.example/news/2026/03/saltmere-tidal-mill-vote" in shown
    assert "Language: en-GB" in shown
    assert re.search(r"<untrusted-data-[0-9a-f]{16} source=", shown)
    assert "# Harbour town votes to rebuild its tidal mill" in shown
    assert "We use cookies" not in shown and "Related stories" not in shown


@pytest.mark.anyio
@pytest.mark.parametrize("era", ERAS)
async def test_the_guard_refuses_loopback_without_the_allowance(site: Any, era: Era) -> None:
    before = site.hits["/pages/news-article.html"]
    result = await call(build(make_settings()), era, url=site.url("/pages/news-article.html"))
    assert result.is_error
    shown = text(result)
    assert "Refused to connect: 127.0.0.1 is a loopback address." in shown
    assert "--allow-private" in shown
    assert site.hits["/pages/news-article.html"] == before
    spelled = await call(build(make_settings()), era, url=f"http://0x7f.1:{site.port}/pages/zlib-how.html")
    assert spelled.is_error and "resolves to 127.0.0.1, which is a loopback address" in text(spelled)
    relaxed = build(make_settings("--allow-private"))
    metadata = await call(relaxed, era, url="http://169.254.169.254/latest/meta-data/")
    assert metadata.is_error and "cloud metadata address" in text(metadata)
    local_file = await call(relaxed, era, url="file:///etc/passwd")
    assert local_file.is_error and "only http and https are fetched" in text(local_file)


@pytest.mark.anyio
async def test_allow_host_reaches_only_the_named_host(site: Any) -> None:
    server = build(make_settings("--allow-host", "localhost", "--ignore-robots-txt"))
    ok = await call(server, "legacy", url=site.url("/pages/zlib-how.html", host="localhost"))
    assert not ok.is_error and "zlib Usage Example" in text(ok)
    refused = await call(server, "legacy", url=site.url("/pages/zlib-how.html"))
    assert refused.is_error and "loopback" in text(refused)


@pytest.mark.anyio
@pytest.mark.parametrize("era", ERAS)
async def test_paging_is_stable_even_when_the_page_changes(site: Any, allowed_server: Any, era: Era) -> None:
    url = site.url("/changing")
    async with connect(allowed_server, era=era) as client:
        first = text(await client.call_tool("fetch", {"url": url, "max_length": 2000}))
        match = re.search(r"start_index=(\d+)", first)
        assert match is not None
        second = text(
            await client.call_tool("fetch", {"url": url, "max_length": 2000, "start_index": int(match[1])})
        )
    version = re.search(r"Version (\d+)\.", first)
    assert version is not None
    assert f"Version {version[1]}." in second  # the same rendering, although the site changed meanwhile
    body = re.compile(r"<untrusted-data-\w+[^>]*>\n[^\n]*\n(.*)\n</untrusted-data", re.DOTALL)
    one, two = body.search(first), body.search(second)
    assert one is not None and two is not None
    assert "Paragraph 0:" in one[1] and two[1].split()[0] not in one[1].split()[-1:]


@pytest.mark.anyio
async def test_formats_and_selectors(site: Any, allowed_server: Any) -> None:
    async with connect(allowed_server, era="modern") as client:

        async def fetch(**arguments: Any) -> str:
            result = await client.call_tool("fetch", arguments)
            assert not result.is_error, text(result)
            return text(result)

        news = site.url("/pages/news-article.html")
        assert "| Restore the mill | 3,412 | 68% |" in await fetch(url=news, selector="table.results")
        plain = await fetch(url=news, format="text", max_length=20000)
        assert "Residents of Saltmere" in plain and "](" not in plain
        html = await fetch(url=news, format="html", selector="h1")
        assert "<h1>Harbour town votes to rebuild its tidal mill</h1>" in html
        links = await fetch(url=site.url("/links"), format="links")
        assert f"- [The news]({news})" in links and "- [Elsewhere](https://example.org/x)" in links
        assert "mailto:" not in links and links.count(news) == 1
        data = await fetch(url=site.url("/json"), selector="$.items[*].name")
        assert '[\n  "alpha",\n  "beta"\n]' in data
        raw = await fetch(url=news, raw=True, max_length=100000)
        assert "<script>window.dataLayer" in raw
        assert "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e" in await fetch(url=site.url("/latin1"))
        assert "日本語のページ" in await fetch(url=site.url("/meta-sjis"))
        assert "Stra\u00dfe" in await fetch(url=site.url("/undeclared-cp1252"))
        assert "Compressed hello." in await fetch(url=site.url("/gzip"))


@pytest.mark.anyio
async def test_untrusted_text_is_framed_and_cleaned(site: Any, allowed_server: Any) -> None:
    result = await call(allowed_server, "legacy", url=site.url("/invisible"))
    shown = text(result)
    assert "\u200b" not in shown and "\u202e" not in shown
    assert "Visible text here." in shown
    assert "</untrusted-data-0000>" not in shown  # a forged closing tag is neutralised


@pytest.mark.anyio
@pytest.mark.parametrize("era", ERAS)
async def test_every_failure_says_what_to_do(site: Any, allowed_server: Any, era: Era) -> None:
    cases = {
        "/status/404": "answered HTTP 404",
        "/binary": "is application/octet-stream",
        "/image.png": "--allow-images",
        "/doc.pdf": "--allow-pdf",
        "/private/x": "does not allow the user agent",
        "/huge": "at most 5.00 MB per response",
        "/bomb": "at most 5.00 MB per response",
        "/loop": "redirected more than 5 times",
        "/wait-long": "asked to wait 3600 s",
    }
    async with connect(allowed_server, era=era) as client:
        for path, expected in cases.items():
            result = await client.call_tool("fetch", {"url": site.url(path)})
            assert result.is_error, path
            assert expected in text(result), (path, text(result))
        bad = await client.call_tool(
            "fetch", {"url": site.url("/pages/news-article.html"), "selector": "nav.none"}
        )
        assert bad.is_error and "matches nothing" in text(bad)
        past = await client.call_tool("fetch", {"url": site.url("/json"), "start_index": 10**6})
        assert past.is_error and "past the end" in text(past)


@pytest.mark.anyio
async def test_deadline_stops_a_trickling_server(site: Any) -> None:
    server = build(make_settings("--allow-private", "--fetch-timeout", "1"))
    result = await call(server, "legacy", url=site.url("/trickle"))
    assert result.is_error and "did not finish within 1 s" in text(result)


@pytest.mark.anyio
async def test_images_and_pdfs_when_enabled(site: Any) -> None:
    server = build(make_settings("--allow-private", "--allow-images", "--allow-pdf"))
    async with connect(server, era="legacy") as client:
        image = await client.call_tool("fetch", {"url": site.url("/image.png")})
        pdf = await client.call_tool("fetch", {"url": site.url("/doc.pdf")})
    block = image.content[0]
    assert isinstance(block, ImageContent) and block.mime_type == "image/png"
    assert base64.b64decode(block.data).startswith(b"\x89PNG")
    assert "Quarterly tide tables for Saltmere harbour" in text(pdf)


@pytest.mark.anyio
@pytest.mark.parametrize("era", ERAS)
async def test_prompt_skips_robots_and_uses_the_user_agent(site: Any, allowed_server: Any, era: Era) -> None:
    async with connect(allowed_server, era=era) as client:
        prompt = await client.get_prompt("fetch", {"url": site.url("/private/page")})
    message = prompt.messages[0].content
    assert isinstance(message, TextContent)
    assert "Members only." in message.text
    assert "User-Specified" in site.headers["/private/page"]["User-Agent"]


@pytest.mark.anyio
async def test_over_stdio(site: Any) -> None:
    launch = Launch("patchbay-fetch", ["--allow-host", "127.0.0.1", "--log-level", "WARNING"])
    async with connect(launch, era="legacy") as client:
        result = await client.call_tool("fetch", {"url": site.url("/pages/rust-book-ownership.html")})
    assert not result.is_error
    assert "## What Is Ownership?" in text(result)


@pytest.mark.anyio
async def test_over_streamable_http(site: Any) -> None:
    with http_server(Launch("patchbay-fetch", ["--allow-private"])) as running:
        async with connect(running, era="modern") as client:
            result = await client.call_tool("fetch", {"url": site.url("/json"), "format": "json"})
            refused = await client.call_tool("fetch", {"url": "http://metadata.google.internal/"})
    assert '"total": 2' in text(result)
    assert refused.is_error and "cloud metadata service" in text(refused)
