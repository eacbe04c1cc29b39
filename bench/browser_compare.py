"""patchbay-browser against the official puppeteer server and playwright-mcp, side by side, over stdio.

All three drive the same system Chromium against the same local site, through the MCP Python SDK client:

- cold start: spawn to `initialize` answered (and a minimal `MCPServer` for reference), then the first
  navigation, which launches the browser;
- warm latency on a small local page: navigate + snapshot, and navigate + screenshot;
- snapshot size on the real-world pages saved in the repo (servers/fetch/tests/pages): ours (the full
  compact text, and what one default call returns under the 25,000-character cap) against playwright-mcp's
  browser_snapshot, with the count of actionable refs each shows; puppeteer has no snapshot, so the page
  HTML a model would get from puppeteer_evaluate is shown for the largest page.

    PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix .cache/official/puppeteer \
        @modelcontextprotocol/server-puppeteer
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix .cache/official/playwright-mcp @playwright/mcp
    uv run python bench/browser_compare.py [--calls 10] [--starts 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _harness import OFFICIAL, ROOT, percentile, table
from mcp import Client, StdioServerParameters
from mcp_types import TextContent

PAGES = ROOT / "servers/fetch/tests/pages"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SMALL = (
    "<!doctype html><title>Small</title><h1>Small page</h1><p>Hello.</p>"
    "<a href='/small.html'>Again</a><button>Press</button><input aria-label='Name'>"
)
NO_SANDBOX = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
INTERACTIVE = re.compile(
    r"- (?:'|\")?(button|link|textbox|searchbox|combobox|checkbox|radio|switch|slider|spinbutton|option|tab|"
    r"menuitem|menuitemcheckbox|menuitemradio|treeitem|listbox|iframe)\b.*\[ref=|\[cursor=pointer\]"
)
MINIMAL = '''
from mcp.server import MCPServer
mcp = MCPServer("minimal")
@mcp.tool()
def ping() -> str:
    """Return pong."""
    return "pong"
mcp.run()
'''


def serve_site() -> tuple[ThreadingHTTPServer, str]:
    root = Path(tempfile.mkdtemp(prefix="browser-bench-"))
    for page in PAGES.glob("*.html"):
        shutil.copy(page, root / page.name)
    (root / "small.html").write_text(SMALL)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def servers() -> dict[str, StdioServerParameters]:
    venv_bin = Path(sys.executable).parent
    puppeteer = OFFICIAL / "puppeteer/node_modules/@modelcontextprotocol/server-puppeteer/dist/index.js"
    playwright = OFFICIAL / "playwright-mcp/node_modules/@playwright/mcp/cli.js"
    launch = {"executablePath": CHROMIUM, "headless": True, "args": NO_SANDBOX}
    found = {
        "patchbay-browser": StdioServerParameters(
            command=str(venv_bin / "patchbay-browser"),
            args=["--allow-host", "127.0.0.1", "--executable-path", CHROMIUM, "--log-level", "WARNING"],
        ),
    }
    if puppeteer.exists():
        found["server-puppeteer"] = StdioServerParameters(
            command="node",
            args=[str(puppeteer)],
            env={
                "PUPPETEER_LAUNCH_OPTIONS": json.dumps(launch),
                "ALLOW_DANGEROUS": "true",
                "DOCKER_CONTAINER": "1",
                "PATH": "/usr/bin:/bin",
            },
        )
    if playwright.exists():
        found["playwright-mcp"] = StdioServerParameters(
            command="node",
            args=[str(playwright), "--headless", "--isolated", "--no-sandbox", "--executable-path", CHROMIUM],
        )
    return found


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


# Tool names and arguments of each server for the same step.
def navigate(name: str, url: str) -> tuple[str, dict[str, Any]]:
    return {"server-puppeteer": "puppeteer_navigate", "playwright-mcp": "browser_navigate"}.get(
        name, "navigate"
    ), {"url": url}


def snapshot(name: str) -> tuple[str, dict[str, Any]] | None:
    return {"patchbay-browser": ("snapshot", {}), "playwright-mcp": ("browser_snapshot", {})}.get(name)


def screenshot(name: str) -> tuple[str, dict[str, Any]]:
    return {
        "server-puppeteer": ("puppeteer_screenshot", {"name": "shot", "width": 1280, "height": 720}),
        "playwright-mcp": ("browser_take_screenshot", {}),
    }.get(name, ("screenshot", {}))


async def call(client: Client, step: tuple[str, dict[str, Any]]) -> Any:
    result = await client.call_tool(step[0], step[1])
    if result.is_error:
        raise RuntimeError(f"{step[0]} failed: {text(result)[:300]}")
    return result


async def cold(params: StdioServerParameters, base: str, name: str) -> tuple[float, float]:
    started = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        ready = time.perf_counter() - started
        if name == "minimal":
            return ready * 1000, float("nan")
        first = time.perf_counter()
        await call(client, navigate(name, f"{base}/small.html"))
        return ready * 1000, (time.perf_counter() - first) * 1000


async def warm(client: Client, name: str, base: str, calls: int) -> tuple[list[float], list[float]]:
    url = f"{base}/small.html"
    await call(client, navigate(name, url))
    snaps: list[float] = []
    shots: list[float] = []
    step = snapshot(name)
    for _ in range(calls):
        if step is not None:
            started = time.perf_counter()
            await call(client, navigate(name, url))
            await call(client, step)
            snaps.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        await call(client, navigate(name, url))
        await call(client, screenshot(name))
        shots.append((time.perf_counter() - started) * 1000)
    return snaps, shots


def interactive_refs(yaml_text: str) -> int:
    return sum(1 for line in yaml_text.splitlines() if INTERACTIVE.search(line))


async def sizes(client: Client, name: str, base: str, page: str) -> tuple[int, int, int]:
    """(characters a default call returns, characters of the whole snapshot, actionable refs shown)."""
    await call(client, navigate(name, f"{base}/{page}"))
    if name == "patchbay-browser":
        first = text(await call(client, ("snapshot", {})))
        total = re.search(r"of (\d+) \(", first)
        full, shown = first, first
        while cursor := re.search(r"cursor=([A-Za-z0-9_.-]+) to read on", shown):
            shown = text(await call(client, ("snapshot", {"cursor": cursor.group(1)})))
            full += shown
        refs = len(set(re.findall(r"\[((?:f\d+)?e\d+)(?:\]| -> )", full)))
        return len(first), int(total.group(1)) if total else len(first), refs
    body = text(await call(client, ("browser_snapshot", {})))
    return len(body), len(body), interactive_refs(body)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    site, base = serve_site()
    found = servers()
    minimal = Path(tempfile.mkdtemp()) / "minimal.py"
    minimal.write_text(MINIMAL)
    starts = {"minimal": StdioServerParameters(command=sys.executable, args=[str(minimal)]), **found}

    rows = []
    for name, params in starts.items():
        samples = [await cold(params, base, name) for _ in range(args.starts)]
        init = statistics.median(s[0] for s in samples)
        first = statistics.median(s[1] for s in samples)
        rows.append([name, init, first])
    reference = rows[0][1]
    ours = next(r for r in rows if r[0] == "patchbay-browser")
    table(
        f"Cold start (median of {args.starts} spawns), ms",
        ["server", "initialize", "vs minimal", "first navigate (launches the browser)", "ours / it"],
        [
            [
                r[0],
                r[1],
                f"{r[1] / reference:.2f}x",
                "-" if r[2] != r[2] else f"{r[2]:.0f}",
                "-" if r[2] != r[2] else f"{ours[2] / r[2]:.2f}",
            ]
            for r in rows
        ],
    )

    latency_rows = []
    size_rows: list[list[Any]] = []
    per_page: dict[str, dict[str, tuple[int, int, int]]] = {}
    for name, params in found.items():
        async with Client(params, mode="legacy") as client:
            snaps, shots = await warm(client, name, base, args.calls)
            latency_rows.append([name, percentile(snaps, 50) if snaps else "-", percentile(shots, 50)])
            if name == "server-puppeteer":
                await call(client, navigate(name, f"{base}/debian-python-policy.html"))
                script = {"script": "document.documentElement.outerHTML"}
                html = text(await call(client, ("puppeteer_evaluate", script)))
                size_rows.append(
                    ["server-puppeteer (evaluate outerHTML)", "debian-python-policy.html", len(html), "-"]
                )
                continue
            for page in sorted(p.name for p in PAGES.glob("*.html")):
                per_page.setdefault(page, {})[name] = await sizes(client, name, base, page)
    ours_lat = latency_rows[0]
    table(
        f"Warm latency on a small local page (p50 of {args.calls}), ms",
        ["server", "navigate + snapshot", "navigate + screenshot", "screenshot: ours / it"],
        [[r[0], r[1], r[2], f"{ours_lat[2] / r[2]:.2f}"] for r in latency_rows],
    )
    ratios = []
    for page, by in per_page.items():
        mine = by.get("patchbay-browser")
        theirs = by.get("playwright-mcp")
        if mine is None or theirs is None:
            continue
        ratios.append(mine[1] / theirs[1])
        ratio = f"{mine[1] / theirs[1]:.2f}"
        size_rows.append([page, mine[0], mine[1], theirs[1], ratio, f"{mine[2]}/{theirs[2]}"])
    table(
        "Snapshot size on saved real-world pages, characters",
        ["page", "ours (one call, capped)", "ours (whole)", "playwright-mcp", "ours / it", "refs ours/it"],
        [r for r in size_rows if len(r) == 6],
    )
    if ratios:
        mean = statistics.fmean(ratios)
        print(f"\nwhole-snapshot ratio ours / playwright-mcp: max {max(ratios):.2f}, mean {mean:.2f}")
    for row in size_rows:
        if len(row) == 4:
            print(f"{row[0]} on {row[1]}: {row[2]} characters in one result (no cap)")
    site.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
