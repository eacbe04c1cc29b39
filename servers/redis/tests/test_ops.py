"""The domain functions against the real redis-server, without MCP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from patchbay_common.errors import AccessDenied, NotFound, UserError
from patchbay_redis import ops
from patchbay_redis.connection import ConnectionOptions, Store
from patchbay_redis.policy import Policy

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(db) -> AsyncIterator[Callable[..., Store]]:  # type: ignore[no-untyped-def]
    """Stores on the test's database, closed after the test (whatever happened in it)."""
    made: list[Store] = []

    def make(_db: object = None, access: str = "read") -> Store:
        made.append(Store(ConnectionOptions(url=db.url), Policy.of(access)))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for s in made:
        await s.aclose()


async def test_list_pages_with_scan_and_a_cursor_until_every_key_is_seen(db, store) -> None:  # type: ignore[no-untyped-def]
    db.r.mset({f"user:{i}": i for i in range(2500)} | {"other": 1})
    s = store(None)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await ops.list_keys(s, "user:*", cursor=cursor, limit=400)
        assert page["count"] <= 400
        seen += page["keys"]
        pages += 1
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    assert set(seen) == {f"user:{i}" for i in range(2500)}
    assert pages >= 7


async def test_list_cursor_must_match_its_pattern_and_be_intact(db, store) -> None:  # type: ignore[no-untyped-def]
    db.r.mset({f"k{i}": 1 for i in range(30)})
    s = store(None)
    page = await ops.list_keys(s, "k*", limit=5)
    with pytest.raises(UserError, match="another pattern"):
        await ops.list_keys(s, "x*", cursor=page["next_cursor"])
    with pytest.raises(UserError, match="cursor is not valid"):
        await ops.list_keys(s, "k*", cursor="not-a-cursor!")


async def test_list_respects_the_character_budget(db, store) -> None:  # type: ignore[no-untyped-def]
    db.r.mset({("k" * 300) + str(i): 1 for i in range(50)})
    s = store(None)
    page = await ops.list_keys(s, "*", limit=1000, max_chars=2000)
    assert 1 <= page["count"] < 10 and "next_cursor" in page


async def test_get_shows_every_type_capped(db, store) -> None:  # type: ignore[no-untyped-def]
    db.r.set("s", "x" * 5000)
    db.r.hset("h", mapping={f"f{i}": "v" for i in range(300)})
    db.r.rpush("l", *[str(i) for i in range(300)])
    db.r.sadd("set", *[str(i) for i in range(300)])
    db.r.zadd("z", {f"m{i}": i for i in range(300)})
    db.r.xadd("st", {"a": "1"})
    db.r.set("bin", b"\x00\xff" * 10, ex=100)
    s = store(None)
    assert (await ops.get_value(s, "s", max_chars=1000))["value"].endswith("more characters of 4000]")
    hashed = await ops.get_value(s, "h", limit=50)
    assert hashed["length"] == 300 and 50 <= len(hashed["fields"]) < 300 and "hash_get" in hashed["note"]
    listed = await ops.get_value(s, "l", limit=10)
    assert listed["items"] == [str(i) for i in range(10)] and listed["length"] == 300
    assert (await ops.get_value(s, "set", limit=10))["length"] == 300
    assert (await ops.get_value(s, "z", limit=2))["members"] == [["m0", 0], ["m1", 1]]
    assert (await ops.get_value(s, "st"))["entries"][0]["fields"] == {"a": "1"}
    binary = await ops.get_value(s, "bin")
    assert (
        binary["value"]["binary"] is True
        and binary["value"]["size"] == 20
        and 0 < binary["ttl_seconds"] <= 100
    )
    with pytest.raises(NotFound, match="Key not found"):
        await ops.get_value(s, "missing")


async def test_keys_with_cr_lf_and_odd_characters_round_trip(db, store) -> None:  # type: ignore[no-untyped-def]
    odd = "line\r\nbreak\x00nul \u202eRTL \U0001f600 * ? [x]"
    db.r.set(odd, "v")
    db.r.set(b"\xff\xfe", "binary name")
    s = store(None, "write")
    listed = (await ops.list_keys(s, "*"))["keys"]
    assert odd in listed and {"binary": True, "base64": "//4="} in listed
    assert (await ops.get_value(s, odd))["value"] == "v"
    assert (await ops.key_info(s, [odd]))["keys"][0]["type"] == "string"
    await ops.rename(s, odd, odd + "2")
    assert db.r.get(odd + "2") == b"v"


async def test_write_functions_and_their_refusals(db, store) -> None:  # type: ignore[no-untyped-def]
    s = store(None, "write")
    assert (await ops.set_value(s, "k", "v", expire_seconds=60))["set"] is True
    assert (await ops.set_value(s, "k", "w", only_if="absent"))["set"] is False
    assert db.r.get("k") == b"v" and 0 < db.r.ttl("k") <= 60
    assert (await ops.expire(s, "k", None))["changed"] is True and db.r.ttl("k") == -1
    with pytest.raises(NotFound):
        await ops.expire(s, "nope", 10)
    db.r.set("taken", "1")
    with pytest.raises(UserError, match="already exists"):
        await ops.rename(s, "k", "taken")
    assert db.r.get("k") == b"v" and db.r.get("taken") == b"1"
    assert (await ops.incr(s, "n", 5))["value"] == 5
    assert (await ops.incr(s, "f", 1.5))["value"] == 1.5
    with pytest.raises(UserError, match="holds a string, not a hash"):
        await ops.hash_set(s, "k", {"a": "b"})
    assert db.r.get("k") == b"v"
    assert (await ops.delete_keys(s, ["k", "n", "absent"])) == {"requested": 3, "deleted": 2}


async def test_read_store_refuses_writes_and_sends_nothing(db, store) -> None:  # type: ignore[no-untyped-def]
    s = store(None)
    with pytest.raises(AccessDenied, match="read-only"):
        await ops.set_value(s, "k", "v")
    assert db.r.dbsize() == 0


async def test_collections_and_streams(db, store) -> None:  # type: ignore[no-untyped-def]
    s = store(None, "write")
    await ops.hash_set(s, "h", {"a": "1", "b": "2"})
    assert (await ops.hash_get(s, "h", fields=["a", "zz"]))["fields"] == {"a": "1", "zz": None}
    assert (await ops.hash_delete(s, "h", ["a"]))["deleted"] == 1
    await ops.list_push(s, "l", ["a", "b", "c"])
    assert (await ops.list_range(s, "l", start=1, count=1)) == {
        "key": "l",
        "length": 3,
        "start": 1,
        "items": ["b"],
        "next_start": 2,
    }
    assert (await ops.list_pop(s, "l", end="right", count=2))["popped"] == ["c", "b"]
    await ops.set_add(s, "s", ["x", "y"])
    assert (await ops.set_members(s, "s", check=["x", "q"]))["is_member"] == {"x": True, "q": False}
    assert (await ops.set_remove(s, "s", ["x"]))["removed"] == 1
    await ops.zset_add(s, "z", {"a": 1, "b": 2, "c": 3})
    assert (await ops.zset_range(s, "z", by="score", start="(1", stop="+inf"))["members"] == [
        ["b", 2],
        ["c", 3],
    ]
    assert (await ops.zset_range(s, "z", reverse=True, limit=1))["members"] == [["c", 3]]
    assert (await ops.zset_remove(s, "z", ["a"]))["removed"] == 1
    first = (await ops.stream_add(s, "st", {"f": "1"}))["id"]
    await ops.stream_add(s, "st", {"f": "2"})
    db.r.xgroup_create("st", "g", id="0")
    db.r.xreadgroup("g", "c1", {"st": ">"}, count=1)
    groups = (await ops.stream_groups(s, "st"))["groups"]
    assert (
        groups[0]["name"] == "g" and groups[0]["pending"] == 1 and groups[0]["consumers"][0]["name"] == "c1"
    )
    assert (await ops.stream_ack(s, "st", "g", [first]))["acknowledged"] == 1
    page = await ops.stream_range(s, "st", count=1)
    assert len(page["entries"]) == 1 and f'start="({first}"' in page["note"]


async def test_server_tools(db, store) -> None:  # type: ignore[no-untyped-def]
    db.r.set("a", 1)
    s = store(None)
    info = await ops.server_info(s, "server")
    assert info["dbsize"] == 1 and "redis_version" in info["info"]
    clients = await ops.client_list(s)
    assert clients["count"] >= 1 and all("addr" not in c and "laddr" not in c for c in clients["clients"])
    assert "entries" in await ops.slowlog(s, 5)
    assert "doctor" in await ops.latency(s)
