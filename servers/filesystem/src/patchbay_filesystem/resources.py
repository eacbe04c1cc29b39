"""The file resource template and its change notifications, on the layer's one subscription service.

Files are readable as `file:///{+path}`. Subscriptions (`resources/subscribe` in the handshake era,
`subscriptions/listen` in 2026-07-28) are served by `mcp.subscriptions(...)` with three hooks: `check`
resolves the URI through the roots module, narrowed by the client's roots where the connection has them,
and through the operator's rules; `acquire` starts watching the file's directory when the first watcher of
a URI arrives and `release` stops when the last one leaves. A change is published to every watcher.

File text is returned as it is on disk, unframed, like `read_text_file` (see reading.py).
"""

from __future__ import annotations

import stat
from typing import Any

from mcp.server.mcpserver import Context
from mcp_types import InputRequiredResult, ListRootsRequest, ListRootsResult

from patchbay_common.app import PatchbayServer
from patchbay_common.errors import AccessDenied, UserError
from patchbay_common.limits import human_size
from patchbay_common.roots import Roots
from patchbay_common.subscriptions import Subscriptions
from patchbay_common.untrusted import sanitize
from patchbay_filesystem.deps import Deps, in_thread, readable
from patchbay_filesystem.watch import FileWatcher

__all__ = ["FileResources", "register_resources"]

_ROOTS_INPUT = "client_roots"  # the key of our roots/list request in a 2026-era InputRequiredResult
_COMPLETE_MAX = 100  # values offered at once (the layer caps there too, and says there are more)


class FileResources:
    """The file resource template, its subscriptions, and the watcher that feeds them."""

    def __init__(self, mcp: PatchbayServer, deps: Deps) -> None:
        self.mcp = mcp
        self.deps = deps
        self._checked: dict[str, str] = {}
        """The path each URI named when it was last checked: client-only servers have no operator roots."""
        self.watcher = FileWatcher(self._changed)
        self.subscriptions: Subscriptions = mcp.subscriptions(
            check=self.check, acquire=self.acquire, release=self.release
        )

    async def roots_for(self, ctx: Any) -> Roots:
        """The operator's roots, narrowed by the client's roots (handshake era: asked once per connection)."""
        cache = self.mcp.client_roots_cache
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
        caps = ctx.session.client_capabilities
        if listing is None and cache.client_only and caps is not None and caps.roots is not None:
            raise AccessDenied(  # 2026 era: no back-channel to ask on, outside tool calls and reads
                "This server was started without a directory and serves your client's roots; a 2026-07-28 "
                "client sends them only with tool calls and resource reads, so this request cannot see them.",
                hint="Use the tools (read_text_file, list_directory), or start the server with a directory.",
            )
        return cache.allowed(self.deps.roots, listing)

    def _asked_roots(self, ctx: Any) -> ListRootsResult | InputRequiredResult | None:
        """A 2026-era read on a client-only server: the roots the client answered, or the request for them.

        Tools get the client's roots through the SDK's resolvers in both eras; resources have no resolvers,
        so a resource read asks for them itself with an `InputRequiredResult` (the client answers and
        retries the read). None: not needed (handshake era, operator directories, or no roots capability).
        """
        cache = self.mcp.client_roots_cache
        caps = ctx.client_capabilities
        stateless = cache.connection_key(ctx) is None
        if not cache.client_only or not stateless or caps is None or caps.roots is None:
            return None
        answer = (ctx.input_responses or {}).get(_ROOTS_INPUT)
        if answer is None:
            return InputRequiredResult(input_requests={_ROOTS_INPUT: ListRootsRequest()})
        wire = answer.model_dump(mode="json", by_alias=True, exclude_none=True)
        return ListRootsResult.model_validate(wire)

    async def read(self, path: str, ctx: Context) -> str | bytes | InputRequiredResult:
        """The file at `/path` as UTF-8 text, or its bytes when it is not text."""
        asked = self._asked_roots(ctx)
        if isinstance(asked, InputRequiredResult):
            return asked
        cache = self.mcp.client_roots_cache
        allowed = cache.allowed(self.deps.roots, asked) if asked is not None else await self.roots_for(ctx)
        max_bytes = self.deps.max_media_bytes

        def work() -> str | bytes:
            canonical, info = readable(self.deps.policy, allowed, "/" + path)
            if not stat.S_ISREG(info.st_mode):
                raise UserError(f"{canonical} is not a regular file.")
            if info.st_size > max_bytes:
                raise UserError(f"{canonical} is larger than {human_size(max_bytes)}.")
            data = allowed.read_bytes("/" + path, max_bytes)
            try:
                return data.decode("utf-8") if b"\x00" not in data[:8192] else data
            except UnicodeDecodeError:
                return data

        return await in_thread(work)

    def _path(self, roots: Roots, uri: str) -> str:
        """The canonical path a `file://` URI names, if readable under `roots` (it need not exist yet)."""
        if not uri.startswith("file://"):
            raise UserError(f"Only file:// URIs can be subscribed to here, not {uri}.")
        with roots.locate(uri, missing_ok=True) as loc:
            canonical = loc.path
        self.deps.policy.check_read(canonical)
        return canonical

    async def check(self, ctx: Any, uri: str) -> None:
        """Refuse a URI this client may not read (outside its roots, or hidden by a rule)."""
        allowed = await self.roots_for(ctx)
        try:
            self._checked[uri] = await in_thread(self._path, allowed, uri)
        except UserError as exc:
            # Its text may name a path the disk chose (a link's target); the subscription service passes
            # refusals on as they are, unlike the tool and resource pipelines, which sanitize them.
            raise UserError(sanitize(str(exc))) from None

    async def acquire(self, uri: str) -> None:
        """Start watching the file a URI names (its first watcher arrived; `check` passed for it)."""
        path = self._checked.get(uri)
        if path is None:
            path = await in_thread(self._path, self.deps.roots, uri)
        self.watcher.add(uri, uri, path)

    async def release(self, uri: str) -> None:
        """Stop watching the file a URI names (its last watcher left)."""
        self.watcher.remove(uri, uri)
        self._checked.pop(uri, None)

    def complete(self, roots: Roots, value: str) -> list[str]:
        """Paths for `file:///{+path}` starting with `value`: the entries of the directory typed so far.

        Only what the tools would show: the directory must be readable under `roots` (the client's roots
        narrow them) and no deny rule may hide it or an entry. A directory outside them offers the allowed
        directories themselves. At most `_COMPLETE_MAX` values, directories ending with `/`.
        """
        head, _, prefix = value.rpartition("/")
        try:
            canonical, info = readable(self.deps.policy, roots, "/" + head)
            if not stat.S_ISDIR(info.st_mode):
                return []
            canonical, entries = roots.list_dir("/" + head)
        except UserError:
            return [d.lstrip("/") + "/" for d in roots.directories]
        folded = prefix.casefold()
        found = []
        for entry in entries:
            is_dir = entry.kind == "directory"
            if not entry.name.casefold().startswith(folded):
                continue
            if not self.deps.policy.empty and self.deps.policy.hidden(f"{canonical}/{entry.name}", is_dir):
                continue
            found.append(f"{head}/{entry.name}" + ("/" if is_dir else ""))
            if len(found) > _COMPLETE_MAX:
                break
        return found

    async def _changed(self, owner: Any, uri: str) -> None:
        await self.subscriptions.publish(uri)


def register_resources(mcp: PatchbayServer, deps: Deps) -> FileResources:
    """Register the `file:///{+path}` template and its subscriptions on `mcp`."""
    resources = FileResources(mcp, deps)

    @mcp.resource(
        "file:///{+path}",
        name="file",
        title="File",
        description="A file inside the allowed directories: UTF-8 text, or base64 bytes for other files.",
        mime_type="application/octet-stream",
    )
    async def file_resource(path: str, ctx: Context) -> str | bytes | InputRequiredResult:
        return await resources.read(path, ctx)

    @mcp.complete("file:///{+path}", "path")
    async def complete_path(value: str, arguments: dict[str, str], ctx: Any) -> list[str]:
        allowed = await resources.roots_for(ctx)
        return await in_thread(resources.complete, allowed, value)

    return resources
