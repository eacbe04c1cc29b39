"""Pages built to cost CPU, memory or time: each call ends by its deadline with a clear text, and another
client of the same server keeps getting prompt answers meanwhile (a server that parsed, rendered or diffed
snapshots on its event loop would not answer until done).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent

from patchbay_common.testing.clients import connect

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # make stress, not make test

PROMPT_SECONDS = 0.3  # the median small call while a heavy one runs; a frozen server takes seconds
WORST_SECONDS = 1.0  # any one small call (the machine is shared and noisy)


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def ok(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return text_of(result)


async def while_small_calls(server: Any, site: Any, heavy: Any) -> tuple[Any, float, list[float]]:
    """Run `heavy(client)`; meanwhile another client lists its tabs again and again."""
    async with connect(server) as small:
        await ok(small, "navigate", url=site.url("/two"))
        done: dict[str, Any] = {}
        smalls: list[float] = []

        async def run_heavy() -> None:
            started = time.perf_counter()
            done["result"] = await heavy()
            done["seconds"] = time.perf_counter() - started

        async with anyio.create_task_group() as group:
            group.start_soon(run_heavy)
            await anyio.sleep(0.05)
            while "result" not in done:
                started = time.perf_counter()
                await ok(small, "list_tabs")
                smalls.append(time.perf_counter() - started)
                await anyio.sleep(0.05)
    return done["result"], done["seconds"], smalls


def assert_prompt(smalls: list[float]) -> None:
    if smalls:
        assert statistics.median(smalls) < PROMPT_SECONDS, smalls
        assert max(smalls) < WORST_SECONDS, smalls


async def test_a_huge_page_is_refused_quickly_with_a_clear_text(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/huge?n=100000"))
        for _ in range(10):  # Chromium lays the page out for seconds after "load": busy until then
            busy = await client.call_tool("snapshot", {})
            if "did not answer within" not in text_of(busy):
                break
            assert "Try again in a moment" in text_of(busy)
        result, seconds, smalls = await while_small_calls(
            server, site, lambda: client.call_tool("snapshot", {})
        )
        assert result.is_error
        assert "100,005 elements" in text_of(result) and "covers at most 50,000" in text_of(result)
        assert seconds < 5, seconds
        assert_prompt(smalls)
        await ok(client, "close_tab")


async def test_comparing_large_repetitive_snapshots_stays_fast(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/same?n=6000"))
        first = await ok(client, "snapshot", max_chars=1000)
        button = next(line for line in first.splitlines() if 'button "Change ends"' in line)
        ref = button.split("[")[-1].rstrip("]")
        await ok(client, "click", ref=ref)
        result, seconds, smalls = await while_small_calls(
            server, site, lambda: client.call_tool("snapshot", {"changes_only": True})
        )
        changes = text_of(result)
        assert not result.is_error, changes
        assert "first changed" in changes and "last changed" in changes, changes
        assert changes.count("\n- ") + changes.count("\n+ ") <= 6, changes
        assert seconds < 5, seconds
        assert_prompt(smalls)
        await ok(client, "close_tab")


async def test_a_page_stuck_in_an_endless_loop_is_reported_and_can_be_closed(server: Any, site: Any) -> None:
    async with connect(server) as client:
        await ok(client, "navigate", url=site.url("/busy"))
        await anyio.sleep(0.6)  # the loop has started
        result, seconds, smalls = await while_small_calls(
            server, site, lambda: client.call_tool("snapshot", {})
        )
        assert result.is_error
        assert "did not answer within 3 s" in text_of(result) and "close_tab" in text_of(result)
        assert seconds < 5, seconds
        assert_prompt(smalls)
        closed = await ok(client, "close_tab")
        assert site.url("/busy") not in closed
        assert "Second page" in await ok(client, "navigate", url=site.url("/two"))
