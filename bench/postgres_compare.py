"""patchbay-postgres against the official @modelcontextprotocol/server-postgres, side by side, over stdio.

Both servers run in the same run against the same throwaway PostgreSQL, driven by the MCP Python SDK client:
cold start (spawn -> initialize answered), warm one-row `query` latency, RSS after warm-up, and the size of
what a 100,000-row result puts into a model's context. Also the issue's budgets: a warm one-row query within
1.5x of a minimal MCPServer whose tool calls raw asyncpg, and a query over 10,000,000 generated rows whose
capped first page comes back in under 200 ms with RSS growth under 20 MB.

    npm install --prefix .cache/official/postgres @modelcontextprotocol/server-postgres
    uv run python bench/postgres_compare.py [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import textwrap
import time
from typing import Any

from _harness import OFFICIAL, child_pids, percentile, rss_kib, table
from mcp import Client, StdioServerParameters

from patchbay_common.testing.components import postgres_server

OFFICIAL_JS = (
    OFFICIAL / "postgres" / "node_modules" / "@modelcontextprotocol" / "server-postgres" / "dist" / "index.js"
)
ONE_ROW = "SELECT id, name, price FROM items WHERE id = 42"
# generate_series in the select list streams (ProjectSet); in FROM, PostgreSQL's FunctionScan materialises all
# 10M rows before the first one (~1 s), whatever the client does: see the README.
BIG = "SELECT g AS n, md5(g::text) AS h FROM (SELECT generate_series(1, 10000000) AS g) AS s"
HUNDRED_K = "SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 100000) AS g"

MINIMAL_SERVER = textwrap.dedent(
    """
    import sys, asyncpg
    from mcp.server import MCPServer

    mcp = MCPServer("minimal")
    pool = None

    @mcp.tool()
    async def query(sql: str) -> str:
        \"\"\"Run sql with raw asyncpg and return the rows.\"\"\"
        global pool
        if pool is None:
            pool = await asyncpg.create_pool(sys.argv[1], min_size=1, max_size=2)
        return str([dict(r) for r in await pool.fetch(sql)])

    mcp.run()
    """
)


async def prepare(dsn: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    await connection.execute(
        """
        DROP TABLE IF EXISTS items;
        CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2));
        INSERT INTO items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 1000) g;
        ANALYZE items;
        """
    )
    await connection.close()


async def measure(name: str, params: StdioServerParameters, args: argparse.Namespace) -> dict[str, Any]:
    """Cold start, warm one-row query, RSS, and (ours) the 10M-row first page."""
    colds = []
    for _ in range(args.cold_runs):
        started = time.perf_counter()
        async with Client(params, mode="legacy"):
            colds.append((time.perf_counter() - started) * 1000)
    before = child_pids()
    out: dict[str, Any] = {"cold": percentile(colds, 50)}
    async with Client(params, mode="legacy") as client:
        pid = max(child_pids() - before, default=None)
        for _ in range(20):
            await client.call_tool("query", {"sql": ONE_ROW})
        warm = []
        for _ in range(args.calls):
            started = time.perf_counter()
            result = await client.call_tool("query", {"sql": ONE_ROW})
            warm.append((time.perf_counter() - started) * 1000)
            assert not result.is_error, result
        out |= {"warm50": percentile(warm, 50), "warm99": percentile(warm, 99)}
        out["rss"] = rss_kib(pid) / 1024 if pid else float("nan")
        if name != "minimal":
            started = time.perf_counter()
            result = await client.call_tool("query", {"sql": HUNDRED_K}, read_timeout_seconds=120)
            out["100k_ms"] = (time.perf_counter() - started) * 1000
            out["100k_chars"] = sum(len(getattr(b, "text", "")) for b in result.content)
        if name == "patchbay":
            rss_before = rss_kib(pid)
            pages = []
            for _ in range(5):
                started = time.perf_counter()
                result = await client.call_tool("query", {"sql": BIG})
                pages.append((time.perf_counter() - started) * 1000)
                assert result.structured_content["truncated"], result
            out["big_ms"] = percentile(pages, 50)
            out["big_rss_growth"] = (rss_kib(pid) - rss_before) / 1024
    return out


async def raw_asyncpg(dsn: str, calls: int) -> float:
    """p50 (ms) of the one-row query through raw asyncpg."""
    import asyncpg

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    for _ in range(20):
        await pool.fetch(ONE_ROW)
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await pool.fetch(ONE_ROW)
        samples.append((time.perf_counter() - started) * 1000)
    await pool.close()
    return percentile(samples, 50)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()
    if not OFFICIAL_JS.exists():
        sys.exit(
            f"official server missing: npm install --prefix {OFFICIAL / 'postgres'} "
            "@modelcontextprotocol/server-postgres"
        )
    with postgres_server() as instance:
        dsn = instance.dsn
        await prepare(dsn)
        ours_bin = shutil.which("patchbay-postgres") or "patchbay-postgres"
        servers = {
            "minimal": StdioServerParameters(command=sys.executable, args=["-c", MINIMAL_SERVER, dsn]),
            "patchbay": StdioServerParameters(
                command=ours_bin, args=["--dsn", dsn, "--log-level", "WARNING"], env=dict(os.environ)
            ),
            "official": StdioServerParameters(command="node", args=[str(OFFICIAL_JS), dsn]),
        }
        results = {name: await measure(name, params, args) for name, params in servers.items()}
        raw = await raw_asyncpg(dsn, args.calls)
    ours, official, minimal = results["patchbay"], results["official"], results["minimal"]

    def ratio(key: str) -> str:
        return f"{ours[key] / official[key]:.2f}x"

    table(
        "patchbay-postgres vs @modelcontextprotocol/server-postgres 0.6.2 (stdio; ms unless noted)",
        ["measure", "patchbay", "official", "patchbay/official"],
        [
            ["cold start p50 (spawn -> initialize)", ours["cold"], official["cold"], ratio("cold")],
            ["  (minimal MCPServer cold start p50)", minimal["cold"], "", ""],
            ["warm one-row query p50", ours["warm50"], official["warm50"], ratio("warm50")],
            ["warm one-row query p99", ours["warm99"], official["warm99"], ratio("warm99")],
            ["RSS after warm-up (MiB)", ours["rss"], official["rss"], ratio("rss")],
            ["100,000-row query (ms)", ours["100k_ms"], official["100k_ms"], ratio("100k_ms")],
            [
                "100,000-row query: characters returned",
                ours["100k_chars"],
                official["100k_chars"],
                ratio("100k_chars"),
            ],
        ],
    )
    budget = minimal["warm50"]
    table(
        "issue budgets",
        ["measure", "value", "budget", "ok"],
        [
            ["raw asyncpg one-row p50 (ms)", raw, "", ""],
            ["minimal MCPServer + raw asyncpg p50 (ms)", budget, "", ""],
            [
                "patchbay warm p50 / minimal",
                f"{ours['warm50'] / budget:.2f}x",
                "<= 1.5x",
                "yes" if ours["warm50"] <= 1.5 * budget else "NO",
            ],
            [
                "10M-row query, capped first page p50 (ms)",
                ours["big_ms"],
                "< 200",
                "yes" if ours["big_ms"] < 200 else "NO",
            ],
            [
                "10M-row query, RSS growth over 5 calls (MiB)",
                ours["big_rss_growth"],
                "< 20",
                "yes" if ours["big_rss_growth"] < 20 else "NO",
            ],
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
