"""Cold start over stdio: spawn -> initialize answered -> tools/list answered, side by side.

Compares a patchbay server (default: patchbay-sqlite, zero configuration) with a minimal MCPServer that
has one tool, in the same run, and prints the ratio. Also measures what importing patchbay_common adds to
the SDK's own import (budget: 30 ms), and what a server's whole module import adds.

    uv run python bench/cold_start.py [--server sqlite] [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _harness import percentile, table

MINIMAL_SERVER = textwrap.dedent(
    """
    from mcp.server import MCPServer

    mcp = MCPServer("minimal")

    @mcp.tool()
    def echo(text: str) -> str:
        \"\"\"Return the text.\"\"\"
        return text

    mcp.run()
    """
)

HANDSHAKE = (
    json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "b", "version": "0"},
            },
        }
    )
    + "\n"
    + json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
    + "\n"
    + json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    + "\n"
)


def spawn_to_tools(argv: list[str]) -> tuple[float, float]:
    """Milliseconds from spawn to the initialize answer and to the tools/list answer."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
    )
    assert process.stdin and process.stdout
    process.stdin.write(HANDSHAKE)
    process.stdin.flush()
    initialized = listed = 0.0
    for line in process.stdout:
        message = json.loads(line)
        if message.get("id") == 1:
            initialized = (time.perf_counter() - started) * 1000
        if message.get("id") == 2:
            listed = (time.perf_counter() - started) * 1000
            break
    process.stdin.close()
    process.wait(timeout=10)
    return initialized, listed


def import_ms(statement: str, runs: int) -> float:
    """Median wall time of `python -c statement` minus nothing: compare two statements against each other."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="sqlite", help="patchbay server to start with no arguments")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(MINIMAL_SERVER)
        candidates = {
            "minimal MCPServer (1 tool)": [sys.executable, str(minimal)],
            f"patchbay-{args.server}": [sys.executable, "-m", f"patchbay_{args.server}"],
        }
        results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in candidates}
        for _ in range(args.runs):  # interleaved, so machine noise hits both alike
            for name, argv in candidates.items():
                initialized, listed = spawn_to_tools(argv)
                results[name][0].append(initialized)
                results[name][1].append(listed)

    base_init = percentile(results["minimal MCPServer (1 tool)"][0], 50)
    rows = []
    for name, (inits, lists) in results.items():
        p50_init, p50_list = percentile(inits, 50), percentile(lists, 50)
        rows.append([name, p50_init, p50_list, f"{p50_init / base_init:.2f}x"])
    table(
        f"cold start over stdio, p50 of {args.runs} runs (ms)",
        ["server", "initialize", "tools/list", "ratio"],
        rows,
    )

    sdk = import_ms("import mcp.server", args.runs)
    common = import_ms("import mcp.server, patchbay_common", args.runs)
    app = import_ms("import mcp.server, patchbay_common.app, patchbay_common.client_roots", args.runs)
    server = import_ms(f"import mcp.server, patchbay_{args.server}.server", args.runs)
    table(
        "import cost, p50 (ms)",
        ["imports", "ms", "added to SDK"],
        [
            ["mcp.server (the SDK)", sdk, "-"],
            ["+ patchbay_common", common, f"{common - sdk:+.1f}"],
            ["+ patchbay_common.app (serve, settings, logs)", app, f"{app - sdk:+.1f}"],
            [f"+ patchbay_{args.server}.server", server, f"{server - sdk:+.1f}"],
        ],
    )


if __name__ == "__main__":
    main()
