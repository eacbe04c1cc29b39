"""Continuations the model hands back (list cursors, HSCAN/SSCAN positions) are re-checked against the
server's own limits: a forged one gets a clear isError text, and Redis is never asked for more than the
server allows."""

from __future__ import annotations

from typing import Any

import pytest
from redis_load import fill, pinging

from patchbay_common.limits import encode_cursor
from patchbay_common.testing.clients import ERAS, connect
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("era", ERAS)
async def test_forged_scan_count_is_refused_and_redis_stays_responsive(db, era) -> None:  # type: ignore[no-untyped-def]
    fill(db.r, 400_000)
    port = int(db.url.rsplit(":", 1)[1].split("/")[0])
    server = db.server()  # first: it binds cursors to this server's name
    forged = encode_cursor({"c": "0", "s": 0, "p": "*", "n": 50_000_000})
    async with connect(server, era=era) as client:
        with pinging(port) as pinger:
            result = await client.call_tool("list", {"cursor": forged})
            small = await client.call_tool("key_info", {"keys": ["k:0:1"]})
        assert pinger.pings > 0 and pinger.slowest < 0.3, f"Redis blocked {pinger.slowest:.2f} s"
        assert result.is_error, text(result)[:300]
        assert "The cursor is not valid" in text(result) and "scan count" in text(result)
        assert "nothing was sent to Redis" in text(result)
        assert not small.is_error
        # The server's own cursors keep working.
        first = await client.call_tool("list", {"limit": 10})
        nxt = first.structured_content["next_cursor"]
        second = await client.call_tool("list", {"limit": 10, "cursor": nxt})
        assert not second.is_error and second.structured_content["count"] == 10


async def test_every_forged_field_gets_a_clear_text(db) -> None:  # type: ignore[no-untyped-def]
    db.r.mset({f"k{i}": i for i in range(50)})
    db.r.hset("h", mapping={f"f{i}": i for i in range(50)})
    db.r.sadd("s", *[f"m{i}" for i in range(50)])
    server = db.server()  # first: it binds cursors to this server's name
    good = {"c": "0", "s": 0, "p": "*", "n": 100}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("list", {"cursor": encode_cursor({**good, "n": 50_000_000})}, "scan count"),
        ("list", {"cursor": encode_cursor({**good, "n": "50000000"})}, "scan count"),
        ("list", {"cursor": encode_cursor({**good, "n": 0})}, "scan count"),
        ("list", {"cursor": encode_cursor({**good, "n": 1.5})}, "scan count"),
        ("list", {"cursor": encode_cursor({**good, "n": True})}, "scan count"),
        ("list", {"cursor": encode_cursor({**good, "s": -5})}, "skip"),
        ("list", {"cursor": encode_cursor({**good, "s": 10**12})}, "skip"),
        ("list", {"cursor": encode_cursor({**good, "s": "x"})}, "skip"),
        ("list", {"cursor": encode_cursor({**good, "c": "0 COUNT 50000000"})}, "scan position"),
        ("list", {"cursor": encode_cursor({**good, "c": str(2**64)})}, "scan position"),
        ("list", {"cursor": encode_cursor({**good, "c": 7})}, "scan position"),
        ("list", {"cursor": encode_cursor({**good, "x": 1})}, "fields this server does not make"),
        ("list", {"cursor": encode_cursor({**good, "p": "other*"})}, "another pattern"),
        ("list", {"cursor": encode_cursor({**good, "t": "hash"})}, "another type filter"),
        ("list", {"cursor": encode_cursor(good), "type": "hash"}, "another type filter"),
        ("list", {"cursor": "garbage!"}, "The cursor is not valid"),
        ("list", {"pattern": "*" * 5000}, "longer than 1024 characters"),
        ("hash_get", {"key": "h", "cursor": "abc"}, "scan position"),
        ("hash_get", {"key": "h", "cursor": "-1"}, "scan position"),
        ("hash_get", {"key": "h", "cursor": str(2**64)}, "scan position"),
        ("set_members", {"key": "s", "cursor": "1 COUNT 50000000"}, "scan position"),
        ("set_members", {"key": "s", "pattern": "?" * 2000}, "longer than 1024 characters"),
        ("pubsub_channels", {"pattern": "*" * 2000}, "longer than 1024 characters"),
    ]
    async with connect(server) as client:
        for name, args, expected in cases:
            result = await client.call_tool(name, args)
            shown = text(result)
            assert result.is_error and expected in shown, (name, args, shown[:300])
            assert "internal error" not in shown.lower() and "Traceback" not in shown
        # A position Redis gave is accepted as is.
        page = await client.call_tool("hash_get", {"key": "h", "limit": 5, "cursor": "0"})
        assert not page.is_error
