"""Progress of key listings, a cancelled listing stops scanning, and completions of keys and channels."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
import redis
from mcp_types import ResourceTemplateReference
from redis_load import fill

from patchbay_common.testing.clients import ERAS, Launch, connect

pytestmark = pytest.mark.anyio

KEYS = ResourceTemplateReference(type="ref/resource", uri="redis://key/{key}")
CHANNELS = ResourceTemplateReference(type="ref/resource", uri="redis://channel/{channel}")


def scan_calls(r: redis.Redis) -> int:
    return int(r.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))


@pytest.mark.parametrize("era", ERAS)
async def test_a_sparse_listing_reports_its_scan_calls(db: Any, era: str) -> None:
    fill(db.r, 500_000)
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with connect(db.server(), era=era) as client:
        result = await client.call_tool("list", {"pattern": "nomatch:*"}, progress_callback=on_progress)
    assert not result.is_error
    calls = result.structured_content["scan_calls"]
    values = [v for v, _ in seen]
    assert len(seen) >= 2 and values == sorted(values) and values[-1] == calls
    assert seen[-1][1] == f"scanning keys matching nomatch:* (0 found): {calls:g} SCAN calls"


async def test_a_cancelled_listing_stops_scanning(db: Any) -> None:
    fill(db.r, 500_000)
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with connect(db.server()) as client:
        with anyio.move_on_after(0.6):
            await client.call_tool("list", {"pattern": "nomatch:*"}, progress_callback=on_progress)
        await anyio.sleep(0.05)
        after_cancel = scan_calls(db.r)
        await anyio.sleep(0.6)  # longer than the listing's own time budget
        assert scan_calls(db.r) == after_cancel  # no SCAN was sent after the call was cancelled
    assert seen, "no progress before the cancel"


@pytest.mark.parametrize("era", ERAS)
async def test_completions_of_keys_and_channels(db: Any, era: str) -> None:
    for name in ("user:1", "user:2", "order:1", "cu*star", "cuXstar", "user:\u202eevil", "user:\nline"):
        db.r.set(name, "v")
    listener = redis.Redis.from_url(db.url).pubsub()
    listener.subscribe("news.sports", "news.weather", "other")
    try:
        async with connect(db.server(), era=era) as client:
            users = await client.complete(KEYS, {"name": "key", "value": "user:"})
            star = await client.complete(KEYS, {"name": "key", "value": "cu*"})
            none = await client.complete(KEYS, {"name": "key", "value": "zzz"})
            news = await client.complete(CHANNELS, {"name": "channel", "value": "news."})
    finally:
        listener.close()
    assert users.completion.values == ["user:1", "user:2"]  # hidden characters are never offered
    assert star.completion.values == ["cu*star"]  # the typed text is a prefix, not a glob
    assert none.completion.values == []
    assert news.completion.values == ["news.sports", "news.weather"]


async def test_key_completion_on_a_large_key_space_is_grouped_bounded_and_fast(db: Any) -> None:
    fill(db.r, 300_000, prefix="user:")
    fill(db.r, 200_000, prefix="other:")
    async with connect(Launch("patchbay-redis", ["--url", db.url])) as client:  # over stdio
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            found = await client.complete(KEYS, {"name": "key", "value": "user:"})
            timings.append(time.perf_counter() - started)
    values = found.completion.values
    assert values and set(values) <= {"user:0:", "user:100000:", "user:200000:"}
    assert min(timings) < 0.05, timings
