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

A server may instead be started with no directory and mark its cache `client_only` (patchbay-filesystem
does when given none): the client's roots are then the outer bound, opened by the roots module exactly as
operator directories are (links resolved at open, every later path checked against them), so every roots
guarantee holds against them. A root that is not a `file://` URI of an existing directory is ignored with
a note, and so is `/` (the whole machine is an operator's choice: start the server with `/`). Until the
client lists at least one usable root, every call is refused with a text that says what to do.
"""

from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, ListRoots, Resolve
from mcp_types import ListRootsResult
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from patchbay_common.connections import connection_of
from patchbay_common.errors import AccessDenied
from patchbay_common.logs import get_logger
from patchbay_common.roots import Roots, path_from_uri

__all__ = ["NO_CLIENT_ROOTS", "AllowedRoots", "ClientRootsCache", "usable_client_roots"]

NO_CLIENT_ROOTS = (
    "This server was started without a directory: it serves the folders your MCP client shares as roots, "
    "and {what}."
)
_WHAT_TO_DO = (
    "Add a root (a workspace or project folder) in the client, or start the server with a directory, e.g. "
    "patchbay-filesystem ~/projects."
)


def usable_client_roots(uris: list[str]) -> tuple[list[str], list[str]]:
    """The client's roots that can be an outer bound (canonical paths), and a note for each one ignored.

    Only `file://` URIs (or absolute paths) of existing directories count; `/` is refused, since serving
    the whole machine is for the operator to choose, by starting the server with `/`.
    """
    usable: list[str] = []
    notes: list[str] = []
    for uri in uris:
        try:
            path = path_from_uri(uri)
        except AccessDenied as exc:
            notes.append(f"{uri} ignored: {exc.message}")
            continue
        if not os.path.isabs(path):
            notes.append(f"{uri} ignored: not an absolute file:// URI")
            continue
        real = os.path.realpath(os.path.normpath(path))
        if not os.path.exists(real):
            notes.append(f"{uri} ignored: it does not exist")
        elif not os.path.isdir(real):
            notes.append(f"{uri} ignored: it is not a directory")
        elif os.path.dirname(real) == real:
            notes.append(
                f"{uri} ignored: it is the whole file system (start the server with / to allow that)"
            )
        elif real not in usable:
            usable.append(real)
    return usable, notes


class ClientRootsCache:
    """Per-connection `roots/list` results, and the narrowed `Roots` each listing produces."""

    def __init__(self) -> None:
        self._listings: weakref.WeakKeyDictionary[Any, ListRootsResult] = weakref.WeakKeyDictionary()
        self._narrowed: OrderedDict[tuple[int, tuple[str, ...]], Roots] = OrderedDict()
        self._told_empty = False
        self.client_only = False
        """No operator directory: the client's roots are the outer bound (see the module docstring)."""
        self.on_client_roots: Callable[[list[str]], None] | None = None
        """Called with the directories of each new client-only bound (patchbay-filesystem's rules use it)."""
        self._client_bounds: OrderedDict[tuple[str, ...], tuple[Roots, list[str]]] = OrderedDict()

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

    def allowed(self, operator: Roots, listing: ListRootsResult | None) -> Roots:
        """The roots a call may use: the operator's narrowed by the listing, or (client-only) the listing.

        Raises:
            AccessDenied: client-only, and the client shares no usable root (or cannot share roots at all).
        """
        if not self.client_only:
            return operator if listing is None else self.narrowed(operator, listing)
        if listing is None:
            raise AccessDenied(
                NO_CLIENT_ROOTS.format(what="this client does not offer roots (no roots capability)"),
                hint=_WHAT_TO_DO,
            )
        uris = tuple(sorted(str(root.uri) for root in listing.roots))
        found = self._client_bounds.get(uris)
        if found is None:
            directories, notes = usable_client_roots(list(uris))
            for note in notes:
                get_logger("patchbay.roots").warning("client root ignored", note=note)
            try:
                bound = Roots(directories)
            except ValueError as exc:  # a directory went away since it was checked
                notes.append(str(exc))
                bound = Roots([d for d in directories if os.path.isdir(d)])
            directories = bound.directories
            found = (bound, notes)
            if directories and self.on_client_roots is not None:
                self.on_client_roots(directories)
            self._client_bounds[uris] = found
            while len(self._client_bounds) > 64:
                self._client_bounds.popitem(last=False)
        roots, notes = found
        if not roots.directories:
            what = "the client lists no roots" if not uris else "none of the client's roots can be used"
            detail = f" ({'; '.join(notes)})" if notes else ""
            raise AccessDenied(NO_CLIENT_ROOTS.format(what=what) + detail, hint=_WHAT_TO_DO)
        return roots

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
    cache = _cache(ctx)
    if listing is not None:
        cache.remember(ctx, listing)
    return cache.allowed(operator, listing)


AllowedRoots = Annotated[Roots, Resolve(_allowed)]
"""A tool parameter type: the `Roots` this call may touch. Filled by the SDK, hidden from the model."""
