"""A small server for the OAuth tests: one read tool that says who is calling, one write tool.

Run as a script (`python tests/oauth_server.py --transport streamable-http --oauth-issuer …`).
"""

from __future__ import annotations

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context

from patchbay_common.app import PatchbayServer, serve
from patchbay_common.principals import principal_key
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_common.toolsets import Toolset

tools = Toolset("oauth", "Who is calling, and a note that needs write access.")
notes: dict[object, list[str]] = {}


class Settings(CommonSettings):
    """OAuth test server."""

    model_config = settings_config("oauth-test")


@tools.tool()
async def whoami(deps: None, ctx: Context) -> str:
    """Say which principal this call belongs to and the scopes of its token."""
    token = get_access_token()
    scopes = " ".join(sorted(token.scopes)) if token is not None else "-"
    return f"principal={principal_key(ctx)!r} scopes={scopes} notes={notes.get(principal_key(ctx), [])}"


@tools.tool(access="write")
async def remember(deps: None, text: str, ctx: Context) -> str:
    """Keep a note for the calling principal."""
    notes.setdefault(principal_key(ctx), []).append(text)
    return f"kept {text!r}"


def build(settings: Settings) -> PatchbayServer:
    """The server with both tools granted (the token's scopes decide who may call which)."""
    mcp = PatchbayServer("patchbay-oauth-test", version="0.0.1", settings=settings)
    mcp.add_toolset(tools, None, access={"read", "write"})
    return mcp


if __name__ == "__main__":
    serve(build, Settings)
