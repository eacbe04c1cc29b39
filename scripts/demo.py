"""`make demo`: a real MCP client against the servers that need no configuration, printing what it did.

Starts patchbay-filesystem on a sample folder, patchbay-sqlite on its built-in sample database, and
patchbay-fetch on a page served from this machine, each as a subprocess over stdio, exactly as a desktop
client would; then calls a few tools on each and prints the calls and the start of each answer.
"""

from __future__ import annotations

import http.server
import shutil
import tempfile
import textwrap
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from patchbay_common.testing.clients import Launch, connect

PAGE = textwrap.dedent(
    """\
    <!doctype html>
    <html lang="en"><head><title>patchbay demo page</title>
    <meta name="description" content="A page served locally for make demo"></head>
    <body><nav>Home | About</nav>
    <main><h1>Hello from patchbay</h1>
    <p>This page was served by a local HTTP server and converted to <b>Markdown</b> by patchbay-fetch.</p>
    <ul><li>filesystem</li><li>sqlite</li><li>fetch</li></ul></main>
    <footer>footer text</footer></body></html>
    """
)


def excerpt(result: Any, lines: int = 8) -> str:
    """The first lines of a tool result's text, indented."""
    text = "\n".join(getattr(block, "text", f"<{block.type} block>") for block in result.content)
    shown = text.splitlines()[:lines]
    more = "\n    ..." if len(text.splitlines()) > lines else ""
    flag = " (isError)" if result.is_error else ""
    return textwrap.indent("\n".join(shown), "    ") + more + flag


async def call(client: Any, tool: str, arguments: dict[str, Any], lines: int) -> None:
    """Call one tool and print the call, its time and the start of its answer."""
    started = time.perf_counter()
    result = await client.call_tool(tool, arguments)
    took = (time.perf_counter() - started) * 1000
    print(f"  -> {tool}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})  [{took:.0f} ms]")
    print(excerpt(result, lines))


async def demo_server(
    title: str, launch: Launch, calls: list[tuple[str, dict[str, Any]]], lines: int = 8
) -> None:
    """Start one server over stdio, list its tools, and make the calls."""
    print(f"\n== {title}\n   $ {' '.join(launch.argv())}")
    launch = Launch(launch.command, [*launch.args, "--log-level", "WARNING"])
    started = time.perf_counter()
    async with connect(launch) as client:
        tools = (await client.list_tools()).tools
        print(
            f"  initialize + tools/list in {(time.perf_counter() - started) * 1000:.0f} ms: "
            f"{len(tools)} tools ({', '.join(t.name for t in tools)})"
        )
        for tool, arguments in calls:
            await call(client, tool, arguments, lines)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the demo folder without an access log on the terminal."""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


def serve_page(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve `folder` on a free loopback port; return the server and the page's URL."""
    (folder / "index.html").write_text(PAGE)
    handler = partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/index.html"


async def main() -> None:
    """Run the three demos."""
    base = Path(tempfile.mkdtemp(prefix="patchbay-demo-"))
    try:
        sample = base / "sample"
        (sample / "notes").mkdir(parents=True)
        (sample / "README.md").write_text("# Sample folder\n\nMade by `make demo`.\n")
        (sample / "notes" / "todo.txt").write_text("\n".join(f"{i}. task {i}" for i in range(1, 21)) + "\n")
        await demo_server(
            "patchbay-filesystem: a sample folder, read-only",
            Launch("patchbay-filesystem", [str(sample)]),
            [
                ("list_directory", {"path": str(sample)}),
                ("read_text_file", {"path": str(sample / "notes" / "todo.txt"), "head": 3}),
                ("write_file", {"path": str(sample / "x.txt"), "content": "no"}),
                ("read_text_file", {"path": "/etc/passwd"}),
            ],
        )
        await demo_server(
            "patchbay-sqlite: the built-in sample database, read-only",
            Launch("patchbay-sqlite", []),
            [
                ("list_tables", {}),
                ("read_query", {"query": "SELECT name, type FROM sqlite_master ORDER BY name LIMIT 5"}),
                ("read_query", {"query": "DELETE FROM sqlite_master"}),
            ],
        )
        web = base / "web"
        web.mkdir()
        server, url = serve_page(web)
        try:
            await demo_server(
                "patchbay-fetch: a page served on this machine (loopback allowed for the demo only)",
                Launch("patchbay-fetch", ["--allow-private"]),
                [("fetch", {"url": url})],
                lines=18,
            )
            await demo_server(
                "patchbay-fetch with its default egress guard: loopback is refused",
                Launch("patchbay-fetch", []),
                [("fetch", {"url": url})],
            )
        finally:
            server.shutdown()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("\nDone: every server above ran as a subprocess over stdio, driven by the MCP Python SDK client.")


if __name__ == "__main__":
    anyio.run(main)
