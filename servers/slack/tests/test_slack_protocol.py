"""Progress while the channel and user listings page, paging that stops with the call, and completions.

Against the local Slack stand-in (tests/standin.py) with 1,000 more channels, served 200 a page with a
delay per page, so a listing takes a few seconds; that paging stopped is read from the stand-in's log of
requests: no `conversations.list` request arrives after the call ended.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp_types import ResourceTemplateReference

from patchbay_common.testing.clients import ERAS, Launch, connect, http_server
from patchbay_common.testing.modules import import_file

standin_module = import_file(Path(__file__).with_name("standin.py"), "patchbay_slack_tests_standin")

pytestmark = pytest.mark.anyio

CHANNELS = ResourceTemplateReference(type="ref/resource", uri="slack://{workspace}/channels")
USERS = ResourceTemplateReference(type="ref/resource", uri="slack://{workspace}/users")
EXTRA = 1_000
PAGE_DELAY = 0.15


def many_channels(standin: Any, delay: float = PAGE_DELAY) -> None:
    """1,000 more channels, and `delay` seconds for each conversations.list page."""
    template = standin.channels[0]
    for i in range(EXTRA):
        channel = copy.deepcopy(template)
        channel.update(id=f"C9{i:07d}", name=f"extra-{i:04d}", is_member=False)
        standin.channels.append(channel)
    standin.delay["conversations.list"] = delay


async def stop_paging(client: Any, standin: Any) -> None:
    """Start a call that must list the channels, cancel it after its first page, see no page asked after."""
    async with anyio.create_task_group() as group:

        async def call() -> None:
            await client.call_tool("slack_get_channel_history", {"channel": "#general"})
            raise AssertionError("the listing finished")

        group.start_soon(call)
        with anyio.fail_after(10):
            while not standin.calls("conversations.list"):  # noqa: ASYNC110 - a thread records it
                await anyio.sleep(0.02)
        group.cancel_scope.cancel()
    # The stand-in records a request once it answers it: a page asked for before the cancel shows up then.
    await anyio.sleep(standin.delay["conversations.list"] + 0.2)
    asked = len(standin.calls("conversations.list"))
    await anyio.sleep(4 * standin.delay["conversations.list"])
    assert len(standin.calls("conversations.list")) == asked, "paging went on after the call ended"
    assert asked < (EXTRA + 5) // 200 + 1  # it never got to the end


@pytest.mark.parametrize("era", ERAS)
async def test_a_call_that_lists_the_channels_reports_them(
    era: str, standin: Any, make_server: Callable[..., Any]
) -> None:
    many_channels(standin)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect(make_server(warm_cache=False), era=era) as client:  # type: ignore[arg-type]
        result = await client.call_tool(
            "slack_get_channel_history", {"channel": "#general"}, progress_callback=on_progress
        )
        again: list[float] = []

        async def on_again(progress: float, total: float | None, message: str | None) -> None:
            again.append(progress)

        cached = await client.call_tool(
            "slack_get_channel_history", {"channel": "#general"}, progress_callback=on_again
        )
    assert not result.is_error and not cached.is_error
    values = [v for v, _, _ in seen]
    assert len(seen) >= 3 and values == sorted(values), seen
    assert values[-1] == EXTRA + 5
    assert seen[-1][2] == f"listing the channels of workspace default: {EXTRA + 5} channels"
    assert again == []  # the names are cached: nothing to report


async def test_a_call_waiting_for_the_warm_up_reports_its_count(
    standin: Any, make_server: Callable[..., Any]
) -> None:
    many_channels(standin)
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with connect(make_server()) as client:
        await anyio.sleep(0.6)  # the warm-up is paging now
        result = await client.call_tool(
            "slack_get_channel_history", {"channel": "#general"}, progress_callback=on_progress
        )
    assert not result.is_error
    assert len(seen) >= 2 and seen[-1][0] == EXTRA + 5, seen
    assert len(standin.calls("conversations.list")) == (EXTRA + 5) // 200 + 1  # listed once, by the warm-up


@pytest.mark.parametrize("era", ERAS)
async def test_a_cancelled_call_asks_for_no_more_pages(
    era: str, standin: Any, make_server: Callable[..., Any]
) -> None:
    many_channels(standin, delay=0.4)
    async with connect(make_server(warm_cache=False), era=era) as client:  # type: ignore[arg-type]
        await stop_paging(client, standin)


async def test_a_call_past_its_deadline_asks_for_no_more_pages(
    standin: Any, make_server: Callable[..., Any]
) -> None:
    many_channels(standin, delay=0.4)
    async with connect(make_server(warm_cache=False, tool_timeout=1.0)) as client:
        result = await client.call_tool("slack_get_channel_history", {"channel": "#general"})
        assert result.is_error
        await anyio.sleep(0.6)  # a page asked for before the deadline is recorded once answered
        asked = len(standin.calls("conversations.list"))
        await anyio.sleep(1.6)
    assert len(standin.calls("conversations.list")) == asked < 6


def launch(standin: Any, *extra: str) -> Launch:
    return Launch(
        "patchbay-slack",
        ["--base-url", standin.base_url, "--no-warm-cache", *extra],
        {"SLACK_BOT_TOKEN": standin_module.BOT_TOKEN, "SLACK_USER_TOKEN": ""},
    )


async def test_over_stdio_and_streamable_http(standin: Any) -> None:
    many_channels(standin, delay=0.4)
    async with connect(launch(standin), era="modern") as client:
        await stop_paging(client, standin)
    with http_server(launch(standin)) as running:
        for era in ERAS:
            async with connect(running, era=era) as client:
                await stop_paging(client, standin)
                names = await client.complete(CHANNELS, {"name": "workspace", "value": ""})
                assert names.completion.values == ["default"]


@pytest.mark.parametrize("era", ERAS)
async def test_workspace_names_complete(era: str, standin: Any, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setenv("TEAM_A", standin_module.BOT_TOKEN)
    monkeypatch.setenv("TEAM_B", standin_module.BOT_TOKEN)
    from patchbay_slack.server import Settings, build

    settings = Settings(  # type: ignore[call-arg]
        _cli_parse_args=["--workspace", "acme=TEAM_A", "--workspace", "beta=TEAM_B", "--no-warm-cache"],
        base_url=standin.base_url,
    )
    async with connect(build(settings), era=era) as client:  # type: ignore[arg-type]
        every = await client.complete(CHANNELS, {"name": "workspace", "value": ""})
        some = await client.complete(USERS, {"name": "workspace", "value": "B"})
        started = time.perf_counter()
        await client.complete(USERS, {"name": "workspace", "value": "a"})
        took = time.perf_counter() - started
    assert every.completion.values == ["acme", "beta"] and some.completion.values == ["beta"]
    assert took < 0.05
