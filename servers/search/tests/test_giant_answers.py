"""Giant answers from the search API: each call ends by its deadline with a clear text, the server's memory
stays bounded, and a small call on the same server answers promptly meanwhile.

The API stand-in and the server each run in a process of their own, so neither the stand-in's JSON
encoding nor the test's clients compete with the server for its interpreter lock; the server is measured
as a process (peak resident size) and through an MCP client (latency), as in use.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from patchbay_common.testing.clients import Launch, connect, http_server
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio

STANDIN = Path(__file__).with_name("standin.py")
KEY: str = sys.modules["patchbay_search_tests_standin"].TEST_KEY  # loaded by conftest.py
PROMPT_SECONDS = 0.3  # the median small call while a heavy one runs; a frozen server takes seconds
WORST_SECONDS = 1.0  # any one small call (the machine is shared and noisy)

_SERVE = """
import gzip, json, sys, time
from patchbay_common.testing.modules import import_file
standin = import_file(sys.argv[1], "giant_search_standin")
count, size = int(sys.argv[2]), int(sys.argv[3])
api = standin.BraveStandIn(api_key=standin.TEST_KEY, per_second=1000).start()
body = standin.load_fixture("web_search.json")
first = body["web"]["results"][0]
words = "<strong>word</strong> &amp; more " * (size // 30 + 1)
body["web"]["results"] = [
    {**first, "url": f"https://site{i}.example/page", "description": words[:size]} for i in range(count)
]
raw = gzip.compress(json.dumps(body).encode())  # encoded once, not while a small call waits for it
print(api.base_url, flush=True)
sys.stdin.readline()  # armed only after the test's first web search (first-use costs are not measured)
api.queue("/res/v1/web/search", 200, raw, headers={"Content-Encoding": "gzip"})
print("armed", flush=True)
time.sleep(3600)
"""


@contextmanager
def standin_process(count: int, size: int) -> Iterator[tuple[str, Callable[[], None]]]:
    """A stand-in in its own process; once armed, its next web search answers `count` results of `size`."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(STANDIN), str(count), str(size)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None

    def arm() -> None:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "armed"

    try:
        yield process.stdout.readline().strip(), arm
    finally:
        process.kill()
        process.wait()
        process.stdin.close()
        process.stdout.close()


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def server_launch(base_url: str) -> Launch:
    return Launch(
        "patchbay-search",
        ["--base-url", base_url, "--rate-limit", "100", "--log-level", "WARNING", "--tool-timeout", "30"],
        env={"BRAVE_API_KEY": KEY},
    )


async def heavy_and_small(target: Any, arm: Callable[[], None]) -> tuple[str, bool, float, list[float]]:
    """A web search (the giant answer); meanwhile news searches (normal answers) again and again."""
    async with connect(target, era="modern") as heavy, connect(target, era="legacy") as small:
        assert not (await small.call_tool("brave_news_search", {"query": "warm up"})).is_error
        assert not (await heavy.call_tool("brave_web_search", {"query": "warm up"})).is_error
        arm()
        done: dict[str, Any] = {}
        smalls: list[float] = []

        async def run_heavy() -> None:
            started = time.perf_counter()
            done["result"] = await heavy.call_tool("brave_web_search", {"query": "giant"})
            done["seconds"] = time.perf_counter() - started

        async with anyio.create_task_group() as group:
            group.start_soon(run_heavy)
            await anyio.sleep(0.1)
            while "result" not in done:
                started = time.perf_counter()
                assert not (await small.call_tool("brave_news_search", {"query": "small"})).is_error
                smalls.append(time.perf_counter() - started)
                await anyio.sleep(0.05)
    result = done["result"]
    return text(result), bool(result.is_error), done["seconds"], smalls


def assert_prompt(smalls: list[float]) -> None:
    if smalls:
        assert statistics.median(smalls) < PROMPT_SECONDS, smalls
        assert max(smalls) < WORST_SECONDS, smalls


async def test_an_answer_too_large_to_read_ends_clearly_with_bounded_memory() -> None:
    with (
        standin_process(60_000, 400) as (base_url, arm),
        http_server(server_launch(base_url)) as running,
    ):
        async with connect(running, era="modern") as client:
            await client.call_tool("brave_news_search", {"query": "warm up"})
        baseline = peak_mb(running.process.pid)
        shown, is_error, seconds, smalls = await heavy_and_small(running, arm)
        peak = peak_mb(running.process.pid)
    assert is_error and "more than 2 MB" in shown and "smaller count" in shown, shown
    assert seconds < 30, seconds
    assert_prompt(smalls)
    assert peak - baseline < 80, (baseline, peak)


async def test_a_large_answer_under_the_cap_is_read_without_stalling() -> None:
    with (
        standin_process(1_500, 300) as (base_url, arm),
        http_server(server_launch(base_url)) as running,
    ):
        shown, is_error, seconds, smalls = await heavy_and_small(running, arm)
    assert not is_error, shown
    assert "site0.example" in shown and "word & more" in shown
    assert seconds < 30, seconds
    assert_prompt(smalls)
