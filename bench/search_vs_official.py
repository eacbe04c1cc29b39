"""patchbay-search vs the official @modelcontextprotocol/server-brave-search, side by side over stdio.

Both servers talk to the same local stand-in of the Brave Search API (servers/search/tests/standin.py),
set to the Free plan's limits (1 request per second). The official server hardcodes
https://api.search.brave.com, so it is pointed at the stand-in by a Node preload (`--import`) that rewrites
that prefix in `fetch` URLs; its own code runs unchanged.

Figures: cold start (spawn to initialize answered), tools/list size, web search latency and output size,
local search outcome, a burst of 5 concurrent searches, a repeated identical query (API requests sent),
and the server's resident memory. Install the official server first:
    npm install --prefix .cache/official/brave-search @modelcontextprotocol/server-brave-search
Run: uv run python bench/search_vs_official.py
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from patchbay_common.testing.modules import import_file

sys.path.insert(0, str(Path(__file__).parent))
from _harness import children_rss_kib

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL_DIR = ROOT / ".cache/official/brave-search"
OFFICIAL_JS = OFFICIAL_DIR / "node_modules/@modelcontextprotocol/server-brave-search/dist/index.js"
SHIM = OFFICIAL_DIR / "redirect-to-standin.mjs"
SHIM_CODE = """\
const target = process.env.BRAVE_STANDIN_URL;
const prefix = "https://api.search.brave.com";
const original = globalThis.fetch;
globalThis.fetch = (input, init) => {
  let url = input instanceof URL ? input.href : (typeof input === "string" ? input : input.url);
  if (url.startsWith(prefix)) url = target + url.slice(prefix.length);
  return original(url, init);
};
"""
STARTS = 5
QUERIES = [f"brave search api {i}" for i in range(5)]


def load_standin() -> Any:
    """The server's test stand-in, imported from its tests folder."""
    return import_file(ROOT / "servers/search/tests/standin.py", "search_standin")


def servers(base_url: str, key: str) -> dict[str, StdioServerParameters]:
    if not OFFICIAL_JS.exists():
        sys.exit(
            f"official server missing: npm install --prefix {OFFICIAL_DIR} "
            "@modelcontextprotocol/server-brave-search"
        )
    SHIM.write_text(SHIM_CODE)
    ours = shutil.which("patchbay-search")
    assert ours, "patchbay-search is not on PATH: run with `uv run`"
    env = {**os.environ, "BRAVE_API_KEY": key}
    return {
        "patchbay": StdioServerParameters(command=ours, args=["--base-url", base_url], env=env),
        "official": StdioServerParameters(
            command="node",
            args=[str(OFFICIAL_JS)],
            env={**env, "BRAVE_STANDIN_URL": base_url, "NODE_OPTIONS": f"--import={SHIM.as_uri()}"},
        ),
    }


def text_of(result: Any) -> str:
    return "\n".join(getattr(b, "text", "") for b in result.content)


async def measure(name: str, params: StdioServerParameters, api: Any) -> dict[str, Any]:
    row: dict[str, Any] = {}
    starts = []
    for _ in range(STARTS):
        began = time.perf_counter()
        async with Client(params, mode="legacy") as client:
            starts.append(time.perf_counter() - began)
            tools = (await client.list_tools()).tools
    row["cold start (median s)"] = statistics.median(starts)
    payload = json.dumps([t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools])
    row["tools"] = len(tools)
    row["tools/list bytes"] = len(payload)

    async with Client(params, mode="legacy") as client:
        await anyio.sleep(1.2)
        latencies, sizes = [], []
        for query in QUERIES:
            began = time.perf_counter()
            result = await client.call_tool("brave_web_search", {"query": query, "count": 10})
            latencies.append(time.perf_counter() - began)
            assert not result.is_error, f"{name}: {text_of(result)}"
            sizes.append(len(text_of(result)))
            await anyio.sleep(1.2)  # the official server allows 1 request per second
        row["web search (median ms)"] = statistics.median(latencies) * 1000
        row["web result chars (count=10)"] = statistics.median(sizes)

        before = len(api.requests)
        local = await client.call_tool("brave_local_search", {"query": "pizza near Central Park"})
        local_text = text_of(local)
        places = local_text.count("Address:")
        row["local search"] = "error: " + local_text[:40] if local.is_error else f"ok ({places} places)"
        row["local: API requests"] = len(api.requests) - before
        await anyio.sleep(1.5)

        outcomes: list[bool] = []

        async def one(i: int) -> None:
            result = await client.call_tool("brave_web_search", {"query": f"burst {i}"})
            outcomes.append(not result.is_error)

        began = time.perf_counter()
        async with anyio.create_task_group() as group:
            for i in range(5):
                group.start_soon(one, i)
        row["burst of 5: succeeded"] = sum(outcomes)
        row["burst of 5: seconds"] = time.perf_counter() - began
        await anyio.sleep(1.5)

        before = len(api.requests)
        repeated_ok = 0
        for _ in range(3):
            result = await client.call_tool("brave_web_search", {"query": QUERIES[0], "count": 10})
            repeated_ok += not result.is_error
            await anyio.sleep(1.1)
        row["earlier query x3: API requests"] = len(api.requests) - before
        row["memory RSS (MiB)"] = children_rss_kib() / 1024
    return row


async def main() -> None:
    standin = load_standin()
    with standin.BraveStandIn(per_second=1, monthly_limit=15000) as api:
        results = {}
        for name, params in servers(api.base_url, standin.TEST_KEY).items():
            results[name] = await measure(name, params, api)
            await anyio.sleep(1.2)
    ours, theirs = results["patchbay"], results["official"]
    print(f"{'figure':32} {'patchbay':>14} {'official':>14} {'ratio':>8}")
    for key in ours:
        a, b = ours[key], theirs[key]
        if isinstance(a, int | float) and isinstance(b, int | float):
            ratio = f"{a / b:.2f}" if b else "-"
            fmt = (lambda v: f"{v:.2f}") if isinstance(a, float) or isinstance(b, float) else str
            print(f"{key:32} {fmt(a):>14} {fmt(b):>14} {ratio:>8}")
        else:
            print(f"{key:32} {a!s:>14} {b!s:>14} {'':>8}")


if __name__ == "__main__":
    anyio.run(main)
