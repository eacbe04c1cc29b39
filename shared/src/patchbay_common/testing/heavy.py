"""Measure one heavy tool call on a server process: answer, time, peak memory rise, small calls meanwhile.

The pathological-input tests of several servers ask the same question: does the call end by its deadline,
with memory bounded, while small calls on the same server keep answering? This is the one way to measure it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

__all__ = ["Outcome", "measure_heavy_call", "process_memory"]


def process_memory(pid: int, key: str) -> int:
    """A memory figure of a Linux process in bytes (`VmRSS` now, `VmHWM` its peak) from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} for {pid}")


@dataclass
class Outcome:
    """What one heavy call did."""

    text: str = ""
    is_error: bool = False
    seconds: float = 0.0
    peak_rise_mib: float = 0.0
    pings: list[float] = field(default_factory=list)


async def measure_heavy_call(
    client: Any,
    pid: int,
    tool: str,
    arguments: dict[str, Any],
    small_call: Callable[[Any], Awaitable[None]],
    answer_by: float,
) -> Outcome:
    """Call `tool` while `small_call` runs again and again; return the answer, timings and memory rise."""
    await small_call(client)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # noqa: ASYNC240 - peak RSS back to the current RSS
    before = process_memory(pid, "VmRSS")
    outcome = Outcome()
    done = anyio.Event()

    async def call() -> None:
        started = time.perf_counter()
        try:
            with anyio.fail_after(answer_by + 30):  # the old behaviour: fail the test, do not hang it
                result = await client.call_tool(tool, arguments)
            outcome.text = "\n".join(getattr(block, "text", "") for block in result.content)
            outcome.is_error = bool(result.is_error)
        finally:
            outcome.seconds = time.perf_counter() - started
            done.set()

    async def ping_while_running() -> None:
        await anyio.sleep(0.05)
        while not done.is_set():
            started = time.perf_counter()
            with anyio.move_on_after(answer_by + 30):
                await small_call(client)
            outcome.pings.append(time.perf_counter() - started)
            with anyio.move_on_after(0.1):
                await done.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        group.start_soon(ping_while_running)
    outcome.peak_rise_mib = (process_memory(pid, "VmHWM") - before) / (1 << 20)
    return outcome
