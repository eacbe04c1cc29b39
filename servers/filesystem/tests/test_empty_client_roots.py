"""A client that answers roots/list with [] (mcp-use does by default) keeps the command-line directories.

A real client in the handshake era, in process and over stdio; the file resource follows the same rule.
A non-empty list that shares nothing with the operator's directories still leaves none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ListRootsResult, Root, TextResourceContents

from patchbay_common.testing.clients import Launch, connect
from patchbay_filesystem.server import Settings, build

pytestmark = pytest.mark.anyio


def text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def answering(*uris: str) -> Any:
    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=uri) for uri in uris])  # type: ignore[arg-type]

    return list_roots


@pytest.mark.parametrize("transport", ["memory", "stdio"])
async def test_empty_roots_keep_the_directories_and_disjoint_roots_leave_none(
    allowed: Path, base: Path, transport: str
) -> None:
    target: Any = (
        build(Settings(_cli_parse_args=[str(allowed)]))  # type: ignore[call-arg]
        if transport == "memory"
        else Launch("patchbay-filesystem", [str(allowed)])
    )
    async with connect(target, era="legacy", list_roots=answering()) as client:
        dirs = text(await client.call_tool("list_allowed_directories", {}))
        assert dirs.splitlines()[:2] == ["Allowed directories:", str(allowed)], dirs
        read = await client.call_tool("read_text_file", {"path": str(allowed / "hello.txt")})
        assert not read.is_error and text(read) == "hello\nworld\n", text(read)
        found = await client.call_tool("search_content", {"path": str(allowed), "pattern": "TODO"})
        assert not found.is_error and "guide.md" in text(found)
        resource = (await client.read_resource(f"file://{allowed}/hello.txt")).contents[0]
        assert isinstance(resource, TextResourceContents) and resource.text == "hello\nworld\n"
        outside = await client.call_tool("read_text_file", {"path": str(base / "outside" / "secret.txt")})
        assert outside.is_error and "secret" not in text(outside).split("outside the allowed")[-1]

    async with connect(target, era="legacy", list_roots=answering(f"file://{base}/outside")) as client:
        dirs = text(await client.call_tool("list_allowed_directories", {}))
        assert "(none: the client's roots do not overlap" in dirs
        refused = await client.call_tool("read_text_file", {"path": str(allowed / "hello.txt")})
        assert refused.is_error and "client's roots do not overlap" in text(refused)


async def test_a_client_that_changes_from_empty_to_some_roots_is_narrowed(allowed: Path) -> None:
    current: list[Root] = []

    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=list(current))

    server = build(Settings(_cli_parse_args=[str(allowed)]))  # type: ignore[call-arg]
    async with Client(server, mode="legacy", list_roots_callback=list_roots) as client:
        assert not (await client.call_tool("read_text_file", {"path": str(allowed / "hello.txt")})).is_error
        current.append(Root(uri=f"file://{allowed}/src"))  # type: ignore[arg-type]
        await client.send_roots_list_changed()
        await anyio.sleep(0.05)
        narrowed = await client.call_tool("read_text_file", {"path": str(allowed / "hello.txt")})
        assert narrowed.is_error and "outside the allowed directories" in text(narrowed)
        kept = await client.call_tool("read_text_file", {"path": str(allowed / "src" / "main.py")})
        assert not kept.is_error
