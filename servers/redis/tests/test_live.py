"""Channels and keys as live resources: subscribe, get notifications/resources/updated, read the buffer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import redis
from mcp import Client
from mcp_types import ResourceUpdatedNotification

from patchbay_common.testing.components import RedisInstance
from patchbay_redis.live import channel_uri, key_uri

pytestmark = pytest.mark.anyio


def body(contents: Any) -> dict[str, Any]:
    """The JSON inside a wrapped resource text."""
    text = contents.contents[0].text
    inner = text.split("\n", 2)[2].rsplit("\n", 1)[0]
    return json.loads(inner)


class Updates:
    """Collects resources/updated notifications (handshake era)."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self.arrived = anyio.Event()

    async def __call__(self, message: Any) -> None:
        root = getattr(message, "root", message)
        if isinstance(root, ResourceUpdatedNotification):
            self.uris.append(str(root.params.uri))
            self.arrived.set()

    async def wait_for(self, count: int) -> None:
        with anyio.fail_after(5):
            while len(self.uris) < count:
                self.arrived = anyio.Event()
                await self.arrived.wait()


@pytest.fixture
def keyspace_events(redis_instance: RedisInstance) -> Iterator[None]:
    """Turn on keyspace notifications on the shared server for one test, then restore the setting."""
    admin = redis.Redis.from_url(redis_instance.url)
    before = admin.config_get("notify-keyspace-events")["notify-keyspace-events"]
    admin.config_set("notify-keyspace-events", "KA")
    try:
        yield
    finally:
        admin.config_set("notify-keyspace-events", before)
        admin.close()


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait until `condition()` holds, failing after `seconds`."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await anyio.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_uris_percent_encode_odd_names() -> None:
    assert channel_uri("news/eu 1") == "redis://channel/news%2Feu%201"
    assert key_uri("a\r\nb") == "redis://key/a%0D%0Ab"


async def test_templates_are_listed_and_subscribe_is_advertised(db) -> None:  # type: ignore[no-untyped-def]
    async with Client(db.server(), mode="legacy") as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert templates == {"redis://key/{key}", "redis://channel/{channel}"}
        assert client.server_capabilities.resources.subscribe is True


async def test_channel_subscription_legacy(db) -> None:  # type: ignore[no-untyped-def]
    updates = Updates()
    uri = channel_uri("news/eu")
    server = db.server("--buffer-size", "3")
    async with Client(server, mode="legacy", message_handler=updates) as client:
        empty = body(await client.read_resource(uri))
        assert empty["messages"] == [] and "subscribe" in empty["note"]
        await client.subscribe_resource(uri)
        await client.subscribe_resource(uri)  # twice from one session: still one reference
        for i in range(5):
            assert db.r.publish("news/eu", f"m{i}\x00" if i == 4 else f"m{i}") == 1
        await updates.wait_for(5)
        assert set(updates.uris) == {uri}
        read = body(await client.read_resource(uri))
        assert read["subscribed"] is True
        assert [m["data"] for m in read["messages"]][:2] == ["m2", "m3"]
        assert read["messages"][2]["data"]["binary"] is True
        assert re.match(r"\d{4}-\d\d-\d\dT", read["messages"][0]["at"])
        await client.unsubscribe_resource(uri)
        await until(lambda: db.r.pubsub_numsub("news/eu")[0][1] == 0)
        assert db.r.publish("news/eu", "after") == 0


async def test_key_subscription_follows_keyspace_events(db, keyspace_events) -> None:  # type: ignore[no-untyped-def]
    updates = Updates()
    uri = key_uri("cfg:a/b")
    async with Client(db.server(), mode="legacy", message_handler=updates) as client:
        await client.subscribe_resource(uri)
        db.r.set("cfg:a/b", "v1")
        await updates.wait_for(1)
        assert body(await client.read_resource(uri))["value"] == "v1"
        db.r.set("other", "x")
        db.r.expire("cfg:a/b", 100)
        await updates.wait_for(2)
        assert updates.uris == [uri, uri]
    await until(lambda: db.r.pubsub_numsub(f"__keyspace@{db.number}__:cfg:a/b")[0][1] == 0)


async def test_subscribing_to_a_foreign_uri_is_a_clear_error(db) -> None:  # type: ignore[no-untyped-def]
    async with Client(db.server(), mode="legacy") as client:
        with pytest.raises(Exception, match="not a resource this server can watch"):
            await client.subscribe_resource("file:///etc/passwd")


async def test_channel_subscription_modern_listen(db) -> None:  # type: ignore[no-untyped-def]
    uri = channel_uri("alerts")
    async with Client(db.server()) as client, client.listen(resource_subscriptions=[uri]) as sub:
        assert sub.honored.resource_subscriptions == [uri]
        await until(lambda: db.r.pubsub_numsub("alerts")[0][1] == 1)
        db.r.publish("alerts", "disk full")
        with anyio.fail_after(5):
            event = await sub.__anext__()
        assert event.uri == uri
        assert body(await client.read_resource(uri))["messages"][0]["data"] == "disk full"
