"""Playwright's Python side is imported in the background once a client has connected, not by the first call.

Run in a fresh interpreter: this test process has imported Playwright already. Building the server imports
none of it; a client that connects and lists the tools starts the import; no browser is launched by it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from patchbay_browser.server import WARM_IMPORTS

PROBE = textwrap.dedent(
    """
    import json, sys, time

    import anyio
    from mcp import Client

    from patchbay_browser.server import Settings, build

    server = build(Settings())
    found = {"at_build": "playwright.async_api" in sys.modules}

    async def main() -> None:
        async with Client(server) as client:  # handshake era: initialized starts it; 2026 era: the listing
            found["tools"] = len((await client.list_tools()).tools)
            deadline = time.monotonic() + 60  # a loaded machine may take seconds; the import is not timed
            while "playwright.async_api" not in sys.modules and time.monotonic() < deadline:
                await anyio.sleep(0.02)
            found["after_listing"] = "playwright.async_api" in sys.modules
        found["browser_running"] = server.browser.running

    anyio.run(main)
    server.warmup.thread.join(60)
    print(json.dumps(found))
    """
)


def test_playwright_is_imported_once_a_client_is_there() -> None:
    assert "playwright.async_api" in WARM_IMPORTS
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert (found["at_build"], found["after_listing"], found["browser_running"]) == (False, True, False)
    assert found["tools"] > 0
