"""Text the site controls never reaches the model outside the untrusted-data frame, or uncleaned.

The hostile site writes a forged frame end, zero-width, bidi and tag characters and an instruction into
its title, description, canonical URL, language, content, link text, Content-Type header and redirect
targets. Whatever the model reads must hold none of the invisible characters and no forged boundary, and
the instruction may appear only inside a genuine frame (one whose random id opens and closes it).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp_types import CallToolResult, TextContent

from patchbay_common.testing.clients import ERAS, Era, connect

pytestmark = pytest.mark.anyio

INVISIBLE = ("\u200b", "\u202e", "\U000e0041", "\u00ad", "\x9b")
FRAME = re.compile(r'<(untrusted-data-[0-9a-f]{16}) source="[^"<>]*">\n.*?\n</\1>', re.DOTALL)


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def assert_clean(text: str) -> str:
    """Assert the model-facing `text` is safe; return what lies outside genuine frames."""
    for char in INVISIBLE:
        assert char not in text, (char, text)
    assert "</untrusted-data-0000" not in text and "<untrusted-data-0000" not in text, text
    outside = FRAME.sub("", text)
    assert "ignore previous instructions" not in outside.lower(), outside
    return outside


def framed_line(text: str, label: str) -> str:
    """The line starting with `label` inside the (first) genuine frame of `text`."""
    frame = FRAME.search(text)
    assert frame is not None, text
    for line in frame.group(0).splitlines():
        if line.startswith(label):
            return line
    raise AssertionError(f"no {label!r} line in the frame:\n{text}")


@pytest.mark.parametrize("era", ERAS)
async def test_page_metadata_and_content_stay_inside_the_frame(
    site: Any, allowed_server: Any, era: Era
) -> None:
    async with connect(allowed_server, era=era) as client:
        page = text_of(await client.call_tool("fetch", {"url": site.url("/hostile")}))
        links = text_of(await client.call_tool("fetch", {"url": site.url("/hostile"), "format": "links"}))
        redirected = text_of(await client.call_tool("fetch", {"url": site.url("/hostile-redirect")}))
        prompt = await client.get_prompt("fetch", {"url": site.url("/hostile-redirect")})
    assert "Status: 200" in assert_clean(page)
    for label in ("Title: ", "Description: ", "Canonical: ", "Language: ", "Content-Type: text/html;"):
        line = framed_line(page, label)
        assert "untrusted-data-0000" in line and "Ignore previous instructions" in line, line
    assert "Ignore previous instructions" in framed_line(page, "# ")
    assert_clean(links)
    assert "Ignore previous instructions](" in links
    assert_clean(redirected)
    address = framed_line(redirected, "URL: ")
    assert address.startswith(f"URL: {site.url('/hostile?')}") and " (redirected from " in address
    message = prompt.messages[0].content
    assert isinstance(message, TextContent)
    assert_clean(message.text)


@pytest.mark.parametrize("era", ERAS)
async def test_errors_quoting_the_site_are_cleaned(site: Any, allowed_server: Any, era: Era) -> None:
    async with connect(allowed_server, era=era) as client:
        bad_redirect = await client.call_tool("fetch", {"url": site.url("/hostile-bad-redirect")})
        bad_type = await client.call_tool("fetch", {"url": site.url("/hostile-type")})
    assert bad_redirect.is_error and bad_type.is_error
    assert_clean(text_of(bad_redirect))
    assert "is application/x-" in assert_clean(text_of(bad_type))
