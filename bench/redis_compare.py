"""patchbay-redis against the official @modelcontextprotocol/server-redis, side by side, over stdio.

Both run in one process against the same throwaway redis-server, driven by the MCP Python SDK client:
cold start (spawn -> initialize answered), warm `get` latency, RSS after warm-up, and listing keys on a
database of 1,000,000 keys while another process sends PING in a loop (does the listing block Redis?).
Also the issue's budget: warm `get` within 1.5x of a minimal MCPServer round trip plus a raw redis-py GET.

    npm install --prefix .cache/official/redis @modelcontextprotocol/server-redis
    uv run python bench/redis_compare.py [--keys 1000000] [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import textwrap
import time
from typing import Any

from _harness import OFFICIAL, child_pids, percentile, rss_kib, table
from mcp import Client, StdioServerParameters

from patchbay_common.testing.components import redis_server

OFFICIAL_JS = (
    OFFICIAL / "redis" / "node_modules" / "@modelcontextprotocol" / "server-redis" / "dist" / "index.js"
)

MINIMAL_SERVER = textwrap.dedent(
    """
    from mcp.server import MCPServer

    mcp = MCPServer("minimal")

    @mcp.tool()
    def echo(key: str) -> str:
        \"\"\"Return the key.\"\"\"
        return key

    mcp.run()
    """
)


async def fill(url: str, count: int) -> None:
    """`count` string keys `key:N`, written with MSET batches (about 1 s per 1M keys)."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    if await client.dbsize() != count:
        await client.flushdb()
        batch = 20_000
        for start in range(0, count, batch):
            await client.mset({f"key:{i}": "v" for i in range(start, min(count, start + batch))})
    await client.set("bench:value", "hello world")
    await client.aclose()


PINGER = textwrap.dedent(
    """
    import json, sys, time, redis
    client = redis.Redis.from_url(sys.argv[1])
    samples = []
    deadline = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline:
        started = time.perf_counter()
        client.ping()
        samples.append((time.perf_counter() - started) * 1000)
        time.sleep(0.001)
    print(json.dumps(samples))
    """
)


async def pinger(url: str, seconds: float) -> asyncio.subprocess.Process:
    """A separate process sending PING every millisecond for `seconds` (its own GIL and event loop)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", PINGER, url, str(seconds), stdout=asyncio.subprocess.PIPE
    )


async def pings(process: asyncio.subprocess.Process) -> list[float]:
    """The PING round trips (ms) a pinger measured."""
    out, _ = await process.communicate()
    return [float(x) for x in json.loads(out)]


async def measure(
    name: str, params: StdioServerParameters, url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Cold start, warm get, RSS and the big listing for one server."""
    colds = []
    for _ in range(args.cold_runs):
        started = time.perf_counter()
        async with Client(params, mode="legacy"):
            colds.append((time.perf_counter() - started) * 1000)
    before = child_pids()
    async with Client(params, mode="legacy") as client:
        pid = max(child_pids() - before, default=None)
        tool, call_args = (
            ("echo", {"key": "bench:value"}) if name == "minimal" else ("get", {"key": "bench:value"})
        )
        for _ in range(20):
            await client.call_tool(tool, call_args)
        warm = []
        for _ in range(args.calls):
            started = time.perf_counter()
            result = await client.call_tool(tool, call_args)
            warm.append((time.perf_counter() - started) * 1000)
            assert not result.is_error, result
        rss = rss_kib(pid) / 1024 if pid else float("nan")
        listing: dict[str, Any] = {}
        if name != "minimal":
            await redis_admin(url, "LATENCY", "RESET")
            await redis_admin(url, "CONFIG", "RESETSTAT")
            ping = await pinger(url, args.ping_seconds)
            await asyncio.sleep(0.3)  # the pinger's interpreter starts
            page_times, keys, cursor = [], 0, None
            # List for as long as the pinger runs: our server pages on through the key space with its cursor,
            # the official one repeats its KEYS-based listing.
            while ping.returncode is None and len(page_times) < 10_000:
                list_args: dict[str, Any] = {"pattern": "*"}
                if name != "official":
                    list_args |= {"limit": 100, **({"cursor": cursor} if cursor else {})}
                started = time.perf_counter()
                result = await client.call_tool("list", list_args, read_timeout_seconds=120)
                page_times.append((time.perf_counter() - started) * 1000)
                text = result.content[0].text
                if name == "official":
                    keys = text.count("\n")
                else:
                    keys = len(result.structured_content["keys"])
                    cursor = result.structured_content.get("next_cursor")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(ping.wait()), 0.001)
            samples = await pings(ping)
            latest = await redis_admin(url, "LATENCY", "LATEST")
            blocked = max((int(row[3]) for row in latest if row[0] in (b"command", "command")), default=0)
            stats = await redis_admin(url, "INFO", "commandstats")
            per_call = {
                k: v.get("usec_per_call") for k, v in stats.items() if k in ("cmdstat_scan", "cmdstat_keys")
            }
            listing = {
                "list_ms": percentile(page_times, 50),
                "list_max": max(page_times),
                "list_calls": len(page_times),
                "keys": keys,
                "ping_p99": percentile(samples, 99),
                "ping_max": max(samples),
                "chars": len(text),
                "redis_max_ms": blocked,
                "usec_per_call": next(iter(per_call.values()), float("nan")),
            }
    return {
        "cold": percentile(colds, 50),
        "warm50": percentile(warm, 50),
        "warm99": percentile(warm, 99),
        "rss": rss,
        **listing,
    }


async def redis_admin(url: str, *command: Any) -> Any:
    """One command from the bench itself (not through a server under test)."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    try:
        return await client.execute_command(*command)
    finally:
        await client.aclose()


async def raw_get(url: str, calls: int) -> float:
    """p50 (ms) of a raw redis-py asyncio GET."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    for _ in range(20):
        await client.get("bench:value")
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await client.get("bench:value")
        samples.append((time.perf_counter() - started) * 1000)
    await client.aclose()
    return percentile(samples, 50)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--ping-seconds", type=float, default=6.0)
    args = parser.parse_args()
    if not OFFICIAL_JS.exists():
        sys.exit(
            f"official server missing: npm install --prefix {OFFICIAL / 'redis'} "
            "@modelcontextprotocol/server-redis"
        )
    with redis_server() as instance:
        url = instance.url
        await fill(url, args.keys)
        await redis_admin(url, "CONFIG", "SET", "latency-monitor-threshold", "1")
        ours_bin = shutil.which("patchbay-redis") or "patchbay-redis"
        servers = {
            "minimal": StdioServerParameters(command=sys.executable, args=["-c", MINIMAL_SERVER]),
            "patchbay": StdioServerParameters(
                command=ours_bin, args=["--url", url, "--log-level", "WARNING"], env=dict(os.environ)
            ),
            "official": StdioServerParameters(command="node", args=[str(OFFICIAL_JS), url]),
        }
        results = {name: await measure(name, params, url, args) for name, params in servers.items()}
        raw = await raw_get(url, args.calls)
        idle = await pings(await pinger(url, 2.0))
    ours, official, minimal = results["patchbay"], results["official"], results["minimal"]
    table(
        f"patchbay-redis vs @modelcontextprotocol/server-redis ({args.keys:,} keys; ms unless noted)",
        ["measure", "patchbay", "official", "patchbay/official"],
        [
            ["cold start p50", ours["cold"], official["cold"], f"{ours['cold'] / official['cold']:.2f}x"],
            ["  (minimal MCPServer cold start p50)", minimal["cold"], "", ""],
            [
                "warm get p50",
                ours["warm50"],
                official["warm50"],
                f"{ours['warm50'] / official['warm50']:.2f}x",
            ],
            [
                "warm get p99",
                ours["warm99"],
                official["warm99"],
                f"{ours['warm99'] / official['warm99']:.2f}x",
            ],
            [
                "RSS after warm-up (MiB)",
                ours["rss"],
                official["rss"],
                f"{ours['rss'] / official['rss']:.2f}x",
            ],
            [
                "list '*' call p50",
                ours["list_ms"],
                official["list_ms"],
                f"{ours['list_ms'] / official['list_ms']:.3f}x",
            ],
            ["list '*' call max", ours["list_max"], official["list_max"], ""],
            ["  list calls made while pinging", ours["list_calls"], official["list_calls"], ""],
            ["  keys returned per call", ours["keys"], official["keys"], ""],
            ["  characters returned", ours["chars"], official["chars"], ""],
            ["  concurrent PING p99", ours["ping_p99"], official["ping_p99"], ""],
            ["  concurrent PING max", ours["ping_max"], official["ping_max"], ""],
            ["  (PING p99 / max with no listing)", f"{percentile(idle, 99):.1f} / {max(idle):.1f}", "", ""],
            ["  Redis time per SCAN / KEYS call (us)", ours["usec_per_call"], official["usec_per_call"], ""],
            ["  slowest Redis command seen (ms)", ours["redis_max_ms"], official["redis_max_ms"], ""],
        ],
    )
    budget = 1.5 * (minimal["warm50"] + raw)
    table(
        "warm get budget: within 1.5x of (minimal MCPServer round trip + raw redis-py GET)",
        ["measure", "ms"],
        [
            ["minimal MCPServer echo p50", minimal["warm50"]],
            ["raw redis-py GET p50", raw],
            ["budget (1.5x sum)", budget],
            ["patchbay get p50", ours["warm50"]],
            ["ratio to (minimal + raw)", f"{ours['warm50'] / (minimal['warm50'] + raw):.2f}x"],
        ],
    )
    checks = {
        "first page < 100 ms": ours["list_ms"] < 100,
        "PING p99 < 5 ms while listing": ours["ping_p99"] < 5,
        "get within 1.5x budget": ours["warm50"] <= budget,
    }
    print("\ntargets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks.items()))


if __name__ == "__main__":
    asyncio.run(main())
