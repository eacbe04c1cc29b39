"""The console script over streamable HTTP, as a deployment would run it."""

from __future__ import annotations

import pytest

from patchbay_common.testing.clients import Launch, connect, http_server

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_streamable_http_both_eras(db, era) -> None:  # type: ignore[no-untyped-def]
    db.r.hset("user:1", mapping={"name": "Ada"})
    with http_server(Launch("patchbay-redis", ["--url", db.url])) as running:
        async with connect(running, era=era) as client:
            got = await client.call_tool("get", {"key": "user:1"})
            assert got.structured_content["fields"] == {"name": "Ada"}
            refused = await client.call_tool("command", {"args": ["FLUSHDB"]})
            assert refused.is_error
    assert db.r.dbsize() == 1
