"""search_content of patchbay-filesystem against `rg`, in the same run, interleaved, over stdio.

A tree of `--files` small files (100 per directory; one file in 997 holds the needle) is searched for a
literal (`rg -F`) and a regular expression (`rg -e`), with max_results 1000 so ours walks the whole
tree as rg does (`--max-results 100` measures a search cut by the cap, answering with a continuation),
alternating ours and ripgrep round by round so both see the same machine load. Then the same search
again while a second task on the same connection hammers the server with small `read_text_file` calls,
against the idle figure.

    sudo apt-get install ripgrep          # Debian's ripgrep (rg)
    uv run python bench/filesystem_search.py [--files 100000 300000] [--rounds 3] [--dir /tmp/patchbay-search]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mcp import Client, StdioServerParameters

NEEDLE = "needle here"
REGEX = r"need[a-z]+ h"


def make_tree(base: Path, files: int) -> None:
    """`files` files of about 60 bytes, 100 per directory, 100 directories per group; idempotent."""
    done = base / f".done-{files}"
    if done.exists():
        return
    shutil.rmtree(base, ignore_errors=True)
    for i in range(files):
        folder = base / f"g{i // 10000:03}" / f"d{i // 100:05}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        tail = f"{NEEDLE}\n" if i % 997 == 0 else "nothing\n"
        (folder / f"f{i % 100:03}.txt").write_text(f"line one of file {i}\nsome text {i * 7}\n{tail}")
    (base / "small.txt").write_text("a small file\n" * 20)
    done.touch()


def rg_seconds(base: Path, literal: bool) -> float:
    started = time.perf_counter()
    args = ["rg", "-F", NEEDLE] if literal else ["rg", "-e", REGEX]
    subprocess.run([*args, str(base)], capture_output=True, check=False)
    return time.perf_counter() - started


MAX_RESULTS = [1000]


async def ours_seconds(client: Client, base: Path, literal: bool) -> float:
    started = time.perf_counter()
    result = await client.call_tool(
        "search_content",
        {
            "path": str(base),
            "pattern": NEEDLE if literal else REGEX,
            "literal": literal,
            "max_results": MAX_RESULTS[0],
        },
        read_timeout_seconds=900,
    )
    elapsed = time.perf_counter() - started
    if result.is_error:
        raise RuntimeError(f"search_content failed: {result.content}")
    return elapsed


async def hammer(client: Client, base: Path, stop: asyncio.Event, counts: list[int]) -> None:
    """Small reads back to back on the same connection until `stop`."""
    while not stop.is_set():
        await client.call_tool("read_text_file", {"path": str(base / "small.txt")})
        counts[0] += 1


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--files", type=int, nargs="+", default=[100_000, 300_000], help="tree sizes, each measured in turn"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/patchbay-search")
    parser.add_argument(
        "--max-results",
        type=int,
        default=1000,
        help="ours stops at this many matches (cap and continuation); the default reaches the end of the "
        "tree (one file in 997 matches), as rg does",
    )
    options = parser.parse_args()
    MAX_RESULTS[0] = options.max_results
    if not shutil.which("rg"):
        sys.exit("rg missing: sudo apt-get install ripgrep")
    print(f"{options.rounds} rounds, loadavg {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    print(
        f"{'files':>7} {'search':8} {'ours s':>8} {'rg s':>8} {'ours/rg':>8} {'busy s':>8} {'busy/idle':>9} "
        f"{'reads':>6}"
    )
    for files in options.files:
        await measure(Path(options.dir) / str(files), files, options.rounds)


async def measure(base: Path, files: int, rounds: int) -> None:
    """One tree: ours and rg, interleaved, then ours while another task hammers the server; one row a kind."""
    make_tree(base, files)
    server = StdioServerParameters(
        command=shutil.which("patchbay-filesystem") or "patchbay-filesystem",
        args=[str(base), "--log-level", "WARNING", "--tool-timeout", "600"],
    )
    async with Client(server, mode="legacy") as client:
        for literal in (True, False):
            await ours_seconds(client, base, literal)  # warm the page cache and the server
            rg_seconds(base, literal)
        rows: dict[str, dict[str, list[float]]] = {}
        for literal in (True, False):
            kind = "literal" if literal else "regex"
            got: dict[str, list[float]] = {"ours": [], "rg": [], "ours busy": []}
            for _ in range(rounds):
                got["ours"].append(await ours_seconds(client, base, literal))
                got["rg"].append(rg_seconds(base, literal))
                stop, counts = asyncio.Event(), [0]
                task = asyncio.create_task(hammer(client, base, stop, counts))
                await asyncio.sleep(0.2)
                got["ours busy"].append(await ours_seconds(client, base, literal))
                stop.set()
                await task
                got.setdefault("reads during", []).append(float(counts[0]))
            rows[kind] = got
    for kind, got in rows.items():
        ours, rg, busy = (statistics.median(got[k]) for k in ("ours", "rg", "ours busy"))
        ratios = [a / b for a, b in zip(got["ours"], got["rg"], strict=True)]
        busy_ratios = [a / b for a, b in zip(got["ours busy"], got["ours"], strict=True)]
        print(
            f"{files:7} {kind:8} {ours:8.2f} {rg:8.2f} {statistics.median(ratios):8.2f} {busy:8.2f} "
            f"{statistics.median(busy_ratios):9.2f} {statistics.median(got['reads during']):6.0f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
