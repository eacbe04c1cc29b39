"""patchbay-search as a real subprocess: stdio and streamable HTTP, with a key and with no configuration."""

from __future__ import annotations

from typing import Any

import pytest

import patchbay_search_tests_standin as standin_module  # loaded by conftest.py
from patchbay_common.testing.clients import Launch, connect, http_server

pytestmark = pytest.mark.anyio

API_KEY = standin_module.TEST_KEY


async def test_stdio_with_a_key(standin: Any) -> None:
    launch = Launch(
        "patchbay-search", ["--base-url", standin.base_url, "--rate-limit", "50"], {"BRAVE_API_KEY": API_KEY}
    )
    async with connect(launch, era="legacy") as client:
        assert len((await client.list_tools()).tools) == 5
        result = await client.call_tool("brave_local_search", {"query": "pizza near Central Park"})
    assert not result.is_error
    assert "Joe's Pizza Broadway" in result.content[0].text  # type: ignore[union-attr]
    assert {r.headers["x-subscription-token"] for r in standin.requests} == {API_KEY}


async def test_zero_configuration_start(monkeypatch: Any) -> None:
    monkeypatch.delenv("BRAVE_API_KEY", raising=False)
    async with connect(Launch("patchbay-search"), era="modern") as client:
        assert len((await client.list_tools()).tools) == 5
        result = await client.call_tool("brave_web_search", {"query": "pizza"})
    assert result.is_error
    assert "Ask the user to set BRAVE_API_KEY" in result.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_streamable_http(standin: Any, era: str) -> None:
    launch = Launch("patchbay-search", ["--base-url", standin.base_url], {"BRAVE_API_KEY": API_KEY})
    with http_server(launch, "streamable-http") as running:
        async with connect(running, era=era) as client:
            news = await client.call_tool("brave_news_search", {"query": "brave", "count": 2})
            web = await client.call_tool("brave_web_search", {"query": "brave search api", "count": 3})
    assert not news.is_error and not web.is_error
    assert news.structured_content and len(news.structured_content["results"]) == 2
    assert [r.path for r in standin.requests] == ["/res/v1/news/search", "/res/v1/web/search"]
