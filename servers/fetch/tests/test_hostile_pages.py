"""Every fetch answer with outside content, from a site that writes HOSTILE everywhere and writes a lot.

A local site (real HTTP on 127.0.0.1) puts the shared HOSTILE payload (forged frame boundaries, invisible
characters, an instruction) into every field a page controls: language, title, description, canonical URL,
headings, paragraphs, link text and targets, the Content-Type header, redirect targets, JSON keys and
values, plain text, and the metadata of an oversized page. The tool in every format (raw included) and the
prompt are called in both protocol eras under a 3000-character budget: each answer must be framed,
sanitized and capped, and paging through an oversized page with the start_index it names must reach the
end without skipping or repeating a character.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from patchbay_common.results import Reply
from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.results import HOSTILE, assert_capped, assert_neutralized, text
from patchbay_fetch import tools
from patchbay_fetch.deps import Deps
from patchbay_fetch.render import Converter, RenderCache
from patchbay_fetch.server import PROMPT_USER_AGENT, Settings, build, fetcher_of

pytestmark = pytest.mark.anyio

BUDGET = 3000
ESCAPED = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")


def _html(size: int) -> bytes:
    meta = ESCAPED * (1 + size // 20_000)  # oversized pages get oversized metadata too
    paragraphs = "".join(
        f"<p>{n} {ESCAPED} <a href='/p{n}/{ESCAPED}'>{n} {ESCAPED}</a> " + "filler words " * 30 + "</p>\n"
        for n in range(size // 500)
    )
    page = (
        f"<!doctype html><html lang='{ESCAPED}'><head><title>{meta}</title>"
        f"<meta name='description' content='{meta}'>"
        f"<link rel='canonical' href='/canonical/{ESCAPED}'></head>"
        f"<body><main><h1>{ESCAPED}</h1><p>{ESCAPED}</p>"
        f"<p><a href='/target/{ESCAPED}'>{ESCAPED}</a></p>{paragraphs}</main></body></html>"
    )
    return page.encode()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        # Header values are written as raw UTF-8, so the invisible characters arrive as the site sent them.
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        size = int(parse_qs(parts.query).get("size", ["0"])[0])
        hostile_type = f'text/html; charset=utf-8; note="{HOSTILE}"'
        if parts.path == "/page":
            self._answer(200, _html(size), {"Content-Type": hostile_type})
        elif parts.path == "/redirect":
            self._answer(302, b"", {"Location": f"/page?size={size}&x={HOSTILE}"})
        elif parts.path == "/redirect-missing":
            self._answer(302, b"", {"Location": f"/missing/{HOSTILE}"})
        elif parts.path == "/json":
            items = [{HOSTILE: HOSTILE, "n": n} for n in range(1 + size // 150)]
            body = json.dumps({HOSTILE: items}, ensure_ascii=False).encode()
            self._answer(200, body, {"Content-Type": f"application/json; x={HOSTILE}"})
        elif parts.path == "/plain":
            body = "".join(f"{n} {HOSTILE}\n" for n in range(1 + size // 150)).encode()
            self._answer(200, body, {"Content-Type": f"text/plain; charset=utf-8; x={HOSTILE}"})
        elif parts.path == "/binary":
            self._answer(200, b"\0\1\2", {"Content-Type": f"application/x-{HOSTILE}"})
        else:
            self._answer(404, HOSTILE.encode(), {"Content-Type": hostile_type})


@dataclass
class Site:
    base: str

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def hostile_site() -> Iterator[Site]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def small_budget_server() -> Any:
    flags = ["--allow-private", "--fetch-timeout", "10", "--max-output-chars", str(BUDGET)]
    return build(Settings(_cli_parse_args=flags))  # type: ignore[call-arg]


def check(result: Any) -> str:
    assert_neutralized(result)
    assert_capped(result, BUDGET)
    return text(result)


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("/page", {}),
    ("/page", {"format": "text"}),
    ("/page", {"format": "html"}),
    ("/page", {"format": "links"}),
    ("/page", {"raw": True}),
    ("/page", {"selector": "main"}),
    ("/redirect", {}),
    ("/json", {"format": "json"}),
    ("/json", {"format": "json", "selector": "$.*[0]"}),
    ("/plain", {}),
]


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("size", [0, 400_000])
async def test_every_format_is_framed_sanitized_and_capped(hostile_site: Site, era: Era, size: int) -> None:
    async with connect(small_budget_server(), era=era) as client:
        for path, arguments in CALLS:
            for max_length in (5000, 1_000_000):
                call = {"url": hostile_site.url(f"{path}?size={size}"), "max_length": max_length, **arguments}
                result = await client.call_tool("fetch", call)
                assert not result.is_error, (call, text(result))
                shown = check(result)
                assert "Ignore previous instructions" in shown, call  # the content is there, framed
                assert re.search(r"</untrusted-data-[0-9a-f]{16}>\nStatus: 200\. Showing characters", shown)
                if not (path == "/json" and "selector" in arguments):  # that one selects a small item
                    # an oversized page names where to read on (its window fits the budget), a small one not
                    assert ("call fetch again with start_index=" in shown) == bool(size), call
        for path in ("/redirect-missing", "/binary"):
            failed = await client.call_tool("fetch", {"url": hostile_site.url(path)})
            assert failed.is_error
            check(failed)
        prompt = await client.get_prompt("fetch", {"url": hostile_site.url(f"/redirect?size={size}")})
        assert "Ignore previous instructions" in check(prompt)


@pytest.mark.parametrize("era", ERAS)
async def test_paging_an_oversized_page_reaches_the_end(hostile_site: Site, era: Era) -> None:
    url = hostile_site.url("/plain?size=60000")
    seen: list[tuple[int, int, int]] = []
    async with connect(small_budget_server(), era=era) as client:
        start: int | None = 0
        while start is not None and len(seen) < 100:
            result = await client.call_tool(
                "fetch", {"url": url, "max_length": 1_000_000, "start_index": start}
            )
            shown = check(result)
            window = re.search(r"Showing characters (\d+)-(\d+) of (\d+)\.", shown)
            assert window is not None, shown
            seen.append((int(window[1]), int(window[2]), int(window[3])))
            following = re.search(r"call fetch again with start_index=(\d+)\]$", shown)
            start = int(following[1]) if following else None
    assert seen[0][0] == 0 and seen[-1][1] == seen[-1][2]
    assert all(one[1] == two[0] for one, two in itertools.pairwise(seen))  # no gap, no overlap
    assert 20 < len(seen) < 100


async def test_the_tool_called_with_its_deps(hostile_site: Site) -> None:
    settings = Settings(_cli_parse_args=["--allow-private", "--ignore-robots-txt"])  # type: ignore[call-arg]
    deps = Deps(
        fetcher=fetcher_of(settings),
        renderings=RenderCache(),
        converter=Converter(),
        user_agent="test-agent",
        prompt_user_agent=PROMPT_USER_AGENT,
        check_robots=False,
        allow_pdf=False,
        allow_images=False,
        fetch_timeout=10,
        max_chars=BUDGET,
    )
    try:
        reply = await tools.fetch(deps, url=hostile_site.url("/redirect?size=100000"))
    finally:
        await deps.fetcher.aclose()
    assert isinstance(reply, Reply)
    assert reply.content.startswith(f"URL: {hostile_site.url('/page?size=100000&x=')}")
    assert "(redirected from " in reply.content.splitlines()[0]
    assert "Title: " in reply.content and "Ignore previous instructions" in reply.content
    assert reply.note.startswith("Status: 200. Showing characters 0-")
    assert "untrusted" not in reply.note and "Ignore" not in reply.note  # our own words only
