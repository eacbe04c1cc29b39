"""Giant messages and giant answers from Slack: each call ends by its deadline with a clear text, the
server's memory stays bounded, and a small call on the same server answers promptly meanwhile.

The Slack stand-in and the server each run in a process of their own here, so that neither the
stand-in's JSON encoding nor the test's clients compete with the server for its interpreter lock; the
server is measured as a process (peak resident size) and through an MCP client (latency), as in use.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from patchbay_common.testing.clients import Launch, connect, http_server
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio

STANDIN = Path(__file__).with_name("standin.py")
GENERAL = "C012AB3CD"
BOT_TOKEN = "xoxb-1111-2222-standinbottoken"
PROMPT_SECONDS = 0.3  # the median small call while a heavy one runs; a frozen server takes seconds
WORST_SECONDS = 1.0  # any one small call (the machine is shared and noisy)

_SERVE = """
import sys, time
from patchbay_common.testing.modules import import_file
standin = import_file(sys.argv[1], "giant_standin")
count, size = int(sys.argv[2]), int(sys.argv[3])
api = standin.SlackStandIn().start()
words = "<@U012AB3CD> see <https://example.com/x|the link> and more words "
text = (words * (size // len(words) + 1))[:size]
for i in range(count):
    api.messages["C012AB3CD"].append(
        {"type": "message", "user": "U012AB3CD", "text": text, "ts": f"{1700000000 + i}.000100"}
    )
print(api.base_url, flush=True)
time.sleep(3600)
"""


@contextmanager
def standin_process(count: int, size: int) -> Iterator[str]:
    """A Slack stand-in in its own process whose #general holds `count` messages of `size` characters."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(STANDIN), str(count), str(size)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def heavy_and_small(target: Any) -> tuple[str, bool, float, list[float]]:
    """Read #general's 200 latest messages; meanwhile list the workspaces again and again."""
    async with connect(target, era="modern") as heavy, connect(target, era="legacy") as small:
        await small.call_tool("slack_list_workspaces", {})
        done: dict[str, Any] = {}
        smalls: list[float] = []

        async def run_heavy() -> None:
            started = time.perf_counter()
            done["result"] = await heavy.call_tool(
                "slack_get_channel_history", {"channel": GENERAL, "limit": 200}
            )
            done["seconds"] = time.perf_counter() - started

        async with anyio.create_task_group() as group:
            group.start_soon(run_heavy)
            await anyio.sleep(0.1)
            while "result" not in done:
                started = time.perf_counter()
                assert not (await small.call_tool("slack_list_workspaces", {})).is_error
                smalls.append(time.perf_counter() - started)
                await anyio.sleep(0.05)
    result = done["result"]
    return text(result), bool(result.is_error), done["seconds"], smalls


def assert_prompt(smalls: list[float]) -> None:
    if smalls:
        assert statistics.median(smalls) < PROMPT_SECONDS, smalls
        assert max(smalls) < WORST_SECONDS, smalls


def server_launch(base_url: str) -> Launch:
    return Launch(
        "patchbay-slack",
        ["--base-url", base_url, "--no-warm-cache", "--log-level", "WARNING", "--tool-timeout", "30"],
        env={"SLACK_BOT_TOKEN": BOT_TOKEN},
    )


async def test_an_answer_too_large_to_read_ends_clearly_with_bounded_memory() -> None:
    with standin_process(200, 250_000) as base_url, http_server(server_launch(base_url)) as running:
        async with connect(running, era="modern") as client:
            await client.call_tool("slack_list_workspaces", {})
        baseline = peak_mb(running.process.pid)
        shown, is_error, seconds, smalls = await heavy_and_small(running)
        peak = peak_mb(running.process.pid)
    assert is_error and "larger than 16 MB and was not read" in shown and "smaller limit" in shown, shown
    assert seconds < 30, seconds
    assert_prompt(smalls)
    assert peak - baseline < 120, (baseline, peak)  # a 50 MB answer read whole took 250 MB more


async def test_giant_messages_are_cut_before_they_are_rendered() -> None:
    with standin_process(60, 200_000) as base_url, http_server(server_launch(base_url)) as running:
        shown, is_error, seconds, smalls = await heavy_and_small(running)
    assert not is_error, shown
    assert "[message cut: " in shown and "more characters]" in shown
    assert seconds < 30, seconds
    assert_prompt(smalls)


async def test_the_marker_counts_every_character_left_out() -> None:
    """A message cut before rendering still says how much of it is not shown, to the character."""
    from patchbay_slack.reads import _precut, _rendered
    from patchbay_slack.render import render_message

    class NoNames:
        def user_handle(self, user_id: str) -> str | None:
            return None

        def channel_label(self, channel_id: str) -> str | None:
            return None

    message = {"user": "U1", "ts": "1700000000.000100", "text": "w" * 100_000}
    ((cut_message, cut),) = _precut([message], 1000)
    assert len(cut_message["text"]) == 2000 and cut == 98_000
    line, row = _rendered(cut_message, cut, NoNames(), 1000)  # type: ignore[arg-type]
    assert row["text"] == "w" * 1000 + " [message cut: 99000 more characters]"
    full_line = render_message(message, NoNames())[0]  # type: ignore[arg-type]
    assert line == f"{full_line[:1000]} [message cut: {len(full_line) - 1000} more characters]"
