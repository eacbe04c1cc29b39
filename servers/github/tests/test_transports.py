"""The console script over stdio and streamable HTTP: read-only unless --allow-write, on every transport."""

from __future__ import annotations

import pytest
from gh_tokens import TOKEN
from standin import StandIn

from patchbay_common.testing.clients import Launch, connect, http_server

pytestmark = pytest.mark.anyio


def launch(api: StandIn, *flags: str) -> Launch:
    env = {"GITHUB_PERSONAL_ACCESS_TOKEN": TOKEN, "PATCHBAY_GITHUB_API_URL": api.base_url}
    return Launch("patchbay-github", ["--seconds-between-writes", "0", *flags], env)


async def test_stdio_reads_and_lists_no_write_tool(api: StandIn) -> None:
    async with connect(launch(api), era="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("get_me", {})
    assert "create_issue" not in names and "get_issue" in names
    assert not result.is_error and '"login":"octocat"' in result.content[0].text
    assert api.calls() == [("GET", "/user")]
    assert api.requests[0].headers["authorization"] == f"token {TOKEN}"


async def test_streamable_http_enforces_read_only_then_allows_writes(api: StandIn) -> None:
    with http_server(launch(api), "streamable-http") as server:
        async with connect(server, era="modern") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            refused = await client.call_tool("create_issue", {"owner": "o", "repo": "r", "title": "x"})
    assert "create_issue" not in names and refused.is_error and api.calls() == []
    with http_server(launch(api, "--allow-write", "--dynamic-toolsets"), "streamable-http") as server:
        async with connect(server, era="legacy") as client:
            assert client.server_capabilities.tools.list_changed is True
            await client.call_tool("enable_toolset", {"toolset": "issues"})
            created = await client.call_tool("create_issue", {"owner": "o", "repo": "r", "title": "x"})
    assert not created.is_error and api.calls() == [("POST", "/repos/o/r/issues")]
