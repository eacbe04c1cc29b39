"""Pathological inputs: huge values, big collections and a big key space. Each call ends well within its
deadline with a clear answer, the server's memory stays bounded whatever the value's size, Redis keeps
answering PING, and a small call made meanwhile answers promptly."""

from __future__ import annotations

from typing import Any

import pytest
from redis_load import fill, fill_zset, pinging, python_memory, while_running

from patchbay_common.testing.clients import connect
from patchbay_common.testing.results import text

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # make stress, not make test

MB = 1_000_000
DEADLINE = 10.0
PROMPT = 0.4  # a small call takes a few ms; this leaves ~300 ms for a noisy machine
MEMORY = 24 * MB  # Python allocations during the call, whatever the size of the data behind it


def _port(db: Any) -> int:
    return int(db.url.rsplit(":", 1)[1].split("/")[0])


async def _check(db: Any, tool: str, args: dict[str, Any]) -> Any:
    """Call `tool` while a small call repeats; check time, memory, Redis and the small call; return result."""
    db.r.set("small", "v")
    async with connect(db.server("--tool-timeout", str(DEADLINE))) as client:

        async def heavy() -> Any:
            return await client.call_tool(tool, args)

        async def small() -> None:
            assert not (await client.call_tool("key_info", {"keys": ["small"]})).is_error

        with pinging(_port(db)) as pinger, python_memory() as peak:
            result, latencies, took = await while_running(heavy, small)
    assert took < DEADLINE, f"{tool} took {took:.1f} s"
    assert peak[0] < MEMORY, f"{tool} allocated {peak[0] / MB:.0f} MB"
    assert pinger.slowest < PROMPT, f"Redis blocked {pinger.slowest:.2f} s during {tool}"
    assert not latencies or max(latencies) < PROMPT, f"small call waited {max(latencies):.2f} s"
    assert "internal error" not in text(result).lower()
    return result


async def test_mget_of_huge_strings_reads_windows(db) -> None:  # type: ignore[no-untyped-def]
    for name in ("a", "b", "c"):
        db.r.setrange(name, 48 * MB - 1, "z")  # 48 MB each (zero bytes, then "z")
    db.r.set("text", "é" * (20 * MB))
    result = await _check(db, "mget", {"keys": ["a", "b", "c", "text"]})
    values = result.structured_content["values"]
    assert values["a"]["size"] == 48 * MB and values["a"]["binary"] is True
    assert "[cut: first" in values["text"] and "of 40000000 bytes read]" in values["text"]


async def test_hash_field_of_huge_size_is_described_not_read(db) -> None:  # type: ignore[no-untyped-def]
    db.r.hset("h", mapping={"big": b"x" * (64 * MB), "small": "ok"})
    result = await _check(db, "hash_get", {"key": "h", "fields": ["big", "small", "missing"]})
    fields = result.structured_content["fields"]
    assert fields["small"] == "ok" and fields["missing"] is None
    assert fields["big"]["size"] == 64 * MB and "not read" in fields["big"]["note"]


@pytest.mark.parametrize("tool", ["list_range", "get"])
async def test_list_of_huge_items_is_refused_clearly(db, tool) -> None:  # type: ignore[no-untyped-def]
    for _ in range(4):
        db.r.rpush("l", b"y" * (24 * MB))
    result = await _check(db, tool, {"key": "l"})
    assert result.is_error and "take about" in text(result) and "none was read" in text(result)


async def test_list_of_large_items_is_read_a_few_at_a_time(db) -> None:  # type: ignore[no-untyped-def]
    for _ in range(20):
        db.r.rpush("l", b"y" * (4 * MB))
    result = await _check(db, "list_range", {"key": "l", "count": 20})
    data = result.structured_content
    assert not result.is_error and 1 <= len(data["items"]) <= 4 and data["next_start"] == len(data["items"])


@pytest.mark.parametrize("reverse", [False, True])
async def test_big_sorted_set_pages_by_rank(db, reverse) -> None:  # type: ignore[no-untyped-def]
    fill_zset(db.r, "z", 500_000)
    result = await _check(db, "zset_range", {"key": "z", "offset": 10, "limit": 5, "reverse": reverse})
    data = result.structured_content
    expected = [500_000 - 10 - i for i in range(5)] if reverse else [11 + i for i in range(5)]
    assert [m[1] for m in data["members"]] == expected and data["next_offset"] == 15
    assert data["length"] == 500_000


async def test_sparse_pattern_on_a_big_key_space_ends_with_a_cursor(db) -> None:  # type: ignore[no-untyped-def]
    fill(db.r, 400_000)
    result = await _check(db, "list", {"pattern": "no-such-prefix:*"})
    data = result.structured_content
    assert data["keys"] == [] and "time budget" in data["note"] and data["next_cursor"]
