"""Redis Cluster: a real cluster of three primaries; every tool works across nodes, in both protocol eras."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import redis
from redis.cluster import RedisCluster

from patchbay_common.testing.clients import connect
from patchbay_common.testing.components import RedisClusterInstance, redis_cluster
from patchbay_redis.connection import ConnectionOptions, probe_modules
from patchbay_redis.live import channel_uri, key_uri
from patchbay_redis.server import Settings, build, preflight

pytestmark = pytest.mark.anyio

ERAS = ["legacy", "modern"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterInstance]:
    """Three primaries with keyspace notifications on (one start per module: about 4 s)."""
    with redis_cluster(3, "--notify-keyspace-events", "KA") as instance:
        yield instance


@pytest.fixture
def rc(cluster: RedisClusterInstance) -> Iterator[RedisCluster]:
    """A plain redis-py cluster client for setup and checks; every primary emptied before and after."""
    client = RedisCluster.from_url(cluster.url)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    try:
        yield client
    finally:
        client.flushall(target_nodes=RedisCluster.PRIMARIES)
        client.close()


def server(cluster: RedisClusterInstance, *args: str) -> Any:
    return build(Settings(_cli_parse_args=["--url", cluster.url, *args]))


def node_of(rc: RedisCluster, key: str) -> str:
    return str(rc.get_node_from_key(key).name)


async def test_cluster_is_detected_and_preflight_passes(cluster: RedisClusterInstance) -> None:
    assert probe_modules(ConnectionOptions(url=cluster.url)).cluster is True
    mcp = server(cluster)
    assert mcp.redis_store.cluster is True  # found by INFO cluster, without --cluster
    assert preflight(Settings(_cli_parse_args=["--url", cluster.url, "--cluster"])) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cluster", "--sentinel", "127.0.0.1:1", "--sentinel-service", "m"], "exclude each other"),
        (["--cluster", "--db", "3"], "database 0 only"),
    ],
)
def test_cluster_flag_conflicts_are_clear(
    cluster: RedisClusterInstance, args: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(_cli_parse_args=["--url", cluster.url, *args]).connection()


@pytest.mark.parametrize("era", ERAS)
async def test_keys_are_routed_by_slot_and_listed_from_every_primary(
    cluster: RedisClusterInstance, rc: RedisCluster, era: str
) -> None:
    names = [f"user:{i}" for i in range(60)]
    async with connect(server(cluster, "--access", "write"), era=era) as client:  # type: ignore[arg-type]
        for name in names[:6]:  # writes through the tools land on whichever node owns the slot
            done = await client.call_tool("set", {"key": name, "value": f"v-{name}"})
            assert not done.is_error, done.content
        for name in names[6:]:
            rc.set(name, f"v-{name}")
        assert len({node_of(rc, n) for n in names}) == 3  # the keys really are spread over three nodes
        got = await client.call_tool("get", {"key": "user:7"})
        assert got.structured_content["value"] == "v-user:7"
        many = await client.call_tool("mget", {"keys": ["user:1", "user:2", "user:3", "nope"]})
        assert not many.is_error, many.content
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:  # pages of 7 keys: one cursor walks primary after primary
            args: dict[str, Any] = {"pattern": "user:*", "limit": 7}
            if cursor:
                args["cursor"] = cursor
            page = await client.call_tool("list", args)
            assert not page.is_error, page.content
            seen += page.structured_content["keys"]
            cursor = page.structured_content.get("next_cursor")
            pages += 1
            if not cursor:
                break
        assert sorted(seen) == sorted(names) and len(seen) == len(names)  # each key once, none missed
        assert pages >= 9


async def test_a_forged_node_index_is_refused(cluster: RedisClusterInstance, rc: RedisCluster) -> None:
    from patchbay_common.limits import encode_cursor

    forged = encode_cursor({"c": "0", "s": 0, "p": "*", "t": None, "i": 7})
    async with connect(server(cluster)) as client:
        result = await client.call_tool("list", {"cursor": forged})
    assert result.is_error
    assert "node index" in result.content[0].text and "nothing was sent" in result.content[0].text


@pytest.mark.parametrize("era", ERAS)
async def test_multi_key_commands_split_or_refuse(
    cluster: RedisClusterInstance, rc: RedisCluster, era: str
) -> None:
    keys = [f"k{i}" for i in range(12)]
    for key in keys:
        rc.set(key, "x")
    async with connect(server(cluster, "--access", "write"), era=era) as client:  # type: ignore[arg-type]
        info = await client.call_tool("key_info", {"keys": keys[:5]})
        assert not info.is_error, info.content
        deleted = await client.call_tool("delete", {"keys": [*keys, "missing"]})  # split by slot, summed
        assert deleted.structured_content["deleted"] == 12
        assert not any(rc.exists(key) for key in keys)
        rc.set("a", "1")
        rc.set("b", "2")
        assert node_of(rc, "a") != node_of(rc, "b")
        moved = await client.call_tool("rename", {"key": "a", "new_key": "b", "overwrite": True})
        assert moved.is_error
        text = moved.content[0].text
        assert "different hash slots" in text and "hash tag" in text and "nothing was changed" in text
        assert rc.get("a") == b"1" and rc.get("b") == b"2"
        rc.set("{u1}:name", "ann")
        tagged = await client.call_tool("rename", {"key": "{u1}:name", "new_key": "{u1}:first"})
        assert not tagged.is_error and rc.get("{u1}:first") == b"ann"


REFUSED = [
    ["FLUSHALL"],
    ["FLUSHDB"],
    ["CLUSTER", "RESET", "HARD"],
    ["CLUSTER", "FAILOVER"],
    ["CLUSTER", "FORGET", "abc"],
    ["CLUSTER", "ADDSLOTS", "1"],
    ["CONFIG", "SET", "maxmemory", "1"],
    ["KEYS", "*"],
]


async def test_dangerous_and_cluster_admin_commands_are_refused(
    cluster: RedisClusterInstance, rc: RedisCluster
) -> None:
    rc.set("keep", "me")
    async with connect(server(cluster, "--access", "admin")) as client:
        for args in REFUSED:
            result = await client.call_tool("command", {"args": args})
            assert result.is_error, args
            assert "nothing was sent" in result.content[0].text.lower(), (args, result.content[0].text)
    assert rc.get("keep") == b"me"
    for port in cluster.ports:
        with redis.Redis(port=port) as node:
            assert b"cluster_state:ok" in node.execute_command("CLUSTER", "INFO")


async def test_completions_cover_every_primary(cluster: RedisClusterInstance, rc: RedisCluster) -> None:
    names = [f"order:{i}" for i in range(30)]
    for name in names:
        rc.set(name, "1")
    async with connect(server(cluster)) as client:
        done = await client.complete(
            {"type": "ref/resource", "uri": "redis://key/{key}"}, {"name": "key", "value": "order:"}
        )
    assert sorted(done.completion.values) == sorted(names)


class Updates:
    def __init__(self) -> None:
        self.uris: list[str] = []

    async def __call__(self, message: Any) -> None:
        root = getattr(message, "root", message)
        params = getattr(root, "params", None)
        if getattr(root, "method", "") == "notifications/resources/updated" and params is not None:
            self.uris.append(str(params.uri))


def numsub(cluster: RedisClusterInstance, channel: str) -> int:
    """Subscribers of a classic channel over every node (each node counts its own connections)."""
    total = 0
    for port in cluster.ports:
        with redis.Redis(port=port) as node:
            total += sum(int(n) for _, n in node.pubsub_numsub(channel))
    return total


async def until(condition: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await anyio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_keyspace_and_channel_subscriptions_across_nodes_legacy(
    cluster: RedisClusterInstance, rc: RedisCluster
) -> None:
    keys = ["a", "b", "c"]  # three different primaries
    assert len({node_of(rc, k) for k in keys}) == 3
    updates = Updates()
    async with connect(server(cluster), message_handler=updates) as client:
        for key in keys:
            await client.subscribe_resource(key_uri(key))
        await client.subscribe_resource(channel_uri("alerts"))
        await until(lambda: numsub(cluster, "alerts") == 1)  # on one node only: no duplicate deliveries
        for key in keys:
            rc.set(key, "changed")
        rc.publish("alerts", "disk full")
        await until(lambda: {key_uri(k) for k in keys} | {channel_uri("alerts")} <= set(updates.uris))
        await anyio.sleep(0.3)
        assert updates.uris.count(channel_uri("alerts")) == 1  # one message, announced once
        read = await client.read_resource(channel_uri("alerts"))
        body = read.contents[0].text
        assert "disk full" in body
        channels = await client.call_tool("pubsub_channels", {})
        assert json.dumps(channels.structured_content).count("alerts") == 1


async def test_key_subscription_modern_listen(cluster: RedisClusterInstance, rc: RedisCluster) -> None:
    uri = key_uri("c")
    async with (
        connect(server(cluster), era="modern") as client,
        client.listen(resource_subscriptions=[uri]) as sub,
    ):
        await anyio.sleep(0.3)
        rc.set("c", "now")
        with anyio.fail_after(5):
            event = await sub.__anext__()
        assert event.uri == uri


EVERY_TYPE = {
    "incr": {"key": "n", "by": 2},
    "hash_set": {"key": "h", "fields": [{"name": "a", "value": "1"}]},
    "hash_get": {"key": "h"},
    "list_push": {"key": "l", "values": ["a"]},
    "list_range": {"key": "l"},
    "set_add": {"key": "s", "members": ["a"]},
    "set_members": {"key": "s"},
    "zset_add": {"key": "z", "members": [{"member": "a", "score": 1}]},
    "zset_range": {"key": "z"},
    "stream_add": {"key": "st", "fields": [{"name": "a", "value": "1"}]},
    "stream_range": {"key": "st"},
    "expire": {"key": "n", "seconds": 100},
    "key_info": {"keys": ["n", "h", "l", "s", "z", "st"]},
    "publish": {"channel": "x", "message": "m"},
    "server_info": {},
    "slowlog": {},
    "client_list": {},
    "latency": {},
}


async def test_every_toolset_works_on_the_cluster(cluster: RedisClusterInstance, rc: RedisCluster) -> None:
    async with connect(server(cluster, "--access", "write"), era="modern") as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
        for name, args in EVERY_TYPE.items():
            assert name in listed
            result = await client.call_tool(name, args)
            assert not result.is_error, (name, result.content)
    assert len({node_of(rc, k) for k in ("n", "h", "l", "s", "z", "st")}) > 1
    assert rc.hget("h", "a") == b"1" and rc.ttl("n") > 0
