"""patchbay-sqlite and the official mcp-server-sqlite side by side over stdio, driven by the MCP SDK client.

Figures (the issue's targets in brackets):
  1. warm read_query of one row: p50 latency, ours / official            [<= 0.5x]
  2. SELECT * on a 1,000,000-row table: time to the first (capped) page
     and the server's RSS growth                                          [< 100 ms, < 20 MB]
  3. cold start, spawn -> tools/list answered, ours / minimal MCPServer   [<= 1.10x]

The official server (PyPI mcp-server-sqlite, which needs mcp<2) is installed with:
    uv venv .cache/official/sqlite
    uv pip install -p .cache/official/sqlite/bin/python mcp-server-sqlite 'mcp<2'

    uv run python bench/sqlite_compare.py [--calls 300] [--runs 11] [--big-rows 1000000] [--skip-official-big]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from _harness import OFFICIAL, percentile, rss_kib, spawn_to_tools, table, time_async
from cold_start import MINIMAL_SERVER
from mcp import Client, StdioServerParameters

from patchbay_sqlite.sample import SAMPLE_PATH

OFFICIAL_BIN = OFFICIAL / "sqlite" / "bin" / "mcp-server-sqlite"
QUIET = dict(os.environ)  # default settings: our per-call INFO log lines are part of the cost


def ours(db: Path) -> list[str]:
    return [sys.executable, "-m", "patchbay_sqlite", "--db", f"shop={db}"]


def official(db: Path) -> list[str]:
    return [str(OFFICIAL_BIN), "--db-path", str(db)]


def child_pid(argv0: str) -> int:
    """The pid of our child process started as `argv0` (the SDK's stdio client does not expose it)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and any(argv0.encode() in part for part in cmdline):
            return int(entry.name)
    raise RuntimeError(f"no child process {argv0}")


def client(argv: list[str]) -> Client:
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=QUIET)
    return Client(params, mode="legacy")


async def warm_read(argv: list[str], calls: int) -> list[float]:
    async with client(argv) as session:

        async def one() -> None:
            query = {"query": "SELECT id, name FROM customers WHERE id = 7"}
            result = await session.call_tool("read_query", query)
            assert not result.is_error, result

        return await time_async(one, calls, warmup=20)


async def big_select(argv: list[str], marker: str, limit_s: float) -> tuple[float, float, int] | None:
    """(ms to the answer, RSS growth in MB, characters returned) for SELECT * FROM big; None on timeout."""
    async with client(argv) as session:
        await session.call_tool("read_query", {"query": "SELECT id FROM customers WHERE id = 1"})
        pid = child_pid(marker)
        before = rss_kib(pid)
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(
                session.call_tool("read_query", {"query": "SELECT * FROM big"}), limit_s
            )
        except TimeoutError:
            return None
        elapsed = (time.perf_counter() - started) * 1000
        grown = (rss_kib(pid) - before) / 1024
        chars = sum(len(getattr(b, "text", "")) for b in result.content)
        return elapsed, grown, chars


def make_big(path: Path, rows: int) -> None:
    shutil.copyfile(SAMPLE_PATH, path)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, label TEXT, amount REAL)")
    conn.execute(
        "INSERT INTO big SELECT value, 'item ' || value, value * 0.25 FROM "
        "(WITH RECURSIVE c(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM c WHERE value < ?) "
        "SELECT value FROM c)",
        (rows,),
    )
    conn.commit()
    conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-official-big", action="store_true")
    args = parser.parse_args()
    if not OFFICIAL_BIN.exists():
        sys.exit(f"official server not installed at {OFFICIAL_BIN}; see this file's docstring")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small_ours, small_official = folder / "ours.db", folder / "official.db"
        shutil.copyfile(SAMPLE_PATH, small_ours)
        shutil.copyfile(SAMPLE_PATH, small_official)

        # 1. warm read_query of one row
        mine = await warm_read(ours(small_ours), args.calls)
        theirs = await warm_read(official(small_official), args.calls)
        p50_mine, p50_theirs = percentile(mine, 50), percentile(theirs, 50)
        table(
            f"1. warm read_query, one row, {args.calls} calls over stdio (ms)",
            ["server", "p50", "p90", "ratio (p50)"],
            [
                ["patchbay-sqlite", p50_mine, percentile(mine, 90), f"{p50_mine / p50_theirs:.2f}x"],
                ["mcp-server-sqlite (official)", p50_theirs, percentile(theirs, 90), "1.00x"],
            ],
        )

        # 2. SELECT * on a large table
        big = folder / "big.db"
        make_big(big, args.big_rows)
        rows = []
        got = await big_select(ours(big), "patchbay_sqlite", limit_s=60)
        if got:
            rows.append(["patchbay-sqlite", got[0], got[1], got[2]])
        if not args.skip_official_big:
            got = await big_select(official(big), "mcp-server-sqlite", limit_s=120)
            rows.append(["mcp-server-sqlite (official)", *(got or ("timeout >120 s", "-", "-"))])
        table(
            f"2. SELECT * FROM big ({args.big_rows:,} rows): time to answer, server RSS growth",
            ["server", "ms", "RSS MB", "chars returned"],
            rows,
        )

        # 3. cold start
        minimal = folder / "minimal.py"
        minimal.write_text(MINIMAL_SERVER)
        candidates = {
            "minimal MCPServer (1 tool)": [sys.executable, str(minimal)],
            "patchbay-sqlite (no arguments)": [sys.executable, "-m", "patchbay_sqlite"],
            "mcp-server-sqlite (official)": official(small_official),
        }
        lists: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(args.runs):
            for name, argv in candidates.items():
                lists[name].append(spawn_to_tools(argv)[1])
        base = percentile(lists["minimal MCPServer (1 tool)"], 50)
        table(
            f"3. cold start, spawn -> tools/list answered, p50 of {args.runs} (ms)",
            ["server", "ms", "vs minimal"],
            [[name, percentile(v, 50), f"{percentile(v, 50) / base:.2f}x"] for name, v in lists.items()],
        )


if __name__ == "__main__":
    asyncio.run(main())
