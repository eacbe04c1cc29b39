"""What lives as long as the server runs: the databases' pools, the LISTEN hubs and who subscribed to what.

Opened lazily and closed when the last client connection ends (the server's lifespan), so a fork can
reuse `Runtime` without the MCP layer. A background warm-up connects to every database at start, logging
(not failing) when one is down, so a dangerous role is reported at once rather than at the first call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from patchbay_common.connections import connection_of
from patchbay_common.errors import UserError, redact
from patchbay_common.logs import get_logger
from patchbay_postgres.databases import Databases
from patchbay_postgres.listen import ListenHub

__all__ = ["Runtime", "listen_uri"]

log = get_logger("patchbay.postgres")

Publish = Callable[[str], Awaitable[None]]


def listen_uri(database: str, channel: str) -> str:
    """The resource URI of a LISTEN channel."""
    return f"postgres://{database}/listen/{quote(channel, safe='')}"


def _client_key(session: Any) -> Any:
    """What identifies one client across its requests (each request gets its own session object)."""
    return connection_of(session)


class Runtime:
    """Pools, LISTEN hubs and resource subscriptions, shared by every client of one server."""

    def __init__(self, databases: Databases, publish: Publish | None = None) -> None:
        self.databases = databases
        self.publish = publish
        self.hubs: dict[str, ListenHub] = {}
        self.subscribers: dict[str, dict[Any, Any]] = {}  # uri -> {client connection: session}
        self._users = 0
        self._warmup: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _server: Any = None) -> AsyncIterator[None]:
        """Warm up on the first client connection; close everything when the last one ends."""
        self._users += 1
        if self._users == 1:
            self._warmup = asyncio.get_running_loop().create_task(self._warm())
        try:
            yield None
        finally:
            self._users -= 1
            if self._users == 0:
                await self.close()

    async def _warm(self) -> None:
        await asyncio.sleep(0.3)  # answer `initialize` first: importing asyncpg blocks the loop a moment
        for db in self.databases.by_name.values():
            try:
                async with db.connection():
                    pass
                log.info("database reachable", database=db.name, role=db.role.user if db.role else None)
            except UserError as exc:
                log.warning("database not usable at start", database=db.name, error=redact(str(exc)))
            except Exception as exc:  # never let the warm-up take the server down
                log.warning("database warm-up failed", database=db.name, error=redact(repr(exc)))

    async def close(self) -> None:
        """Stop the warm-up, the LISTEN connections and the pools."""
        if self._warmup is not None:
            self._warmup.cancel()
            with contextlib.suppress(BaseException):
                await self._warmup
            self._warmup = None
        hubs, self.hubs = self.hubs, {}
        for hub in hubs.values():
            await hub.close()
        self.subscribers.clear()
        await self.databases.close()

    def hub(self, database: str) -> ListenHub:
        """The LISTEN hub of `database`, created on first use."""
        db = self.databases.get(database)
        if db.name not in self.hubs:

            async def forward(channel: str, payload: str) -> None:
                await self.notify(listen_uri(db.name, channel))

            self.hubs[db.name] = ListenHub(db, forward)
        return self.hubs[db.name]

    async def notify(self, uri: str) -> None:
        """Tell every subscriber (and the modern-era bus) that `uri` changed; forget departed sessions."""
        for key, session in list(self.subscribers.get(uri, {}).items()):
            try:
                await session.send_resource_updated(uri)
            except Exception as exc:
                log.info("subscriber gone", uri=uri, error=redact(str(exc)))
                self.subscribers.get(uri, {}).pop(key, None)
        if self.publish is not None:
            await self.publish(uri)

    async def subscribe(self, session: Any, database: str, channel: str) -> None:
        """LISTEN on `channel` and send `session` an update on each NOTIFY."""
        await self.hub(database).listen(channel)
        uri = listen_uri(self.databases.get(database).name, channel)
        self.subscribers.setdefault(uri, {})[_client_key(session)] = session

    async def unsubscribe(self, session: Any, database: str, channel: str) -> None:
        """Stop sending `session` updates; UNLISTEN once nobody is subscribed."""
        uri = listen_uri(self.databases.get(database).name, channel)
        sessions = self.subscribers.get(uri, {})
        sessions.pop(_client_key(session), None)
        if not sessions:
            self.subscribers.pop(uri, None)
            await self.hub(database).unlisten(channel)
