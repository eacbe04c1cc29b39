"""The browser server as a real subprocess: over stdio, and over streamable HTTP in both protocol eras."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_types import TextContent

from patchbay_common.testing.clients import ERAS, Launch, connect, http_server

pytestmark = pytest.mark.anyio


def launch(chromium_path: str) -> Launch:
    # --single-user: unauthenticated streamable HTTP is refused otherwise (2026-era clients share one context)
    return Launch(
        "patchbay-browser",
        ["--allow-host", "127.0.0.1", "--executable-path", chromium_path, "--single-user"],
    )


async def browse(client: Any, url: str) -> str:
    navigated = await client.call_tool("navigate", {"url": url})
    assert not navigated.is_error
    result = await client.call_tool("snapshot", {})
    assert not result.is_error
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def test_over_stdio(chromium_path: str, site: Any) -> None:
    async with connect(launch(chromium_path), era="legacy") as client:
        text = await browse(client, site.url("/two"))
    assert 'h1 "Second"' in text and "-> /" in text


async def test_over_streamable_http(chromium_path: str, site: Any) -> None:
    with http_server(launch(chromium_path)) as running:
        for era in ERAS:
            async with connect(running, era=era) as client:
                text = await browse(client, site.url("/"))
            assert 'h1 "Welcome"' in text
