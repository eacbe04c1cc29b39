"""Per-call cost of PatchbayServer's call path over the bare SDK, in process, in CPU time, and where it goes.

bench/overhead.py measures the overhead as a client sees it over stdio, but on a busy machine the stdio
round trip's noise (milliseconds) hides a difference of tens of microseconds. This calls `call_tool` on an
MCPServer and on a PatchbayServer with the same echo tool directly, alternating blocks of calls, and counts
the thread's CPU time (time.thread_time), which other processes barely disturb. Then the same with one part
of patchbay's call path left out at a time, so the table says what each part costs:

- the log line (JSON to stderr; stderr goes to /dev/null here, a write per call all the same);
- the per-call deadline (an anyio cancel scope, watched by one event-loop timer for all calls);
- the argument summary (repr and secret redaction of each argument, for the log line).

"without the log line" leaves out the summary too (it is made only for the line).

    uv run python bench/overhead_inprocess.py [--blocks 9] [--calls 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from _harness import table
from mcp.server import MCPServer

import patchbay_common.app as app
import patchbay_common.logs as logs
from patchbay_common.app import PatchbayServer
from patchbay_common.settings import CommonSettings


def echo_server(kind: type[MCPServer[Any]]) -> MCPServer[Any]:
    if kind is PatchbayServer:
        server: MCPServer[Any] = PatchbayServer("x", version="0", settings=CommonSettings(_cli_parse_args=[]))  # type: ignore[call-arg]
    else:
        server = MCPServer("x")

    @server.tool()
    async def echo(text: str) -> str:
        """Return the text."""
        return text

    return server


async def cpu_per_call(server: MCPServer[Any], calls: int) -> float:
    """Microseconds of CPU per `call_tool`, over one block of `calls` calls."""
    began = time.thread_time()
    for _ in range(calls):
        await server.call_tool("echo", {"text": "hello"})
    return (time.thread_time() - began) / calls * 1e6


async def compare(blocks: int, calls: int) -> tuple[float, float]:
    """(SDK µs, patchbay µs) per call, medians over interleaved blocks."""
    sdk, ours = echo_server(MCPServer), echo_server(PatchbayServer)
    for server in (sdk, ours):
        await cpu_per_call(server, 200)
    a, b = [], []
    for _ in range(blocks):
        a.append(await cpu_per_call(sdk, calls))
        b.append(await cpu_per_call(ours, calls))
    return statistics.median(a), statistics.median(b)


async def _plain_run_tool(self: PatchbayServer, name: str, arguments: Any, context: Any, call_id: str) -> Any:
    return await MCPServer.call_tool(self, name, arguments, context)


WITHOUT: dict[str, tuple[str, Callable[[], Any], Callable[[Any], None]]] = {
    "the log line": (
        "log_call",
        lambda: app.log_call,  # type: ignore[attr-defined]
        lambda value: setattr(app, "log_call", value),
    ),
    "the deadline": (
        "_run_tool",
        lambda: PatchbayServer._run_tool,
        lambda value: setattr(PatchbayServer, "_run_tool", value),
    ),
    "the argument summary": (
        "summarize_arguments",
        lambda: logs.summarize_arguments,
        lambda value: setattr(logs, "summarize_arguments", value),
    ),
}
REPLACEMENT = {
    "log_call": lambda *a, **k: None,
    "_run_tool": _plain_run_tool,
    "summarize_arguments": lambda a: {},
}


async def main(blocks: int, calls: int) -> None:
    rows = []
    sdk, ours = await compare(blocks, calls)
    whole = ours - sdk
    rows.append(["PatchbayServer as shipped", f"{sdk:.1f}", f"{ours:.1f}", f"{whole:+.1f}", "-"])
    for label, (key, get, put) in WITHOUT.items():
        original = get()
        put(REPLACEMENT[key])
        try:
            sdk_b, ours_b = await compare(blocks, calls)
        finally:
            put(original)
        added = ours_b - sdk_b
        rows.append(
            [f"without {label}", f"{sdk_b:.1f}", f"{ours_b:.1f}", f"{added:+.1f}", f"{whole - added:.1f}"]
        )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])  # noqa: ASYNC240 - /proc, instant
    table(
        f"call_tool in process, CPU µs per call, median of {blocks} interleaved blocks of {calls} "
        f"(load {load})",
        ["variant", "SDK", "patchbay", "added", "that part costs"],
        rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=9)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # the log lines: written (a syscall each, as in production), not shown
    anyio.run(main, args.blocks, args.calls)
