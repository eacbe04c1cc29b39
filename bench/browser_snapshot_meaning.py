"""Reading whole pages through snapshots: patchbay-browser before and after issue 24, and playwright-mcp.

For each page served on 127.0.0.1 (the saved real-world pages in servers/fetch/tests/pages, the Sphinx,
rustdoc and MDN markup pages in servers/browser/tests/pages, and an os.html-sized Sphinx page built from
the Sphinx one), every window of one snapshot is read with the server's default window size:

- characters: everything the model receives to read the whole page (all windows: headers, frames, markers);
- windows and renders: calls, and how many times Chromium was asked for the page's accessibility tree
  (counted in the server process, around Playwright's `Page.aria_snapshot`);
- seconds to read all windows (the largest page is the one the issue timed);
- refs split: refs of the whole snapshot that no window shows whole (a window cut inside `[e1083]`);
- signatures: lines of servers/browser/tests/pages/signatures.json (signatures, code, prose as the page
  shows them) found whole on one line of the snapshot (our inline `[e5 -> url]` notes removed first).

Ours runs in process (a child Python per version, the "before" one from `git archive <baseline>`), so the
renders can be counted; playwright-mcp runs over stdio with the system Chromium and may only request
http://127.0.0.1:<port> (--allowed-origins). One snapshot call of playwright-mcp returns the whole page.

    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix .cache/official/playwright-mcp @playwright/mcp
    uv run --frozen python bench/browser_snapshot_meaning.py --baseline b9fde99
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any

from _harness import OFFICIAL, ROOT, table

REAL_PAGES = ROOT / "servers/fetch/tests/pages"
MARKUP_PAGES = ROOT / "servers/browser/tests/pages"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LARGE = "sphinx-os-large.html"
NOTE = re.compile(r"\[(?:f\d+)?e\d+(?: -> [^\]\s]*)?\]")
FRAME = re.compile(r"in it\.\n(.*)\n</untrusted-data-[0-9a-f]{16}>", re.S)
OFFSET = re.compile(r"showing characters (\d+)-(\d+) of (\d+)[^\]]*?offset=(\d+)")
CURSOR = re.compile(r"showing characters (\d+)-(\d+) of (\d+).*?cursor=([A-Za-z0-9_.-]+) to read on")


def large_sphinx_page() -> str:
    """The Sphinx markup page with its sections repeated until it is about the size of CPython's os.html."""
    page = (MARKUP_PAGES / "sphinx-os.html").read_text()
    start = page.index('<section id="file-names')
    end = page.rindex("</section>\n</section>")
    sections = page[start:end]
    copies = "".join(re.sub(r'id="([^"]+)"', rf'id="\1-{i}"', sections) for i in range(40))
    return page[:start] + copies + page[end:]


def serve() -> tuple[ThreadingHTTPServer, str, list[str]]:
    root = Path(tempfile.mkdtemp(prefix="snapshot-bench-"))
    names = []
    for folder in (REAL_PAGES, MARKUP_PAGES):
        for page in sorted(folder.glob("*.html")):
            shutil.copy(page, root / page.name)
            names.append(page.name)
    (root / LARGE).write_text(large_sphinx_page())
    names.append(LARGE)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", names


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def fidelity(text: str, wanted: list[str]) -> int:
    lines = [NOTE.sub("", line) for line in text.splitlines()]
    return sum(1 for line in wanted if any(line.strip() in shown for shown in lines))


# --- ours, in a child process ---------------------------------------------------------------------------


async def inner(base: str, names: list[str]) -> None:
    """Read every page through an in-process patchbay-browser; print one JSON line per page."""
    from playwright.async_api import Page

    from patchbay_browser.server import Settings, build
    from patchbay_common.testing.clients import connect

    renders = 0
    original = Page.aria_snapshot

    async def counted(self: Any, *args: Any, **kwargs: Any) -> str:
        nonlocal renders
        renders += 1
        return await original(self, *args, **kwargs)

    Page.aria_snapshot = counted  # type: ignore[method-assign]
    args = ["--allow-host", "127.0.0.1", "--executable-path", CHROMIUM]
    settings = Settings(_cli_parse_args=args)  # type: ignore[call-arg,unused-ignore]
    server: Any = build(settings)
    async with server.browser.held(), connect(server) as client:
        for name in names:
            await client.call_tool("navigate", {"url": f"{base}/{name}"})
            before, started = renders, time.perf_counter()
            answers: list[str] = []
            windows: list[str] = []
            arguments: dict[str, Any] = {}
            mid_line = 0
            while True:
                result = await client.call_tool("snapshot", arguments)
                shown = text_of(result)
                if result.is_error:
                    raise RuntimeError(shown[:300])
                answers.append(shown)
                framed = FRAME.search(shown)
                body = framed.group(1) if framed else ""
                header_lines = 1 if "cursor" in arguments else 2  # later windows: a one-line header
                window = body.split("\n", header_lines)[-1]
                windows.append(window)
                cursor, offset = CURSOR.search(shown), OFFSET.search(shown)
                marker = cursor or offset
                if marker:  # a window ends mid-line unless its text ends with the line's newline
                    shown_chars = int(marker.group(2)) - int(marker.group(1))
                    stripped = shown_chars - len(window) == 1  # ours now drops the newline it ends with
                    mid_line += not (stripped or window.endswith("\n"))
                if cursor:
                    arguments = {"cursor": cursor.group(4)}
                elif offset:
                    arguments = {"offset": int(offset.group(4))}
                else:
                    break
            seconds = time.perf_counter() - started
            print(
                json.dumps(
                    {
                        "page": name,
                        "chars": sum(len(a) for a in answers),
                        "windows": len(answers),
                        "renders": renders - before,
                        "seconds": seconds,
                        "refs_split": count_split_refs(windows),
                        "mid_line": mid_line,
                        "text": "\n".join(windows),
                    }
                ),
                flush=True,
            )


def count_split_refs(windows: list[str]) -> int:
    """Refs cut between two windows: a window ending in `[e12` whose next starts with `34]`."""
    split = 0
    for one, two in itertools.pairwise(windows):
        tail = re.search(r"\[(?:f\d+)?e?\d*$", one.rstrip("\n"))
        if tail and re.match(r"[\de]*(?: -> [^\]\s]*)?\]", two):
            split += 1
    return split


def run_ours(source: Path | None, base: str, names: list[str]) -> dict[str, dict[str, Any]]:
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source / "servers/browser/src")
    found = subprocess.run(
        [sys.executable, __file__, "--inner", base, *names],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode:
        raise RuntimeError(found.stderr[-2000:])
    rows = [json.loads(line) for line in found.stdout.splitlines() if line.startswith("{")]
    return {row["page"]: row for row in rows}


def baseline(rev: str) -> Path:
    """The browser server's source at `rev`, unpacked into a temporary directory."""
    archive = subprocess.run(
        ["git", "archive", rev, "servers/browser/src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    target = Path(tempfile.mkdtemp(prefix="browser-baseline-"))
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


# --- playwright-mcp over stdio ----------------------------------------------------------------------------


async def run_playwright(base: str, names: list[str]) -> dict[str, dict[str, Any]]:
    from mcp import Client, StdioServerParameters

    cli = OFFICIAL / "playwright-mcp/node_modules/@playwright/mcp/cli.js"
    if not cli.exists():
        return {}
    args = [str(cli), "--headless", "--isolated", "--no-sandbox", "--executable-path", CHROMIUM]
    args += ["--allowed-origins", base]
    rows: dict[str, dict[str, Any]] = {}
    async with Client(StdioServerParameters(command="node", args=args), mode="legacy") as client:
        for name in names:
            await client.call_tool("browser_navigate", {"url": f"{base}/{name}"})
            started = time.perf_counter()
            result = await client.call_tool("browser_snapshot", {})
            shown = text_of(result)
            rows[name] = {
                "page": name,
                "chars": len(shown),
                "windows": 1,
                "renders": 1,
                "seconds": time.perf_counter() - started,
                "refs_split": 0,
                "mid_line": 0,
                "text": shown,
            }
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="b9fde99", help="git revision of the 'before' server")
    parser.add_argument("--inner", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        await inner(args.inner[0], args.inner[1:])
        return
    site, base, names = serve()
    wanted = json.loads((MARKUP_PAGES / "signatures.json").read_text())
    wanted[LARGE] = wanted["sphinx-os.html"]
    results = {
        "before": run_ours(baseline(args.baseline), base, names),
        "after": run_ours(None, base, names),
        "playwright-mcp": await run_playwright(base, names),
    }
    rows = []
    for name in names:
        row: list[Any] = [name]
        for label in ("before", "after", "playwright-mcp"):
            found = results[label].get(name)
            if found is None:
                row += ["-"] * 3
                continue
            calls = f"{found['windows']}/{found['renders']}"
            row += [f"{found['chars']:,}", calls, f"{found['seconds']:.2f}"]
        rows.append(row)
    headers = ["page"]
    for label in ("before", "after", "playwright-mcp"):
        headers += [f"{label}: chars", f"{label}: calls/renders", f"{label}: s"]
    table("Reading a whole page: characters received, calls/renders, seconds", headers, rows)
    signature_rows = []
    for name in [n for n in names if n in wanted]:
        row = [name, len(wanted[name])]
        for label in ("before", "after", "playwright-mcp"):
            found = results[label].get(name)
            row.append("-" if found is None else fidelity(found["text"], wanted[name]))
        signature_rows.append(row)
    table(
        "Lines of signatures.json found whole on one line",
        ["page", "lines", "before", "after", "playwright-mcp"],
        signature_rows,
    )
    for label in ("before", "after"):
        measured = list(results[label].values())
        cuts = sum(row["windows"] - 1 for row in measured)
        mid = sum(row["mid_line"] for row in measured)
        split = sum(row["refs_split"] for row in measured)
        print(f"{label}: {cuts} window ends, {mid} of them mid-line, {split} inside a ref")
    site.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
