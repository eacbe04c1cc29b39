"""patchbay-fetch against the official mcp-server-fetch, side by side, over stdio.

Both servers run in the same run against the same local site (the fetch tests' stand-in plus a static server
for big real pages), driven by the MCP Python SDK client:

- warm latency of a tiny local page (robots.txt on, as both servers do by default), the official server run
  twice: with Node on PATH (its Readability.js path) and without;
- a real ~4.4 MB HTML page (the Rust Reference's print page, bundled with rustup's docs) to Markdown;
- peak RSS while a 100 MiB response is refused (ours) or read (the official server has no body cap).

    uv venv .cache/official/fetch && uv pip install -p .cache/official/fetch mcp-server-fetch
    (cd .cache/official/fetch/lib/python3.11/site-packages/readabilipy/javascript && npm install)
    uv run python bench/fetch_compare.py [--calls 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _harness import OFFICIAL, ROOT, percentile, rss_kib, table
from mcp import Client, StdioServerParameters

from patchbay_common.testing.modules import import_file

OFFICIAL_BIN = OFFICIAL / "fetch" / "bin" / "mcp-server-fetch"
RUST_DOCS = Path.home() / ".rustup" / "toolchains"
TINY = (
    "<html><head><title>Tiny</title></head>"
    "<body><main><h1>Tiny</h1><p>Hello from a tiny page.</p></main></body></html>"
)


def load_standin() -> Any:
    """The server's test stand-in, imported from its tests folder."""
    return import_file(ROOT / "servers/fetch/tests/standin.py", "fetch_standin")


def big_page() -> Path:
    """The largest real page at hand: the Rust Reference print page, else the saved pages repeated."""
    found = sorted(RUST_DOCS.glob("*/share/doc/rust/html/reference/print.html"))
    if found:
        return found[0]
    pages = sorted((ROOT / "servers/fetch/tests/pages").glob("*.html"))
    target = Path(tempfile.mkdtemp()) / "big.html"
    chunks, size = [], 0
    while size < 5 * 1024 * 1024:
        for page in pages:
            chunks.append(page.read_bytes())
            size += len(chunks[-1])
    target.write_bytes(b"".join(chunks))
    return target


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def static_server(root: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def server_pid(command: str) -> int:
    """The newest child process of ours running `command` (the stdio server)."""
    best = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if int(stat[1]) == os.getpid() and command in cmdline:
                best = max(best, int(entry.name))
    return best


async def measure(
    name: str, params: StdioServerParameters, urls: dict[str, str], calls: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    async with Client(params, mode="legacy") as client:
        pid = server_pid(Path(params.command).name if "patchbay" in params.command else "mcp-server-fetch")

        async def fetch(url: str, max_length: int = 5000) -> Any:
            return await client.call_tool("fetch", {"url": url, "max_length": max_length})

        first = await fetch(urls["tiny"])
        assert not first.is_error, first
        samples = []
        for _ in range(3):
            await fetch(urls["tiny"])
        for _ in range(calls):
            started = time.perf_counter()
            result = await fetch(urls["tiny"])
            samples.append((time.perf_counter() - started) * 1000)
            assert not result.is_error
        out["tiny_p50"] = percentile(samples, 50)
        out["tiny_p90"] = percentile(samples, 90)

        big = []
        for _ in range(3):
            started = time.perf_counter()
            result = await fetch(urls["big"], 2000)
            big.append((time.perf_counter() - started) * 1000)
        out["big_ms"] = min(big)
        out["big_ok"] = not result.is_error

        rss_before = rss_kib(pid)
        peak = rss_before
        done = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_kib(pid))
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        started = time.perf_counter()
        huge = await fetch(urls["huge"], 1000)
        out["huge_ms"] = (time.perf_counter() - started) * 1000
        done.set()
        await watcher
        out["huge_refused"] = huge.is_error
        out["rss_before_mb"] = rss_before / 1024
        out["rss_peak_mb"] = peak / 1024
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    if not OFFICIAL_BIN.exists():
        sys.exit(f"official server missing: {OFFICIAL_BIN} (see the docstring)")

    standin = load_standin()
    site = standin.start_site()
    static = Path(tempfile.mkdtemp(prefix="fetch-bench-"))
    (static / "tiny.html").write_text(TINY)
    page = big_page()
    shutil.copy(page, static / "big.html")
    (static / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    server, base = static_server(static)
    urls = {"tiny": f"{base}/tiny.html", "big": f"{base}/big.html", "huge": site.url("/huge")}
    size_mb = (static / "big.html").stat().st_size / 1e6

    ours_bin = shutil.which("patchbay-fetch") or str(ROOT / ".venv/bin/patchbay-fetch")
    node_dir = shutil.which("node")
    plain_path = str(OFFICIAL_BIN.parent)  # no node here
    full_path = os.environ.get("PATH", "")
    ours_args = ["--allow-private", "--log-level", "WARNING"]
    official = partial(StdioServerParameters, command=str(OFFICIAL_BIN), args=["--allow-private-ips"])
    runs = [
        ("patchbay-fetch", StdioServerParameters(command=ours_bin, args=ours_args)),
        ("official (no Node)", official(env={"PATH": plain_path})),
    ]
    if node_dir:
        runs.append(("official (Node on PATH)", official(env={"PATH": full_path})))
    results = [await measure(name, params, urls, args.calls) for name, params in runs]
    ours = results[0]
    rows = []
    for r in results:
        rows.append(
            [
                r["name"],
                r["tiny_p50"],
                r["tiny_p90"],
                f"{r['tiny_p50'] / ours['tiny_p50']:.1f}x",
                r["big_ms"],
                f"{r['big_ms'] / ours['big_ms']:.1f}x",
                "refused" if r["huge_refused"] else "read",
                r["rss_peak_mb"] - r["rss_before_mb"],
            ]
        )
    title = (
        f"fetch over stdio, {args.calls} warm calls; big page = {size_mb:.1f} MB real HTML; huge = 100 MiB"
    )
    header = [
        "server",
        "tiny p50 ms",
        "tiny p90 ms",
        "vs ours",
        "big page ms",
        "vs ours",
        "100 MiB",
        "RSS +MB",
    ]
    table(title, header, rows)

    # The conversion alone, in process: bytes of a real page to Markdown.
    from patchbay_fetch import extract

    data = (static / "big.html").read_bytes()
    timings, cpu = [], []
    for _ in range(7):
        started, started_cpu = time.perf_counter(), time.process_time()
        text, _ = extract.decode_body(data, "utf-8", html=True)
        extract.parse_html(text, urls["big"]).markdown()
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    # CPU time too: on a shared machine wall time also counts the waits for a core.
    header = ["page", "MB", "best wall ms", "median wall ms", "best CPU ms", "median CPU ms"]
    row = [page.name, size_mb, min(timings), percentile(timings, 50), min(cpu), percentile(cpu, 50)]
    table("HTML to Markdown in process (patchbay_fetch.extract)", header, [row])
    print(f"load average: {os.getloadavg()[0]:.1f} (2 cores here)")
    server.shutdown()
    site.server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
