"""Dynamic toolsets: the server lists `find_tools` and `enable_toolset` first, and the model enables the rest.

The tools an operator allowed wait in a `Catalog` unregistered; `enable_toolset` registers a toolset's
tools through the layer (`PatchbayServer.add_spec`, so they get the same declarations, framing and caps as
statically registered ones) the first time anyone enables it, then tells the caller the tool list changed.
Which toolsets are enabled is kept per caller (`patchbay_common.principals.principal_key`: the OAuth
principal, else the handshake-era connection, else the one stateless user): `tools/list` shows each caller
only the toolsets it enabled (a middleware, `Catalog.filter`), `tools/call` refuses the others with how to
enable them, and `notifications/tools/list_changed` goes to the enabling connection only. In the 2026
era the change is published on the `subscriptions/listen` bus only for the one unauthenticated stateless
user (whom every such client is); the bus cannot address one principal, so an authenticated caller learns
the new tools from `enable_toolset`'s answer and its next `tools/list`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ListToolsResult
from pydantic import Field

from patchbay_common import sdk
from patchbay_common.app import PatchbayServer
from patchbay_common.errors import UserError
from patchbay_common.logs import get_logger
from patchbay_common.principals import SINGLE_USER, PerPrincipal, principal_key
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset, ToolSpec
from patchbay_github.deps import Deps
from patchbay_github.toolsets import TOOLSETS, compact_schema

__all__ = ["Catalog", "GitHubServer", "tools"]

log = get_logger("patchbay.github")

ENABLE = "enable"
"""The access `enable_toolset` needs: it changes what this server lists, not anything on GitHub."""


@dataclass(frozen=True)
class Catalog:
    """The toolsets that can be enabled, their waiting tools, and which are enabled now."""

    mcp: PatchbayServer
    deps: Deps
    waiting: dict[str, list[ToolSpec]]  # toolset -> the allowed tools not yet registered
    drop: tuple[str, ...] = ()  # schema properties every tool drops (a lone account)
    allow_unconfirmed: bool = False  # --allow-destructive: merge unasked when the client cannot ask
    enabled: PerPrincipal[set[str]] = field(default_factory=lambda: PerPrincipal(set, max_entries=4096))
    registered: set[str] = field(default_factory=set)  # toolsets whose tools are registered (by anyone)

    def enabled_for(self, ctx: Any) -> set[str]:
        """The toolsets the caller of `ctx` enabled (none yet for a new caller)."""
        return self.enabled.peek(ctx) or set()

    def hidden_for(self, ctx: Any) -> set[str]:
        """Registered tool names the caller of `ctx` has not enabled, to leave out of its `tools/list`."""
        mine = self.enabled_for(ctx)
        return {name for ts in self.registered - mine for name in self.tools_in(ts)}

    async def filter(self, ctx: ServerRequestContext[Any, Any], call_next: Any) -> Any:
        """Middleware: list each caller only the toolsets it enabled."""
        result = await call_next(ctx)
        if ctx.method != "tools/list":
            return result
        hidden = self.hidden_for(ctx)
        if not hidden:
            return result
        if isinstance(result, ListToolsResult):
            return result.model_copy(update={"tools": [t for t in result.tools if t.name not in hidden]})
        if isinstance(result, dict) and isinstance(result.get("tools"), list):
            return {**result, "tools": [t for t in result["tools"] if t.get("name") not in hidden]}
        return result

    def names(self) -> list[str]:
        """Toolsets with at least one allowed tool, in catalogue order."""
        return [name for name in TOOLSETS if self.waiting.get(name)]

    def toolset_of(self, tool: str) -> str | None:
        """The toolset of an allowed tool."""
        return next((ts for ts, specs in self.waiting.items() if any(s.name == tool for s in specs)), None)

    def tools_in(self, toolset: str) -> list[str]:
        """The allowed tool names of a toolset."""
        return [spec.name for spec in self.waiting.get(toolset, [])]

    def search(self, query: str, enabled: set[str] | frozenset[str] = frozenset()) -> list[dict[str, object]]:
        """Toolsets whose name, description or tools match every word of `query` (all when it is empty)."""
        words = [w for w in re.split(r"\W+", query.lower()) if w]
        found = []
        for toolset in self.names():
            specs = self.waiting[toolset]
            described = {s.name: f"{s.name} {s.fn.__doc__ or ''}".lower() for s in specs}
            haystack = " ".join([toolset, TOOLSETS[toolset].description, *described.values()]).lower()
            if all(word in haystack or word.rstrip("s") in haystack for word in words):
                matching = [name for name, text in described.items() if any(w in text for w in words)]
                found.append(
                    {
                        "toolset": toolset,
                        "description": TOOLSETS[toolset].description,
                        "enabled": toolset in enabled,
                        "tools": matching or list(described),
                    }
                )
        return found

    def enable(self, toolset: str, ctx: Any = None) -> bool:
        """Enable `toolset` for the caller of `ctx`; False when it had enabled it already.

        The tools are registered through the layer the first time any caller enables the toolset; the
        others keep not seeing them (`filter`) until they enable it too.
        """
        mine = self.enabled.get(ctx)
        if toolset in mine:
            return False
        mine.add(toolset)
        if toolset in self.registered:
            return True
        self.registered.add(toolset)
        for spec in self.waiting.get(toolset, []):
            self.mcp.add_spec(spec, self.deps, allow_unconfirmed=self.allow_unconfirmed)
            registered = sdk.registered_tool(self.mcp, spec.name)
            if registered is not None:
                compact_schema(registered.parameters, self.drop)
        return True


class GitHubServer(PatchbayServer):
    """PatchbayServer that says how to enable the toolset of a tool not registered yet."""

    catalog: Catalog | None = None

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> Any:
        """Refuse a tool whose toolset is not enabled yet, saying how to enable it."""
        catalog = self.catalog
        toolset = catalog.toolset_of(name) if catalog is not None else None
        if catalog is not None and toolset is not None and toolset not in catalog.enabled_for(context):
            raise ToolError(
                f"{name} belongs to the toolset '{toolset}', which is not enabled. "
                f"Call enable_toolset with toolset='{toolset}', then call {name} again."
            )
        return await super().call_tool(name, arguments, context)


tools = Toolset("dynamic", "Find and enable toolsets at run time.")


@tools.tool()
async def find_tools(
    deps: Catalog,
    ctx: Context,
    query: Annotated[str, Field(description="Words to look for, e.g. 'workflow logs'; '' lists all.")] = "",
) -> Reply:
    """Search the toolsets that can be enabled; return matches with their tools and state."""
    return deps.deps.answer({"toolsets": deps.search(query, deps.enabled_for(ctx))})


@tools.tool(access=ENABLE, idempotent=True)
async def enable_toolset(
    deps: Catalog,
    toolset: Annotated[str, Field(description="Toolset name from find_tools.")],
    ctx: Context,
) -> Reply:
    """Enable a toolset so its tools are listed and callable; return the tools it adds."""
    names = deps.names()
    if toolset not in names:
        raise UserError(f"There is no toolset {toolset!r}.", hint=f"Pass one of: {', '.join(names)}.")
    added = deps.enable(toolset, ctx)
    if added:
        log.info("toolset enabled", toolset=toolset)
        await _announce(ctx)
    return deps.deps.answer({"toolset": toolset, "newly_enabled": added, "tools": deps.tools_in(toolset)})


async def _announce(ctx: Context) -> None:
    """Tell the caller (only) its tool list changed, in whichever era it speaks."""
    try:
        await ctx.session.send_tool_list_changed()
    except Exception as exc:  # a 2026-era request without a back channel
        log.debug("tools/list_changed not sent on this connection", error=str(exc))
    if principal_key(ctx) != SINGLE_USER:
        return  # the listen bus reaches every principal's streams; theirs did not change
    try:
        await ctx.notify_tools_changed()
    except Exception as exc:
        log.debug("tools list change not published", error=str(exc))
