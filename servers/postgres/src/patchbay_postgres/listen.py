"""LISTEN/NOTIFY as resources: one connection per database listens on the channels clients asked for.

Each NOTIFY is kept (the last few per channel, for reading the resource) and passed to a callback that
sends `notifications/resources/updated`. The listening connection is outside the pool, so `DISCARD ALL`
never cancels a LISTEN; if it drops (a restart), it reconnects with backoff and listens again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from patchbay_common.errors import UserError, redact
from patchbay_common.logs import get_logger
from patchbay_postgres.databases import Database

__all__ = ["ListenHub", "Notification"]

log = get_logger("patchbay.postgres.listen")

OnNotify = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True)
class Notification:
    """One NOTIFY as received."""

    channel: str
    payload: str
    pid: int
    received_at: float


class ListenHub:
    """The channels one database listens on, their recent notifications, and the connection that listens."""

    def __init__(self, db: Database, on_notify: OnNotify, *, max_channels: int = 32, keep: int = 50) -> None:
        self.db = db
        self.on_notify = on_notify
        self.max_channels = max_channels
        self.keep = keep
        self.recent: dict[str, deque[Notification]] = {}
        self._connection: Any = None
        self._lock = asyncio.Lock()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closed = False

    @staticmethod
    def validate(channel: str) -> str:
        """The channel name, or a UserError if PostgreSQL could not listen on it."""
        if not channel or len(channel.encode()) > 63 or "\x00" in channel:
            raise UserError(
                f"{channel!r} is not a valid channel name.",
                hint="Use a PostgreSQL identifier of 1 to 63 bytes, the name NOTIFY is sent on.",
            )
        return channel

    async def _connect(self) -> Any:
        import asyncpg

        async with self.db.connection():  # applies --strict and learns the role once
            pass
        connection = await asyncpg.connect(
            self.db.target.dsn,
            timeout=self.db.connect_timeout,
            server_settings={"application_name": "patchbay-postgres-listen"},
        )
        connection.add_termination_listener(self._terminated)
        return connection

    async def _deliver(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        queue = self.recent.setdefault(channel, deque(maxlen=self.keep))
        queue.append(Notification(channel, payload, pid, time.time()))
        try:
            await self.on_notify(channel, payload)
        except Exception as exc:
            log.warning("could not forward a notification", channel=channel, error=redact(str(exc)))

    async def listen(self, channel: str) -> None:
        """Start listening on `channel` (idempotent)."""
        self.validate(channel)
        async with self._lock:
            if channel in self.recent and self._connection is not None:
                return
            if len(self.recent) >= self.max_channels and channel not in self.recent:
                raise UserError(
                    f"Already listening on {len(self.recent)} channels of database {self.db.name!r}, "
                    "the limit.",
                    hint="Unsubscribe from a channel first.",
                )
            if self._connection is None or self._connection.is_closed():
                self._connection = await self._connect()
                for known in self.recent:
                    await self._connection.add_listener(known, self._deliver)
            await self._connection.add_listener(channel, self._deliver)
            self.recent.setdefault(channel, deque(maxlen=self.keep))
            log.info("listening", database=self.db.name, channel=channel)

    async def unlisten(self, channel: str) -> None:
        """Stop listening on `channel`."""
        async with self._lock:
            if self.recent.pop(channel, None) is not None and self._connection is not None:
                with contextlib.suppress(Exception):
                    await self._connection.remove_listener(channel, self._deliver)

    def _terminated(self, connection: Any) -> None:
        if self._closed or not self.recent:
            return
        log.warning("listening connection lost; reconnecting", database=self.db.name)
        self._connection = None
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.2
        while not self._closed and self.recent:
            try:
                async with self._lock:
                    self._connection = await self._connect()
                    for channel in self.recent:
                        await self._connection.add_listener(channel, self._deliver)
                log.info("listening again", database=self.db.name, channels=len(self.recent))
                return
            except Exception as exc:
                log.info("listen reconnect failed", database=self.db.name, error=redact(str(exc)))
                await asyncio.sleep(random.uniform(0, delay))  # noqa: S311 - jitter, not security
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        """Stop listening and close the connection."""
        self._closed = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2.0)
