"""patchbay-slack vs the official @modelcontextprotocol/server-slack, side by side over stdio.

Both run in the same process tree against the same local Slack Web API stand-in
(servers/slack/tests/standin.py). The official server hardcodes https://slack.com/api, so its cold start
and tools/list are measured as shipped; for the figures that need Slack (history, 429), it is pointed at
the stand-in by a Node preload (`--import`) that rewrites that prefix in `fetch` URLs; its code runs
unchanged. A minimal MCPServer (one tool, the SDK alone) is the floor for start-up.

Figures: cold start (spawn to initialize answered) while the stand-in takes 3 s to list users, and without
a token (no warm-up at all); tools/list size; formatting 1,000 messages in-process; channel history of
200 messages over stdio (latency, output size); what a model sees after one 429 with Retry-After: 0;
resident memory.
Install the official server first:
    npm install --prefix .cache/official/slack @modelcontextprotocol/server-slack
Run: uv run python bench/slack_compare.py
"""

from __future__ import annotations

import asyncio
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
from _harness import OFFICIAL, children_rss_kib, percentile, table

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL_DIR = OFFICIAL / "slack"
OFFICIAL_PACKAGE = "@modelcontextprotocol/server-slack"
OFFICIAL_JS = OFFICIAL_DIR / "node_modules/@modelcontextprotocol/server-slack/dist/index.js"
SHIM = OFFICIAL_DIR / "redirect-to-standin.mjs"
SHIM_CODE = """\
const target = process.env.SLACK_STANDIN_URL;
const prefix = "https://slack.com/api/";
const original = globalThis.fetch;
globalThis.fetch = (input, init) => {
  let url = input instanceof URL ? input.href : (typeof input === "string" ? input : input.url);
  if (url.startsWith(prefix)) url = target + url.slice(prefix.length);
  return original(url, init);
};
"""
MINIMAL = """\
from mcp.server import MCPServer
mcp = MCPServer("minimal")
@mcp.tool()
def ping() -> str:
    '''Answer pong.'''
    return "pong"
mcp.run()
"""
STARTS = 9
HISTORY_ARGS = {
    "patchbay": {"channel": "#random", "limit": 200},
    "official": {"channel_id": "C061EG9T2", "limit": 200},
}


def load_standin() -> Any:
    """The server's test stand-in, imported from its tests folder."""
    return import_file(ROOT / "servers/slack/tests/standin.py", "slack_standin")


def servers(standin: Any, *, redirected: bool) -> dict[str, StdioServerParameters]:
    if not OFFICIAL_JS.exists():
        sys.exit(
            f"official server missing: npm install --prefix {OFFICIAL_DIR} @modelcontextprotocol/server-slack"
        )
    ours = shutil.which("patchbay-slack")
    assert ours, "patchbay-slack is not on PATH: run with `uv run`"
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": sys.modules["slack_standin"].BOT_TOKEN,
        "SLACK_USER_TOKEN": "",
        "SLACK_TEAM_ID": "T012AB3C4",
        "PATCHBAY_SLACK_LOG_LEVEL": "WARNING",
    }
    official_env = dict(env)
    if redirected:
        SHIM.write_text(SHIM_CODE)
        official_env.update(SLACK_STANDIN_URL=standin.base_url, NODE_OPTIONS=f"--import={SHIM.as_uri()}")
    return {
        "minimal": StdioServerParameters(command=sys.executable, args=["-c", MINIMAL], env=env),
        "patchbay (no token)": StdioServerParameters(
            command=ours, args=["--base-url", standin.base_url], env={**env, "SLACK_BOT_TOKEN": ""}
        ),
        "patchbay": StdioServerParameters(command=ours, args=["--base-url", standin.base_url], env=env),
        "official": StdioServerParameters(command="node", args=[str(OFFICIAL_JS)], env=official_env),
    }


async def cold_start(params: StdioServerParameters) -> tuple[float, int, int]:
    """Milliseconds from spawn to initialize answered, and the tools/list count and bytes."""
    started = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        elapsed = (time.perf_counter() - started) * 1000
        tools = (await client.list_tools()).tools
        size = len(json.dumps([t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools]))
        return elapsed, len(tools), size


def format_thousand(standin_module: Any) -> list[float]:
    """Milliseconds to turn 1,000 messages into lines (names resolved from a warm cache), 20 runs."""
    from patchbay_slack.api import SlackApi
    from patchbay_slack.directory import Directory, User
    from patchbay_slack.render import render_message

    standin = standin_module.SlackStandIn()
    standin.add_messages("C061EG9T2", 1000)
    messages = standin.messages["C061EG9T2"][-1000:]
    directory = Directory(SlackApi("bench", None, "VAR"))
    for raw in standin.users:
        directory.users[raw["id"]] = User.from_api(raw)
    samples = []
    for _ in range(20):
        started = time.perf_counter()
        lines = [render_message(m, directory)[0] for m in messages]
        samples.append((time.perf_counter() - started) * 1000)
    assert len(lines) == 1000
    standin._server.server_close()
    return samples


async def history(params: StdioServerParameters, name: str) -> tuple[list[float], int, bool]:
    """Latency (ms) of channel history, 200 messages, 10 calls; output characters; isError."""
    arguments = HISTORY_ARGS[name]
    tool = "slack_get_channel_history"
    async with Client(params, mode="legacy") as client:
        samples = []
        for _ in range(10):
            started = time.perf_counter()
            result = await client.call_tool(tool, arguments)
            samples.append((time.perf_counter() - started) * 1000)
        return samples, sum(len(getattr(b, "text", "")) for b in result.content), bool(result.is_error)


async def after_429(params: StdioServerParameters, name: str, standin: Any) -> str:
    """What the model sees when Slack answers the first history call with 429 and Retry-After: 0."""
    arguments = {"channel": "#general"} if name == "patchbay" else {"channel_id": "C012AB3CD"}
    async with Client(params, mode="legacy") as client:
        await client.list_tools()
        standin.rate_limit("conversations.history", retry_after=0)
        result = await client.call_tool("slack_get_channel_history", arguments)
    first = " ".join(getattr(b, "text", "") for b in result.content)[:60].replace("\n", " ")
    return f"{'isError' if result.is_error else 'ok'}: {first}"


async def rss_after_history(params: StdioServerParameters, name: str) -> int:
    arguments = HISTORY_ARGS[name]
    async with Client(params, mode="legacy") as client:
        await client.call_tool("slack_get_channel_history", arguments)
        await asyncio.sleep(0.2)
        return children_rss_kib()


async def main() -> None:
    standin_module = load_standin()
    with standin_module.SlackStandIn() as standin:
        standin.add_messages("C061EG9T2", 1000)
        standin.delay["users.list"] = 3.0  # a large workspace: the name cache takes seconds to warm

        plain = servers(standin, redirected=False)
        starts: dict[str, list[float]] = {}
        listing: dict[str, tuple[int, int]] = {}
        for _ in range(STARTS):
            for name, params in plain.items():
                elapsed, count, size = await cold_start(params)
                starts.setdefault(name, []).append(elapsed)
                listing[name] = (count, size)
        floor = statistics.median(starts["minimal"])
        table(
            "Cold start: spawn to initialize answered (stand-in takes 3 s to list users), ms over "
            f"{STARTS} starts",
            ["server", "p50", "max", "vs minimal MCPServer", "tools", "tools/list bytes"],
            [
                [name, percentile(s, 50), max(s), f"{statistics.median(s) / floor:.2f}x", *listing[name]]
                for name, s in starts.items()
            ],
        )

        samples = format_thousand(standin_module)
        table(
            "Formatting 1,000 messages in-process (names from a warm cache), ms over 20 runs",
            ["server", "p50", "max"],
            [["patchbay", percentile(samples, 50), max(samples)]],
        )

        standin.delay.clear()
        shimmed = servers(standin, redirected=True)
        rows = []
        memory = {}
        for name in ("patchbay", "official"):
            latency, chars, error = await history(shimmed[name], name)
            rows.append([name, percentile(latency, 50), percentile(latency, 90), chars, error])
            memory[name] = await rss_after_history(shimmed[name], name)
        ratio = rows[0][3] / rows[1][3] if rows[1][3] else float("nan")
        table(
            "Channel history, 200 of 1,000 messages, over stdio (official redirected to the stand-in), ms",
            ["server", "p50", "p90", "output chars", "isError"],
            rows,
        )
        print(f"output size patchbay/official: {ratio:.2f}")
        table(
            "One 429 (Retry-After: 0) on the first history call",
            ["server", "what the model sees"],
            [[name, await after_429(shimmed[name], name, standin)] for name in ("patchbay", "official")],
        )
        table(
            "Resident memory after a history call, KiB",
            ["server", "RSS"],
            [[name, kib] for name, kib in memory.items()],
        )


if __name__ == "__main__":
    anyio.run(main)
