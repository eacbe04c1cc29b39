"""Pub/sub channels and keyspace events as live resources (no MCP here: callers pass a notify callback).

One Redis pub/sub connection serves every subscription of the server. A resource URI maps to one Redis
channel: `redis://channel/<name>` to the channel itself, `redis://key/<name>` to the key's keyspace
channel `__keyspace@<db>__:<name>` (Redis must have `notify-keyspace-events` enabled, e.g. `KA`).
Subscriptions are reference-counted per URI; the reader task runs only while at least one exists.
Each message is kept in a bounded per-URI buffer (the newest `buffer_size`) and announced through the
`notify(uri)` callback; reading a channel resource returns that buffer.

In a Redis Cluster keyspace events are node-local (only the primary holding the key's slot sends them), so
the hub keeps one pub/sub connection per primary and subscribes key resources on every one of them (a key
that moves between nodes keeps being watched). Classic channel messages are broadcast to every node of the
cluster, so channel resources are subscribed on the first primary only: each message arrives once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from patchbay_common.errors import UserError
from patchbay_common.logs import get_logger
from patchbay_redis.connection import ConnectionOptions, close_client
from patchbay_redis.values import show

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = ["CHANNEL_PREFIX", "KEY_PREFIX", "Hub", "Message", "channel_uri", "key_uri"]

log = get_logger("patchbay.redis.live")

CHANNEL_PREFIX = "redis://channel/"
KEY_PREFIX = "redis://key/"
MAX_SUBSCRIPTIONS = 256


def channel_uri(channel: str) -> str:
    """The resource URI of a pub/sub channel (the name percent-encoded)."""
    return CHANNEL_PREFIX + quote(channel, safe="")


def key_uri(key: str) -> str:
    """The resource URI of a key (the name percent-encoded)."""
    return KEY_PREFIX + quote(key, safe="")


@dataclass(frozen=True)
class Message:
    """One message seen on a subscribed channel."""

    at: float
    data: Any

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ISO-ish UTC time and the data shown compactly."""
        return {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)), "data": self.data}


Notify = Callable[[str], Awaitable[None]]


class Hub:
    """Reference-counted Redis subscriptions behind resource URIs, with a bounded buffer per URI."""

    def __init__(self, options: ConnectionOptions, db: int, *, buffer_size: int = 100) -> None:
        self.options = options
        self.db = db
        self.buffer_size = buffer_size
        self.notify: Notify | None = None
        self._refs: Counter[str] = Counter()
        self._buffers: dict[str, deque[Message]] = {}
        self._clients: list[Redis] = []
        self._pubsubs: list[PubSub] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    def redis_channel(self, uri: str) -> str:
        """The Redis channel behind a resource URI.

        Raises:
            UserError: the URI is not a channel or key resource of this server.
        """
        if uri.startswith(CHANNEL_PREFIX) and len(uri) > len(CHANNEL_PREFIX):
            return unquote(uri[len(CHANNEL_PREFIX) :])
        if uri.startswith(KEY_PREFIX) and len(uri) > len(KEY_PREFIX):
            return f"__keyspace@{self.db}__:{unquote(uri[len(KEY_PREFIX) :])}"
        raise UserError(
            f"{uri} is not a resource this server can watch.",
            hint=f"Subscribe to {CHANNEL_PREFIX}<channel> or {KEY_PREFIX}<key> (names percent-encoded).",
        )

    def check(self, uri: str) -> None:
        """Refuse, before anything starts, a URI this server cannot watch or one more past the limit.

        Raises:
            UserError: the URI is not a channel or key resource, or `MAX_SUBSCRIPTIONS` are watched already.
        """
        self.redis_channel(uri)
        if self._refs[uri] == 0 and len(+self._refs) >= MAX_SUBSCRIPTIONS:
            raise UserError(
                f"This server already watches {MAX_SUBSCRIPTIONS} resources.",
                hint="Unsubscribe from some before subscribing to more.",
            )

    def messages(self, uri: str) -> list[dict[str, Any]]:
        """The buffered messages of a URI, oldest first."""
        return [message.as_dict() for message in self._buffers.get(uri, ())]

    def watching(self, uri: str) -> bool:
        """Whether any client is subscribed to this URI now."""
        return self._refs[uri] > 0

    async def acquire(self, uri: str) -> None:
        """Start (or share) the Redis subscription behind `uri`."""
        channel = self.redis_channel(uri)
        async with self._lock:
            if self._refs[uri] == 0:
                if len(+self._refs) >= MAX_SUBSCRIPTIONS:
                    raise UserError(
                        f"This server already watches {MAX_SUBSCRIPTIONS} resources.",
                        hint="Unsubscribe from some before subscribing to more.",
                    )
                for pubsub in self._watching(uri, await self._ensure_started()):
                    await pubsub.subscribe(channel)
                self._buffers.setdefault(uri, deque(maxlen=self.buffer_size))
            self._refs[uri] += 1

    async def release(self, uri: str) -> None:
        """Drop one reference; unsubscribe in Redis when it was the last one."""
        async with self._lock:
            if self._refs[uri] <= 0:
                return
            self._refs[uri] -= 1
            if self._refs[uri] == 0:
                del self._refs[uri]
                for pubsub in self._watching(uri, self._pubsubs):
                    with contextlib.suppress(Exception):
                        await pubsub.unsubscribe(self.redis_channel(uri))
            if not +self._refs:
                await self._stop()

    @staticmethod
    def _watching(uri: str, pubsubs: list[PubSub]) -> list[PubSub]:
        """The connections a URI is subscribed on: key events on every node, a channel on the first."""
        return pubsubs if uri.startswith(KEY_PREFIX) else pubsubs[:1]

    async def _ensure_started(self) -> list[PubSub]:
        if not self._pubsubs:
            self._clients = await self._node_clients()
            self._pubsubs = [client.pubsub() for client in self._clients]
        loop = asyncio.get_running_loop()
        for index, pubsub in enumerate(self._pubsubs):
            if index >= len(self._tasks):
                self._tasks.append(loop.create_task(self._read(pubsub)))
            elif self._tasks[index].done():
                self._tasks[index] = loop.create_task(self._read(pubsub))
        return self._pubsubs

    async def _node_clients(self) -> list[Redis]:
        """One client per primary of a cluster (found through a cluster client), else the one client."""
        if not self.options.cluster:
            return [self.options.client()]
        cluster: Any = self.options.client()
        try:
            await cluster.initialize()
            nodes = sorted(cluster.get_primaries(), key=lambda node: (node.host, int(node.port)))
            return [self.options.node_client(node.host, int(node.port)) for node in nodes]
        except Exception as exc:
            raise UserError(
                f"The Redis Cluster is not reachable to subscribe ({type(exc).__name__}: {exc}).",
                hint="Try again in a few seconds.",
            ) from None
        finally:
            await cluster.aclose()

    async def _stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        pubsubs, clients, self._pubsubs, self._clients = self._pubsubs, self._clients, [], []
        for pubsub in pubsubs:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated
        for client in clients:
            with contextlib.suppress(Exception):
                await close_client(client)

    async def aclose(self) -> None:
        """Stop every subscription (server shutdown)."""
        async with self._lock:
            self._refs.clear()
            await self._stop()

    async def _read(self, pubsub: PubSub) -> None:
        """Read messages until cancelled; on a lost connection, wait and let redis-py resubscribe."""
        failures = 0
        while True:
            try:
                if not pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("pub/sub connection lost; reconnecting", error=str(exc), attempt=failures)
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))
                continue
            if message is None or message.get("type") not in ("message", "pmessage"):
                continue
            await self._deliver(message)

    async def _deliver(self, message: dict[str, Any]) -> None:
        raw_channel = message["channel"]
        channel = (
            raw_channel.decode("utf-8", "replace") if isinstance(raw_channel, bytes) else str(raw_channel)
        )
        prefix = f"__keyspace@{self.db}__:"
        uri = key_uri(channel[len(prefix) :]) if channel.startswith(prefix) else channel_uri(channel)
        buffer = self._buffers.get(uri)
        if buffer is None:
            return
        buffer.append(Message(time.time(), show(message["data"])))
        if self.notify is not None:
            try:
                await self.notify(uri)
            except Exception as exc:  # a client gone away must not stop the reader
                log.warning("resource update not delivered", uri=uri, error=str(exc))
