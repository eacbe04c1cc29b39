"""Small helpers shared by the tests: build a server from flags, call a tool, read its text."""

from __future__ import annotations

from typing import Any

from mcp import Client

from patchbay_common.app import PatchbayServer
from patchbay_postgres.server import Settings, build


def server(*argv: str) -> PatchbayServer:
    """A server built from command-line flags, as main() would."""
    return build(Settings(_cli_parse_args=list(argv)))  # type: ignore[call-arg]


async def call(client: Client, tool: str, **arguments: Any) -> tuple[bool, str, Any]:
    """(is_error, text, structured content) of one tool call."""
    result = await client.call_tool(tool, arguments)
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    return bool(result.is_error), text, result.structured_content
