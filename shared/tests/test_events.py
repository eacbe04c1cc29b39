"""Event stores: a reconnecting client gets exactly the events of its stream it missed, within bounds."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from mcp.server.streamable_http import EventMessage
from mcp_types import JSONRPCNotification

from patchbay_common.events import MemoryEventStore, RedisEventStore, event_store
from patchbay_common.testing.clients import Launch, http_server

pytestmark = pytest.mark.anyio


def note(n: int) -> Any:
    return JSONRPCNotification(jsonrpc="2.0", method="notifications/progress", params={"progress": n})


async def replayed(store: Any, last: str) -> tuple[list[int], Any]:
    got: list[EventMessage] = []

    async def send(event: EventMessage) -> None:
        got.append(event)

    stream = await store.replay_events_after(last, send)
    return [e.message.params["progress"] for e in got], stream  # type: ignore[union-attr]


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryEventStore(max_events=5)
        return
    instance = request.getfixturevalue("redis_instance")
    redis_store = RedisEventStore(instance.url, max_events=5, prefix=f"test-{id(request)}")
    yield redis_store
    await redis_store.aclose()


async def test_replay_sends_exactly_the_missed_events_of_the_same_stream(store: Any) -> None:
    first = await store.store_event("a", note(1))
    await store.store_event("b", note(100))
    second = await store.store_event("a", note(2))
    await store.store_event("a", note(3))
    assert await replayed(store, first) == ([2, 3], "a")
    assert await replayed(store, second) == ([3], "a")
    assert await replayed(store, "nonexistent/7") == ([], None)
    assert await replayed(store, "garbage") == ([], None)


async def test_memory_is_bounded_per_stream(store: Any) -> None:
    first = await store.store_event("s", note(0))
    for n in range(1, 20):
        await store.store_event("s", note(n))
    events, stream = await replayed(store, first)
    assert stream == "s" and events == [15, 16, 17, 18, 19]  # only the last five are kept


def test_the_setting_names_a_store() -> None:
    assert isinstance(event_store("memory"), MemoryEventStore)
    assert event_store("none") is None
    with pytest.raises(ValueError, match="expected memory, none, or a redis:// URL"):
        event_store("postgres://x")


def test_streamable_http_numbers_its_events_for_resumption() -> None:
    launch = Launch(sys.executable, ["-m", "patchbay_sqlite"])
    with http_server(launch, "streamable-http") as server:
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        with httpx2.Client(timeout=30) as client:
            answer = client.post(server.url, json=init, headers=headers)
            assert answer.status_code == 200, answer.text
            assert "\nid: " in "\n" + answer.text or answer.text.startswith(
                "id: "
            )  # an event id to resume from
