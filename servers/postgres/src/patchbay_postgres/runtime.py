"""What lives as long as the server runs: the databases' pools and the LISTEN hubs.

Opened lazily and closed when the last client connection ends (the server's lifespan), so a fork can
reuse `Runtime` without the MCP layer. A background warm-up connects to every database at start, logging
(not failing) when one is down, so a dangerous role is reported at once rather than at the first call.
Who watches which channel is the subscription service's business (`PatchbayServer.subscriptions`, in both
protocol eras): it calls `watch`/`unwatch` when the first watcher of a channel arrives and the last leaves,
and each NOTIFY is handed to `publish`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote

from patchbay_common.errors import UserError, redact
from patchbay_common.logs import get_logger
from patchbay_postgres.databases import Databases
from patchbay_postgres.listen import ListenHub

__all__ = ["Runtime", "listen_target", "listen_uri"]

log = get_logger("patchbay.postgres")

Publish = Callable[[str], Awaitable[None]]


def listen_uri(database: str, channel: str) -> str:
    """The resource URI of a LISTEN channel."""
    return f"postgres://{database}/listen/{quote(channel, safe='')}"


def listen_target(uri: str) -> tuple[str, str]:
    """(database, channel) of a `postgres://DATABASE/listen/CHANNEL` URI.

    Raises:
        UserError: the URI names another kind of resource.
    """
    prefix, _, rest = str(uri).partition("postgres://")
    parts = rest.split("/")
    if prefix or len(parts) != 3 or parts[1] != "listen" or not parts[2]:
        raise UserError(
            "Only postgres://DATABASE/listen/CHANNEL resources can be subscribed to.",
            hint="Table schema resources do not change while you watch; read them again instead.",
        )
    return unquote(parts[0]), unquote(parts[2])


class Runtime:
    """Pools, LISTEN hubs and resource subscriptions, shared by every client of one server."""

    def __init__(self, databases: Databases, publish: Publish | None = None) -> None:
        self.databases = databases
        self.publish = publish
        self.hubs: dict[str, ListenHub] = {}
        self.read_channels: set[str] = set()  # URIs of channels a client read: listened to from then on
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
        self.read_channels.clear()
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
        """Tell the watchers of `uri` (both eras) that it changed."""
        if self.publish is not None:
            await self.publish(uri)

    async def can_watch(self, uri: str) -> None:
        """Whether a client may watch `uri`: a LISTEN channel of a database that answers, under the limit.

        Raises:
            UserError: it is another resource, an unknown database, a bad channel name, a database that
                cannot be reached (or is refused by --strict), or one channel too many.
        """
        database, channel = listen_target(uri)
        ListenHub.validate(channel)
        db = self.databases.get(database)
        if uri != listen_uri(db.name, channel):  # NOTIFYs are announced under this one spelling
            raise UserError(
                f"Subscribe to {listen_uri(db.name, channel)} (the channel name percent-encoded).",
                hint="Updates are sent under that URI only.",
            )
        hub = self.hub(db.name)
        if len(hub.recent) >= hub.max_channels and channel not in hub.recent:
            raise UserError(
                f"Already listening on {len(hub.recent)} channels of database {db.name!r}, the limit.",
                hint="Unsubscribe from a channel first.",
            )
        async with db.connection():  # applies --strict, and says so now rather than at the first NOTIFY
            pass

    async def read(self, database: str, channel: str) -> ListenHub:
        """The hub of `database`, listening on `channel` from now on (its recent NOTIFYs are kept to read)."""
        hub = self.hub(database)
        await hub.listen(channel)
        self.read_channels.add(listen_uri(hub.db.name, channel))
        return hub

    async def watch(self, uri: str) -> None:
        """LISTEN on the channel of `uri` (the first watcher arrived)."""
        database, channel = listen_target(uri)
        await self.hub(database).listen(channel)

    async def unwatch(self, uri: str) -> None:
        """UNLISTEN the channel of `uri` (the last watcher left), unless a client reads it as a resource."""
        database, channel = listen_target(uri)
        name = self.databases.get(database).name
        if name in self.hubs and listen_uri(name, channel) not in self.read_channels:
            await self.hubs[name].unlisten(channel)
