"""Resource subscriptions in both protocol eras, kept in one place for every server.

Handshake-era clients send `resources/subscribe` / `resources/unsubscribe` (MCPServer does not serve them,
so this service registers them); 2026-07-28 clients open `subscriptions/listen` streams naming the URIs
(the SDK serves them; this service wraps its handler to learn which URIs are wanted and for how long). A
server supplies three hooks:

- `check(ctx, uri)`: may this client watch this URI? Raise `UserError` to refuse (one error code for all:
  JSON-RPC -32602 with the text);
- `acquire(uri)` / `release(uri)`: called when the first watcher of a URI arrives and when the last one
  leaves (start and stop a file watcher, a LISTEN, a keyspace subscription).

Per-connection state is keyed on the client's connection and dropped when the connection closes (the SDK's
per-connection exit stack), and also when a send to it fails. A server started `--stateless` (no
back-channel for handshake-era clients) does not register `resources/subscribe`, so it is not advertised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated
from mcp_types import (
    INVALID_PARAMS,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)

from patchbay_common import sdk
from patchbay_common.errors import UserError
from patchbay_common.logs import get_logger
from patchbay_common.results import cap_error

__all__ = ["Subscriptions"]

log = get_logger("patchbay.subscriptions")

Check = Callable[[Any, str], Awaitable[None]]
Hook = Callable[[str], Awaitable[None]]


async def _nothing(_: str) -> None:
    return None


async def _anything(_: Any, __: str) -> None:
    return None


class Subscriptions:
    """Who watches which resource, in both eras, with acquire/release hooks per URI."""

    def __init__(
        self,
        server: MCPServer[Any],
        *,
        check: Check = _anything,
        acquire: Hook = _nothing,
        release: Hook = _nothing,
        legacy: bool = True,
    ) -> None:
        self.server = server
        self.check = check
        self.acquire = acquire
        self.release = release
        self.watchers: dict[str, int] = {}  # uri -> number of watchers (both eras)
        self.sessions: dict[Any, tuple[Any, set[str]]] = {}  # connection -> (a session on it, its uris)
        if legacy:
            sdk.add_request_handler(server, "resources/subscribe", SubscribeRequestParams, self._subscribe)
            sdk.add_request_handler(
                server, "resources/unsubscribe", UnsubscribeRequestParams, self._unsubscribe
            )
        listen = sdk.request_handler(server, "subscriptions/listen")
        if listen is not None:
            self._serve_listen = listen
            sdk.add_request_handler(
                server, "subscriptions/listen", SubscriptionsListenRequestParams, self._listen
            )

    # --- counting ------------------------------------------------------------------------------------------

    async def _add(self, uri: str) -> None:
        count = self.watchers.get(uri, 0)
        if count == 0:
            await self.acquire(uri)
        self.watchers[uri] = count + 1

    async def _remove(self, uri: str) -> None:
        count = self.watchers.get(uri, 0) - 1
        if count > 0:
            self.watchers[uri] = count
            return
        self.watchers.pop(uri, None)
        if count == 0:
            await self.release(uri)

    async def _checked(self, ctx: Any, uri: str) -> None:
        try:
            await self.check(ctx, uri)
        except UserError as exc:
            raise MCPError(INVALID_PARAMS, cap_error(str(exc))) from None

    # --- handshake era -------------------------------------------------------------------------------------

    async def _subscribe(self, ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        uri = str(params.uri)
        await self._checked(ctx, uri)
        connection = sdk.connection_of(ctx)
        entry = self.sessions.get(connection)
        if entry is None:
            entry = (ctx.session, set())
            self.sessions[connection] = entry
            stack = getattr(connection, "exit_stack", None)
            if stack is not None:
                stack.push_async_callback(self._drop, connection)
        if uri not in entry[1]:
            try:  # a failing acquire leaves nothing recorded: subscribing again retries it
                await self._add(uri)
            except UserError as exc:
                raise MCPError(INVALID_PARAMS, cap_error(str(exc))) from None
            entry[1].add(uri)
        return EmptyResult()

    async def _unsubscribe(self, ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        uri = str(params.uri)
        entry = self.sessions.get(sdk.connection_of(ctx))
        if entry is not None and uri in entry[1]:
            entry[1].discard(uri)
            await self._remove(uri)
        return EmptyResult()

    async def _drop(self, connection: Any) -> None:
        """Forget a connection that closed (or stopped answering) and release what it watched."""
        entry = self.sessions.pop(connection, None)
        if entry is None:
            return
        for uri in entry[1]:
            await self._remove(uri)

    # --- 2026-07-28 era ------------------------------------------------------------------------------------

    async def _listen(self, ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
        wanted: list[str] = []
        for uri in params.notifications.resource_subscriptions or []:
            try:
                await self.check(ctx, uri)
            except UserError as exc:
                log.info("listen: resource not watched", uri=uri, reason=cap_error(str(exc), 300))
                continue
            wanted.append(uri)
        added: list[str] = []
        try:
            for uri in wanted:
                await self._add(uri)
                added.append(uri)
            return await self._serve_listen(ctx, params)
        finally:
            for uri in added:
                await self._remove(uri)

    # --- publishing ----------------------------------------------------------------------------------------

    def watched(self, uri: str) -> bool:
        """Whether anyone watches `uri` now."""
        return uri in self.watchers

    async def publish(self, uri: str) -> None:
        """Tell every watcher of `uri`, in both eras, that it changed."""
        for connection, (session, uris) in list(self.sessions.items()):
            if uri not in uris:
                continue
            try:
                await session.send_resource_updated(uri)
            except Exception:  # the client went away without closing cleanly
                log.info("dropping the subscriptions of a closed connection", uri=uri)
                await self._drop(connection)
        await sdk.subscription_bus(self.server).publish(ResourceUpdated(uri=uri))
