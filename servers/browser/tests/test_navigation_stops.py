"""A navigation whose call ends (cancelled by the client) is aborted in the browser, not left loading.

A page of our own answers after 2.5 seconds and, once loaded, asks for a beacon image; the call is cancelled
while the browser waits for the page. Aborted, the tab never shows the slow page and the beacon is never asked
for; left running, the tab would load it a moment later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import pytest
from mcp_types import ResourceTemplateReference

from patchbay_common.testing.clients import ERAS, Era, Launch, connect, http_server
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio

DELAY = 2.5


@pytest.fixture
def slow_site() -> Iterator[dict[str, Any]]:
    """127.0.0.1 on a free port: /slow answers after DELAY seconds; its hits are counted by path."""
    hits: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            hits[self.path] = hits.get(self.path, 0) + 1
            if self.path == "/slow":
                time.sleep(DELAY)
                body = b'<!doctype html><title>Slow</title><img src="/beacon.png"><p>slow page</p>'
            else:
                body = b"<!doctype html><title>Start</title><p>start</p>"
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the browser gave up on the request
                pass

    running = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    running.daemon_threads = True
    threading.Thread(target=running.serve_forever, daemon=True).start()
    yield {"base": f"http://127.0.0.1:{running.server_address[1]}", "hits": hits}
    running.shutdown()
    running.server_close()


async def cancel_a_navigation(client: Any, slow_site: dict[str, Any]) -> None:
    """Cancel a navigation to the slow page while it loads; the tab must not go on to show it."""
    base, hits = slow_site["base"], slow_site["hits"]
    hits.clear()
    started = await client.call_tool("navigate", {"url": f"{base}/start"})
    assert not started.is_error, text(started)
    async with anyio.create_task_group() as group:

        async def call() -> None:
            await client.call_tool("navigate", {"url": f"{base}/slow"})
            raise AssertionError("the navigation finished")

        group.start_soon(call)
        with anyio.fail_after(10):
            while not hits.get("/slow"):  # noqa: ASYNC110 - the site's thread counts
                await anyio.sleep(0.02)
        await anyio.sleep(0.3)
        group.cancel_scope.cancel()
    await anyio.sleep(DELAY + 1.0)  # the slow page would have loaded and asked for its beacon by now
    tabs = text(await client.call_tool("list_tabs", {}))
    assert "/beacon.png" not in hits, "the browser went on loading the page after the call ended"
    assert f"{base}/slow" not in tabs and f"{base}/start" in tabs, tabs


@pytest.mark.parametrize("era", ERAS)
async def test_a_cancelled_navigation_is_aborted(era: Era, server: Any, slow_site: dict[str, Any]) -> None:
    async with connect(server, era=era) as client:
        await cancel_a_navigation(client, slow_site)


async def test_over_stdio_and_streamable_http(chromium_path: str, slow_site: dict[str, Any]) -> None:
    flags = ["--allow-host", "127.0.0.1", "--executable-path", chromium_path, "--single-user"]
    launch = Launch("patchbay-browser", flags)  # --single-user: see test_transports.launch
    async with connect(launch, era="modern") as client:
        await cancel_a_navigation(client, slow_site)
    with http_server(launch) as running:
        for era in ERAS:
            async with connect(running, era=era) as client:
                await cancel_a_navigation(client, slow_site)
                streams = await client.complete(CONSOLE, {"name": "stream", "value": "l"})
                assert streams.completion.values == ["logs"]


SHOTS = ResourceTemplateReference(type="ref/resource", uri="screenshot://{name}")
CONSOLE = ResourceTemplateReference(type="ref/resource", uri="console://{stream}")


@pytest.mark.parametrize("era", ERAS)
async def test_screenshot_names_and_console_streams_complete(
    era: Era, server: Any, slow_site: dict[str, Any]
) -> None:
    async with connect(server, era=era) as client:
        before = await client.complete(SHOTS, {"name": "name", "value": ""})
        await client.call_tool("navigate", {"url": f"{slow_site['base']}/start"})
        for name in ("home", "hero", "after"):
            shot = await client.call_tool("screenshot", {"name": name})
            assert not shot.is_error, text(shot)
        some = await client.complete(SHOTS, {"name": "name", "value": "h"})
        started = time.perf_counter()
        every = await client.complete(SHOTS, {"name": "name", "value": ""})
        took = time.perf_counter() - started
        streams = await client.complete(CONSOLE, {"name": "stream", "value": ""})
        async with connect(server, era=era) as other:  # another session sees none of them
            elsewhere = await other.complete(SHOTS, {"name": "name", "value": ""})
    assert before.completion.values == []
    assert some.completion.values == ["hero", "home"]
    assert every.completion.values == ["after", "hero", "home"] and took < 0.05
    assert streams.completion.values == ["logs"]
    if era == "legacy":  # handshake-era sessions are per connection; 2026-era ones share one session
        assert elsewhere.completion.values == []
