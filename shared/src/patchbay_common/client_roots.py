"""The roots a tool call may use: the operator's directories, narrowed by the client's roots.

A tool that touches files declares a parameter `roots: AllowedRoots`. The SDK fills it before the tool
runs (it is not part of the tool's input schema): the server's operator `Roots`, narrowed by the client's
`roots/list` when the client has the roots capability. This works in both protocol eras through the SDK's
resolver mechanism; on handshake-era connections the listing is cached per connection and dropped when
the client sends `notifications/roots/list_changed`.

An empty listing (`roots: []`, what mcp-use and some other clients send by default) narrows nothing: the
client declares the capability but names no roots, so the operator's directories apply, as in the official
filesystem server; the server logs this once. A listing that names roots narrows to what they share with
the operator's directories, and one that shares nothing leaves no directory at all.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Annotated, Any

from mcp.server.mcpserver import Context, ListRoots, Resolve
from mcp_types import ListRootsResult
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from patchbay_common.connections import connection_of
from patchbay_common.logs import get_logger
from patchbay_common.roots import Roots

__all__ = ["AllowedRoots", "ClientRootsCache"]


class ClientRootsCache:
    """Per-connection `roots/list` results, and the narrowed `Roots` each listing produces."""

    def __init__(self) -> None:
        self._listings: weakref.WeakKeyDictionary[Any, ListRootsResult] = weakref.WeakKeyDictionary()
        self._narrowed: OrderedDict[tuple[int, tuple[str, ...]], Roots] = OrderedDict()
        self._told_empty = False

    @staticmethod
    def connection_key(ctx: Context[Any, Any]) -> Any | None:
        """The object that lives as long as the client's connection (handshake era), or None."""
        if ctx.protocol_version not in HANDSHAKE_PROTOCOL_VERSIONS:
            return None
        return connection_of(ctx)

    def listing(self, ctx: Context[Any, Any]) -> ListRootsResult | None:
        """The cached listing for this connection, if any."""
        key = self.connection_key(ctx)
        return None if key is None else self._listings.get(key)

    def remember(self, ctx: Context[Any, Any], listing: ListRootsResult) -> None:
        """Keep this connection's listing until the client says its roots changed."""
        key = self.connection_key(ctx)
        if key is not None:
            self._listings[key] = listing

    def forget(self, ctx: Any) -> None:
        """Drop the listing of the connection `ctx` belongs to."""
        self._listings.pop(connection_of(ctx), None)

    def narrowed(self, operator: Roots, listing: ListRootsResult) -> Roots:
        """`operator` narrowed by `listing`, reused while the same listing comes back.

        An empty listing narrows nothing (see the module docstring) and is logged once.
        """
        if not listing.roots:
            if not self._told_empty:
                self._told_empty = True
                get_logger("patchbay.roots").info(  # a logger made here: this line is written once
                    "a client listed no roots: that narrows nothing, the allowed directories apply",
                    directories=operator.directories,
                )
            return operator
        uris = tuple(sorted(str(root.uri) for root in listing.roots))
        key = (id(operator), uris)
        found = self._narrowed.get(key)
        if found is None:
            found = operator.narrowed(uris)
            self._narrowed[key] = found
            while len(self._narrowed) > 64:
                self._narrowed.popitem(last=False)
        return found


def _cache(ctx: Context[Any, Any]) -> ClientRootsCache:
    cache = getattr(ctx.mcp_server, "client_roots_cache", None)
    if not isinstance(cache, ClientRootsCache):
        raise RuntimeError("AllowedRoots needs a PatchbayServer created with roots=...")
    return cache


# Both resolvers are `async def` on purpose: the SDK runs a plain `def` resolver in a worker thread, and
# two thread hops per tool call cost more than the call itself on a small file read.
async def _ask_client(ctx: Context[Any, Any]) -> ListRoots | ListRootsResult | None:
    caps = ctx.client_capabilities
    if caps is None or caps.roots is None:
        return None
    return _cache(ctx).listing(ctx) or ListRoots()


async def _allowed(
    ctx: Context[Any, Any], listing: Annotated[ListRootsResult | None, Resolve(_ask_client)]
) -> Roots:
    operator = getattr(ctx.mcp_server, "roots", None)
    if not isinstance(operator, Roots):
        raise RuntimeError("AllowedRoots needs a PatchbayServer created with roots=...")
    if listing is None:
        return operator
    cache = _cache(ctx)
    cache.remember(ctx, listing)
    return cache.narrowed(operator, listing)


AllowedRoots = Annotated[Roots, Resolve(_allowed)]
"""A tool parameter type: the `Roots` this call may touch. Filled by the SDK, hidden from the model."""
