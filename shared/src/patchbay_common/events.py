"""Event stores for streamable HTTP, so a client whose stream dropped can resume where it left off.

The SDK numbers every event it sends on a stream through an `EventStore`; a client that reconnects with
`Last-Event-ID` is sent every later event of that stream. `MemoryEventStore` keeps a bounded number of
events for a bounded time in this process; `RedisEventStore` keeps them in Redis, so a client can resume
through another replica. `event_store(setting)` builds the one the operator chose (`--event-store`).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import OrderedDict, deque
from typing import Any

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage
from pydantic import TypeAdapter

__all__ = ["MemoryEventStore", "RedisEventStore", "event_store"]

_MESSAGE: TypeAdapter[Any] = TypeAdapter(JSONRPCMessage)


def _event_id(stream_id: StreamId, sequence: int) -> EventId:
    return f"{stream_id}/{sequence}"


def _split(event_id: EventId) -> tuple[str, int] | None:
    stream_id, _, sequence = event_id.rpartition("/")
    return (stream_id, int(sequence)) if stream_id and sequence.isdigit() else None


class MemoryEventStore(EventStore):
    """The last `max_events` events of at most `max_streams` streams, each kept for `ttl` seconds."""

    def __init__(self, *, max_events: int = 1_000, max_streams: int = 1_000, ttl: float = 300.0) -> None:
        self.max_events = max_events
        self.max_streams = max_streams
        self.ttl = ttl
        self._streams: OrderedDict[str, deque[tuple[int, float, Any]]] = OrderedDict()
        self._counter = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        """Keep one event and return its id (`<stream>/<sequence>`)."""
        sequence = next(self._counter)
        events = self._streams.pop(stream_id, None) or deque(maxlen=self.max_events)
        events.append((sequence, time.monotonic(), message))
        self._streams[stream_id] = events  # most recently used last
        while len(self._streams) > self.max_streams:
            self._streams.popitem(last=False)
        return _event_id(stream_id, sequence)

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        """Send every kept event of the same stream after `last_event_id`; None when it is unknown."""
        parsed = _split(last_event_id)
        if parsed is None or parsed[0] not in self._streams:
            return None
        stream_id, after = parsed
        oldest = time.monotonic() - self.ttl
        for sequence, stored, message in list(self._streams[stream_id]):
            if sequence > after and stored >= oldest and message is not None:
                await send_callback(EventMessage(message, _event_id(stream_id, sequence)))
        return stream_id


class RedisEventStore(EventStore):
    """Events in Redis lists (one per stream, trimmed and expiring), shared by every replica."""

    def __init__(
        self, url: str, *, max_events: int = 1_000, ttl: float = 300.0, prefix: str = "patchbay"
    ) -> None:
        import redis.asyncio as redis  # only deployments that name a Redis pay for the import

        self.client: Any = redis.Redis.from_url(url)
        self.max_events = max_events
        self.ttl = int(ttl)
        self.prefix = prefix

    async def aclose(self) -> None:
        """Close the connections to Redis."""
        await self.client.aclose()

    def _key(self, stream_id: str) -> str:
        return f"{self.prefix}:events:{stream_id}"

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        """Keep one event in Redis and return its id."""
        sequence = int(await self.client.incr(f"{self.prefix}:events:sequence"))
        payload = (
            None if message is None else message.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
        key = self._key(stream_id)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.rpush(key, json.dumps([sequence, payload]))
            pipe.ltrim(key, -self.max_events, -1)
            pipe.expire(key, self.ttl)
            await pipe.execute()
        return _event_id(stream_id, sequence)

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        """Send every kept event of the same stream after `last_event_id`; None when it is unknown."""
        parsed = _split(last_event_id)
        if parsed is None:
            return None
        stream_id, after = parsed
        stored = await self.client.lrange(self._key(stream_id), 0, -1)
        if not stored:
            return None
        for raw in stored:
            sequence, payload = json.loads(raw)
            if sequence > after and payload is not None:
                message = _MESSAGE.validate_python(payload)
                await send_callback(EventMessage(message, _event_id(stream_id, sequence)))
        return stream_id


def event_store(setting: str) -> EventStore | None:
    """The store `--event-store` names: `memory`, a `redis://`/`rediss://` URL, or `none`."""
    choice = setting.strip()
    if choice.lower() in ("", "none", "off"):
        return None
    if choice.lower() == "memory":
        return MemoryEventStore()
    if choice.startswith(("redis://", "rediss://", "unix://")):
        try:
            return RedisEventStore(choice)
        except ImportError as exc:
            raise ValueError(
                "--event-store redis://… needs the redis package: pip install 'redis>=5'"
            ) from exc
    raise ValueError(f"--event-store {choice!r}: expected memory, none, or a redis:// URL")
