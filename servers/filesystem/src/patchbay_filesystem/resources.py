"""The file resource template and its change notifications: protocol glue around `watch.FileWatcher`.

Files are readable as `file:///{+path}`. Subscriptions arrive as `resources/subscribe` on handshake-era
connections (MCPServer does not register it there, so it is added on the low-level server) and as
`subscriptions/listen` streams on 2026-07-28 ones (the SDK's handler is wrapped to learn which URIs to
watch for as long as the stream lasts). Both resolve the URI through the roots module, narrowed by the
client's roots where the connection has them, and through the operator's rules.
"""

import os
import stat
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated
from mcp_types import INVALID_PARAMS, EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from patchbay_common.app import PatchbayServer
from patchbay_common.connections import connection_of
from patchbay_common.errors import UserError
from patchbay_common.limits import human_size
from patchbay_common.logs import get_logger
from patchbay_common.roots import Roots
from patchbay_filesystem.policy import Policy
from patchbay_filesystem.watch import FileWatcher

__all__ = ["register_resources"]

log = get_logger("patchbay.filesystem.resources")
T = TypeVar("T")


def register_resources(
    mcp: PatchbayServer,
    roots: Roots,
    policy: Policy,
    readable: Callable[[Roots, str], tuple[str, os.stat_result]],
    max_bytes: int,
) -> FileWatcher:
    """Register the `file:///{+path}` template and subscriptions on `mcp`; return the watcher."""

    async def _thread(fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)

    async def roots_for(ctx: Any) -> Roots:
        """The operator's roots, narrowed by the client's roots (handshake era: asked once per connection)."""
        cache = mcp.client_roots_cache
        listing = cache.listing(ctx)
        if listing is None:
            caps = ctx.session.client_capabilities
            if caps is not None and caps.roots is not None and cache.connection_key(ctx) is not None:
                try:
                    listing = await ctx.session.list_roots()
                except Exception:  # no back-channel or the client failed: fall back to the operator bound
                    listing = None
                if listing is not None:
                    cache.remember(ctx, listing)
        return roots if listing is None else cache.narrowed(roots, listing)

    @mcp.resource(
        "file:///{+path}",
        name="file",
        title="File",
        description="A file inside the allowed directories: UTF-8 text, or base64 bytes for other files.",
        mime_type="application/octet-stream",
    )
    async def file_resource(path: str, ctx: Context) -> str | bytes:
        allowed = await roots_for(ctx)

        def work() -> str | bytes:
            canonical, info = readable(allowed, "/" + path)
            if not stat.S_ISREG(info.st_mode):
                raise UserError(f"{canonical} is not a regular file.")
            if info.st_size > max_bytes:
                raise UserError(f"{canonical} is larger than {human_size(max_bytes)}.")
            data = allowed.read_bytes("/" + path, max_bytes)
            try:
                return data.decode("utf-8") if b"\x00" not in data[:8192] else data
            except UnicodeDecodeError:
                return data

        try:
            return await _thread(work)
        except UserError as exc:
            raise ResourceError(str(exc)) from None

    sessions: dict[Hashable, Any] = {}

    async def notify(owner: Hashable, uri: str) -> None:
        try:
            if isinstance(owner, tuple) and owner[:1] == ("listen",):
                await mcp._subscriptions.publish(ResourceUpdated(uri=uri))  # 2026-07-28 listen streams
            else:
                await sessions[owner].send_resource_updated(uri)
        except Exception:  # the client went away: stop watching for it
            log.info("dropping subscriptions of a closed connection", uri=uri)
            watcher.remove_owner(owner)
            sessions.pop(owner, None)

    watcher = FileWatcher(notify)

    async def subscription_path(ctx: Any, uri: str) -> str:
        """The canonical path a `file://` URI names, if this client may read it (it need not exist yet)."""
        allowed = await roots_for(ctx)
        if not uri.startswith("file://"):
            raise MCPError(INVALID_PARAMS, f"Only file:// URIs can be subscribed to here, not {uri}.")

        def work() -> str:
            with allowed.locate(uri, missing_ok=True) as loc:
                canonical = loc.path
            policy.check_read(canonical)
            return canonical

        try:
            return await _thread(work)
        except UserError as exc:
            raise MCPError(INVALID_PARAMS, str(exc)) from None

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        owner = connection_of(ctx)
        path = await subscription_path(ctx, str(params.uri))
        sessions[owner] = ctx.session
        watcher.add(owner, str(params.uri), path)
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        watcher.remove(connection_of(ctx), str(params.uri))
        return EmptyResult()

    lowlevel = mcp._lowlevel_server
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    listen_entry = lowlevel.get_request_handler("subscriptions/listen")
    if listen_entry is not None:
        serve_listen = listen_entry.handler

        async def listen(ctx: Any, params: Any) -> Any:
            owner = ("listen", id(ctx), time.monotonic_ns())
            for uri in params.notifications.resource_subscriptions or []:
                try:
                    watcher.add(owner, uri, await subscription_path(ctx, uri))
                except MCPError as exc:
                    log.info("listen: resource not watched", uri=uri, reason=exc.error.message)
            try:
                return await serve_listen(ctx, params)
            finally:
                watcher.remove_owner(owner)

        lowlevel.add_request_handler("subscriptions/listen", listen_entry.params_type, listen)

    return watcher
