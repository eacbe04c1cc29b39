"""Progress, logging to the client, completions and stopping work, in both protocol eras."""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import pytest
from mcp_types import PromptReference, ResourceTemplateReference

from patchbay_common.app import PatchbayServer
from patchbay_common.errors import UserError
from patchbay_common.notify import Progress, log_to_client
from patchbay_common.settings import CommonSettings
from patchbay_common.testing.clients import ERAS, connect

pytestmark = pytest.mark.anyio


def build(*flags: str) -> tuple[PatchbayServer, dict[str, Any]]:
    settings = CommonSettings(_cli_parse_args=["--max-output-chars", "500", *flags])  # type: ignore[call-arg]
    mcp = PatchbayServer("protocol-test", version="0", settings=settings)
    state: dict[str, Any] = {"visited": 0}

    @mcp.tool()
    async def walk(steps: int = 8) -> str:
        """Walk some steps, slowly."""
        async with Progress(total=steps, unit="files", message="walking") as progress:
            for _ in range(steps):
                await anyio.sleep(0.1)
                progress.advance()
        return "walked"

    @mcp.tool()
    async def endless() -> str:
        """Walk in a worker thread until the call ends."""
        async with Progress(unit="files") as progress:

            def work() -> None:
                while not progress.stopped.is_set():
                    state["visited"] += 1
                    time.sleep(0.01)

            await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        return "never"

    @mcp.tool()
    async def chatty() -> str:
        """Log at two levels."""
        await log_to_client("debug", "a detail")
        await log_to_client("info", "retrying in 1.0 s", token="ghp_" + "a" * 30)
        return "x" * 2_000

    @mcp.tool()
    async def refuse() -> str:
        """Refuse."""
        raise UserError("Not allowed.", hint="Ask for less.")

    @mcp.resource("demo://{table}/{column}")
    def demo(table: str, column: str) -> str:
        return table

    @mcp.complete("demo://{table}/{column}", "table")
    def tables(value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        return ["customers", "orders", "Customers_archive", "orders", *[f"t{i}" for i in range(300)]]

    @mcp.complete("demo://{table}/{column}", "column")
    def columns(value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        return {"customers": ["id", "name"], "orders": ["id", "total"]}.get(chosen.get("table", ""), [])

    @mcp.prompt()
    def ask(topic: str) -> str:
        """A prompt."""
        return topic

    @mcp.complete("ask", "topic")
    async def topics(value: str, chosen: dict[str, str], ctx: Any) -> list[str]:
        raise UserError("nothing to offer")

    return mcp, state


@pytest.mark.parametrize("era", ERAS)
async def test_progress_is_monotonic_rate_limited_and_readable(era: str) -> None:
    mcp, _ = build()
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
        result = await client.call_tool("walk", {"steps": 8}, progress_callback=on_progress)
    assert not result.is_error
    assert 2 <= len(seen) <= 8  # about four a second over 0.8 s, never one per step
    assert [p for p, _, _ in seen] == sorted(p for p, _, _ in seen)
    assert seen[-1][0] == 8 and seen[-1][1] == 8 and seen[-1][2] == "walking: 8 of 8 files"


@pytest.mark.parametrize("era", ERAS)
async def test_a_call_without_a_progress_channel_runs_no_ticker(era: str) -> None:
    """No progress token (and no callback): nothing could be sent, so `Progress` starts no ticker task."""
    server = PatchbayServer("ticker", version="1.0")
    started: list[bool] = []

    @server.tool()
    async def work() -> str:
        """Work with progress."""
        async with Progress(total=3) as progress:
            started.append(progress._group is not None)
            progress.advance(3)
        return "done"

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pass

    async with connect(server, era=era) as client:  # type: ignore[arg-type]
        await client.call_tool("work", {})
        await client.call_tool("work", {}, progress_callback=on_progress)
    assert started == [False, True]


async def test_work_in_a_thread_stops_when_the_call_times_out() -> None:
    mcp, state = build("--tool-timeout", "0.5")
    async with connect(mcp, era="legacy") as client:
        result = await client.call_tool("endless", {})
        assert result.is_error and "did not finish within 0.5 s" in result.content[0].text  # type: ignore[union-attr]
        await anyio.sleep(0.2)
        stopped_at = state["visited"]
        await anyio.sleep(0.3)
    assert state["visited"] == stopped_at  # the walk stopped, it did not run on abandoned


async def test_logging_capability_levels_and_redaction_in_the_handshake_era() -> None:
    mcp, _ = build()
    messages: list[Any] = []

    async def on_log(params: Any) -> None:
        messages.append(params)

    async with connect(mcp, era="legacy", logging_callback=on_log) as client:
        assert client.server_capabilities.logging is not None
        await client.call_tool("chatty", {})
        await client.call_tool("refuse", {})
        default = [(m.level, m.data["message"]) for m in messages]
        messages.clear()
        await client.set_logging_level("warning")
        await client.call_tool("chatty", {})
        await client.call_tool("refuse", {})
        after = [(m.level, m.data["message"]) for m in messages]
    assert ("info", "retrying in 1.0 s") in default and all(level != "debug" for level, _ in default)
    assert ("notice", "chatty: the answer was cut to 500 characters") in default
    assert ("warning", "refuse refused: Not allowed. Ask for less.") in default
    assert after == [("warning", "refuse refused: Not allowed. Ask for less.")]
    assert all(m.data.get("request_id") for m in messages)


async def test_logging_in_the_2026_era_only_when_the_request_asks() -> None:
    mcp, _ = build()
    messages: list[Any] = []

    async def on_log(params: Any) -> None:
        messages.append(params)

    async with connect(mcp, era="modern", logging_callback=on_log) as client:
        await client.call_tool("chatty", {})
    assert messages == []
    async with connect(mcp, era="modern", logging_callback=on_log, log_level="info") as client:
        await client.call_tool("chatty", {})
    assert [m.level for m in messages] == ["info", "notice"]
    assert "ghp_" not in str(messages[0].data)  # redacted like every log line


@pytest.mark.parametrize("era", ERAS)
async def test_completions_filter_cap_and_use_chosen_arguments(era: str) -> None:
    mcp, _ = build()
    ref = ResourceTemplateReference(type="ref/resource", uri="demo://{table}/{column}")
    async with connect(mcp, era=era) as client:  # type: ignore[arg-type]
        assert client.server_capabilities.completions is not None
        some = await client.complete(ref, {"name": "table", "value": "cu"})
        many = await client.complete(ref, {"name": "table", "value": ""})
        column = await client.complete(ref, {"name": "column", "value": ""}, {"table": "orders"})
        failing = await client.complete(
            PromptReference(type="ref/prompt", name="ask"), {"name": "topic", "value": ""}
        )
        unknown = await client.complete(ref, {"name": "nope", "value": ""})
    assert some.completion.values == ["customers", "Customers_archive"]
    assert len(many.completion.values) == 100 and many.completion.has_more and many.completion.total == 303
    assert column.completion.values == ["id", "total"]
    assert failing.completion.values == [] and unknown.completion.values == []


def test_progress_check_raises_once_stopped() -> None:
    progress = Progress()
    progress.check()
    progress.stopped.set()
    with pytest.raises(InterruptedError):
        progress.check()
    assert threading.active_count() >= 1


def test_progress_counts_read_as_whole_numbers() -> None:
    progress = Progress(total=4_194_304, unit="bytes")
    progress.update(2_097_152)
    assert progress._text() == "2097152 of 4194304 bytes"
    progress.update(2_097_152.5)
    assert progress._text() == "2097152.5 of 4194304 bytes"


async def test_an_error_inside_progress_propagates_unwrapped() -> None:
    from patchbay_common.notify import current_call

    class Ctx:
        async def report_progress(self, *args: Any) -> None:
            return None

    token = current_call.set(Ctx())
    try:
        with pytest.raises(UserError, match="boom"):
            async with Progress():
                raise UserError("boom")
    finally:
        current_call.reset(token)


async def test_progress_never_repeats_a_value() -> None:
    from patchbay_common.notify import current_call

    sent: list[float] = []

    class Ctx:
        async def report_progress(self, progress: float, *args: Any) -> None:
            sent.append(progress)

    token = current_call.set(Ctx())
    try:
        async with Progress(total=3) as progress:
            await anyio.sleep(0.3)  # a slow start says so once, at 0
            progress.update(1, message="one")
            await anyio.sleep(0.3)
            progress.update(1, message="still one")
            await anyio.sleep(0.3)
            progress.update(3)
    finally:
        current_call.reset(token)
    assert sent == [0, 1, 3]


async def test_the_last_progress_arrives_when_the_call_ends_during_a_send() -> None:
    """A periodic send still under way when the call ends is finished, not cut and counted as sent."""
    from patchbay_common.notify import current_call

    sending = anyio.Event()
    delivered: list[float] = []

    class SlowClient:
        async def report_progress(self, progress: float, *args: Any) -> None:
            sending.set()
            await anyio.sleep(0.3)  # a slow write; the call ends meanwhile
            delivered.append(progress)

    token = current_call.set(SlowClient())
    try:
        async with Progress(total=5) as progress:
            progress.update(5)
            await sending.wait()  # the periodic send of 5 is under way
    finally:
        current_call.reset(token)
    assert delivered == [5]
