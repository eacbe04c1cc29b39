"""patchbay-filesystem against the official @modelcontextprotocol/server-filesystem, side by side, over stdio.

Both servers run at once on the same generated data, driven by the MCP Python SDK client, and every
measure alternates calls between them so both see the same machine load:
warm `read_text_file` of a small file, `directory_tree` and `search_files` on a tree of 100,000 files,
the last 100 lines of a 1 GB file, and RSS after `initialize` (ours also against a minimal MCPServer).

    npm install --prefix .cache/official/filesystem @modelcontextprotocol/server-filesystem
    uv run python bench/filesystem_compare.py [--files 100000] [--big-mb 1024] [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _harness import OFFICIAL, child_pids, percentile, rss_kib, table
from mcp import Client, StdioServerParameters

OFFICIAL_JS = (
    OFFICIAL
    / "filesystem"
    / "node_modules"
    / "@modelcontextprotocol"
    / "server-filesystem"
    / "dist"
    / "index.js"
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


def make_data(base: Path, files: int, big_mb: int) -> None:
    """A small file, a tree of `files` files (100 per directory, two levels), and a big text file."""
    (base / "small.txt").write_text("".join(f"line {i}: the quick brown fox\n" for i in range(40)))
    tree = base / "tree"
    per_dir = 100
    dirs = max(1, files // per_dir)
    for d in range(dirs):
        folder = tree / f"group{d // 50:03}" / f"dir{d:04}"
        folder.mkdir(parents=True)
        for f in range(per_dir):
            (folder / f"file{f:03}.{'py' if f % 10 == 0 else 'txt'}").write_bytes(b"x\n")
    line = b"2026-11-25T06:00:00Z INFO request handled in 12 ms path=/api/v1/items status=200\n"
    block = line * (1024 * 1024 // len(line) + 1)
    with (base / "big.log").open("wb") as out:
        written = 0
        while written < big_mb * 1024 * 1024:
            out.write(block)
            written += len(block)


def servers(base: Path) -> dict[str, StdioServerParameters]:
    ours = shutil.which("patchbay-filesystem") or "patchbay-filesystem"
    found = {
        "patchbay": StdioServerParameters(
            command=ours,
            args=[
                str(base),
                "--log-level",
                "WARNING",
                "--max-output-chars",
                "25000",
                "--tool-timeout",
                "600",
            ],
        )
    }
    if OFFICIAL_JS.exists():
        found["official"] = StdioServerParameters(command="node", args=[str(OFFICIAL_JS), str(base)])
    else:
        print(
            f"official server missing: npm install --prefix {OFFICIAL / 'filesystem'} "
            "@modelcontextprotocol/server-filesystem",
            file=sys.stderr,
        )
    return found


async def call_ms(client: Client, tool: str, args: dict[str, Any]) -> tuple[float, int, bool]:
    started = time.perf_counter()
    result = await client.call_tool(tool, args, read_timeout_seconds=900)
    elapsed = (time.perf_counter() - started) * 1000
    size = sum(len(getattr(b, "text", "") or "") for b in result.content)
    return elapsed, size, bool(result.is_error)


async def interleaved(
    clients: dict[str, Client],
    tool: str,
    args: dict[str, Any],
    repeat: int,
    warmup: int = 3,
    calls: dict[str, tuple[str, dict[str, Any]]] | None = None,
) -> dict[str, tuple[list[float], int]]:
    """Call every server in turn, `repeat` rounds, so each sees the same machine load."""
    out: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in clients}
    for round_ in range(warmup + repeat):
        for name, client in clients.items():
            this_tool, this_args = (calls or {}).get(name, (tool, args))
            elapsed, size, error = await call_ms(client, this_tool, this_args)
            if error:
                raise RuntimeError(f"{name} {tool} failed")
            if round_ >= warmup:
                out[name][0].append(elapsed)
                out[name] = (out[name][0], size)
    return out


async def measure_all(
    params: dict[str, StdioServerParameters], base: Path, calls: int
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {name: {} for name in params}
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for name, server in params.items():
            before = child_pids()
            clients[name] = await stack.enter_async_context(Client(server, mode="legacy"))
            pid = next(iter(child_pids() - before), None)
            results[name]["rss"] = rss_kib(pid) / 1024 if pid else float("nan")
        plan = [
            ("read", "read_text_file", {"path": str(base / "small.txt")}, calls, 5),
            ("tail", "read_text_file", {"path": str(base / "big.log"), "tail": 100}, 40, 2),
            ("tree", "directory_tree", {"path": str(base / "tree")}, 3, 1),
            (
                "search_one",
                "search_files",
                {"path": str(base / "tree"), "pattern": "**/dir0999/file099.txt"},
                3,
                1,
            ),
            ("search_many", "search_files", {"path": str(base / "tree"), "pattern": "**/*.py"}, 3, 1),
        ]
        script = Path(tempfile.mkdtemp()) / "minimal.py"
        script.write_text(MINIMAL_SERVER)
        minimal = await stack.enter_async_context(
            Client(StdioServerParameters(command=sys.executable, args=[str(script)]), mode="legacy")
        )
        floor = await interleaved(
            {**clients, "minimal": minimal},
            "read_text_file",
            {"path": str(base / "small.txt")},
            calls,
            5,
            calls={"minimal": ("echo", {"key": "x"})},
        )
        results["minimal_echo"] = {"read": floor.pop("minimal")[0]}
        for name, (samples, size) in floor.items():
            results[name]["read"] = samples
            results[name]["read_chars"] = size
        for key, tool, args, repeat, warmup in plan[1:]:
            for name, (samples, size) in (await interleaved(clients, tool, args, repeat, warmup)).items():
                results[name][key] = samples
                results[name][f"{key}_chars"] = size
            print(f"  measured {key}", file=sys.stderr)
    return results


async def minimal_rss() -> float:
    script = Path(tempfile.mkdtemp()) / "minimal.py"
    script.write_text(MINIMAL_SERVER)
    before = child_pids()
    async with Client(
        StdioServerParameters(command=sys.executable, args=[str(script)]), mode="legacy"
    ) as client:
        await client.list_tools()
        pid = next(iter(child_pids() - before))
        return rss_kib(pid) / 1024


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--calls", type=int, default=200)
    options = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="patchbay-fs-bench-"))
    try:
        started = time.perf_counter()
        make_data(base, options.files, options.big_mb)
        print(f"  data generated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        results = await measure_all(servers(base), base, options.calls)
        minimal = await minimal_rss()
    finally:
        shutil.rmtree(base, ignore_errors=True)

    ours = results["patchbay"]
    theirs = results.get("official")

    def p50(result: dict[str, Any] | None, key: str) -> float:
        return percentile(result[key], 50) if result else float("nan")

    rows = []
    for label, key in [
        ("read_text_file small, warm (ms p50)", "read"),
        ("read_text_file tail=100 of 1 GB (ms p50)", "tail"),
        (f"directory_tree {options.files} files (ms p50)", "tree"),
        (f"search_files 1 match in {options.files} files (ms p50)", "search_one"),
        (f"search_files **/*.py in {options.files} files (ms p50)", "search_many"),
    ]:
        a, b = p50(ours, key), p50(theirs, key)
        rows.append([label, a, b, f"{a / b:.2f}x" if theirs else "-"])
    echo = percentile(results["minimal_echo"]["read"], 50)
    rows.append(
        [
            "minimal MCPServer echo tool, same rounds (ms p50)",
            echo,
            "-",
            f"{echo / p50(theirs, 'read'):.2f}x" if theirs else "-",
        ]
    )
    rows.append(
        ["directory_tree output (chars)", ours["tree_chars"], theirs["tree_chars"] if theirs else "-", "-"]
    )
    rows.append(
        [
            "search_files **/*.py output (chars)",
            ours["search_many_chars"],
            theirs["search_many_chars"] if theirs else "-",
            "-",
        ]
    )
    rows.append(
        [
            "RSS after initialize (MiB)",
            ours["rss"],
            theirs["rss"] if theirs else float("nan"),
            f"{ours['rss'] / theirs['rss']:.2f}x" if theirs else "-",
        ]
    )
    table(
        "patchbay-filesystem vs @modelcontextprotocol/server-filesystem (stdio, same data)",
        ["measure", "patchbay", "official", "ratio"],
        rows,
    )
    table(
        "idle memory against a minimal MCPServer",
        ["server", "RSS MiB", "ratio"],
        [
            ["patchbay-filesystem", ours["rss"], f"{ours['rss'] / minimal:.2f}x"],
            ["minimal MCPServer", minimal, "1.00x"],
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
