"""Progress while a body downloads, and a cancelled call that closes the connection to the site.

The local site's /slow-big sends 4 MiB (declared with Content-Length) in 64 KiB blocks every 50 ms and
records whether the client read it all or closed the connection early, and how many bytes it sent.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from patchbay_common.testing.clients import ERAS, Era, Launch, connect, http_server
from patchbay_fetch.server import Settings, build

pytestmark = pytest.mark.anyio

PATH = "/slow-big"
SIZE = 4 * 1024 * 1024


def make_server() -> Any:
    return build(Settings(_cli_parse_args=["--allow-private", "--fetch-timeout", "20"]))  # type: ignore[call-arg]


async def ended(site: Any, within: float) -> None:
    """Wait until the site's /slow-big handler noted how its response ended (it runs in another thread)."""
    with anyio.fail_after(within):
        while site.ended.get(PATH) is None:  # noqa: ASYNC110 - set by a thread, which cannot set an Event
            await anyio.sleep(0.01)


async def cancel_after_first_bytes(target: Any, site: Any, era: Era) -> list[tuple[float, float | None, str]]:
    """Call fetch on /slow-big, cancel the call once some KiB arrived; the notifications seen."""
    seen: list[tuple[float, float | None, str]] = []
    some_read = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message or ""))
        if progress > 0:
            some_read.set()

    async with connect(target, era=era) as client:
        async with anyio.create_task_group() as group:

            async def call() -> None:
                await client.call_tool("fetch", {"url": site.url(PATH)}, progress_callback=on_progress)

            group.start_soon(call)
            with anyio.fail_after(10):
                await some_read.wait()
            group.cancel_scope.cancel()
        # The client stays connected: the server must stop the download on the cancellation alone.
        await ended(site, within=3)
        sent = site.sent[PATH]
        await anyio.sleep(0.3)
        assert site.sent[PATH] == sent  # nothing more is sent: the download stopped, it did not run on
    assert site.ended[PATH] == "closed"
    assert sent < SIZE // 2
    return seen


@pytest.mark.parametrize("era", ERAS)
async def test_progress_counts_the_kib_read_of_the_declared_length(site: Any, era: Era) -> None:
    seen: list[tuple[float, float | None, str]] = []
    started = [0.0]
    first: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if not first:
            first.append(time.monotonic() - started[0])
        seen.append((progress, total, message or ""))

    async with connect(make_server(), era=era) as client:
        started[0] = time.monotonic()
        result = await client.call_tool(
            "fetch", {"url": site.url(PATH), "max_length": 100}, progress_callback=on_progress
        )
    assert not result.is_error
    await ended(site, within=1)  # the site notes the end just after its last write
    assert site.ended[PATH] == "complete"
    assert first[0] < 1.0  # at the start (about 10 ms warm), not after the 3 s download
    downloading = [(done, total) for done, total, message in seen if message.startswith("downloading: ")]
    assert len(downloading) >= 4  # a few a second over about 3 s
    assert all(total == 4096 for _, total in downloading[1:])
    assert [done for done, _ in downloading] == sorted(done for done, _ in downloading)
    assert 0 < downloading[1][0] < 4096
    assert [p for p, _, _ in seen] == sorted(p for p, _, _ in seen)
    assert seen[-1] == (4096, 4096, "converted to markdown: 4096 of 4096 KiB")


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_the_call_closes_the_connection_to_the_site(site: Any, era: Era) -> None:
    seen = await cancel_after_first_bytes(make_server(), site, era)
    assert seen and all(message.startswith("downloading: ") for _, _, message in seen)


@pytest.mark.parametrize("era", ERAS)
async def test_cancelling_over_streamable_http_closes_the_connection_to_the_site(site: Any, era: Era) -> None:
    launch = Launch("patchbay-fetch", ["--allow-private", "--fetch-timeout", "20", "--log-level", "WARNING"])
    with http_server(launch) as running:
        await cancel_after_first_bytes(running, site, era)
