"""Client roots through a real client: an empty roots/list narrows nothing; a disjoint one leaves nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp_types import ListRootsResult, Root
from structlog.testing import capture_logs

from patchbay_common.app import PatchbayServer
from patchbay_common.client_roots import AllowedRoots
from patchbay_common.roots import Roots
from patchbay_common.testing.clients import ERAS, Era, connect

pytestmark = pytest.mark.anyio


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "f.txt").write_text(f"in {d.name}")
    (tmp_path / "elsewhere").mkdir()
    return a, b


def _server(a: Path, b: Path) -> PatchbayServer:
    server = PatchbayServer("t", version="0", roots=Roots([a, b]))

    @server.tool()
    async def read(path: str, roots: AllowedRoots) -> str:
        """Read a file."""
        return roots.read_bytes(path).decode()

    @server.tool()
    async def allowed(roots: AllowedRoots) -> str:
        """The allowed directories of this call."""
        return "\n".join(roots.directories) or "(none)"

    return server


def _answering(roots: list[str]) -> Callable[[Any], Awaitable[ListRootsResult]]:
    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=uri) for uri in roots])  # type: ignore[arg-type]

    return list_roots


def _text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


@pytest.mark.parametrize("era", ERAS)
async def test_an_empty_listing_narrows_nothing_but_a_disjoint_one_leaves_nothing(
    dirs: tuple[Path, Path], era: Era
) -> None:
    a, b = dirs
    server = _server(a, b)
    with capture_logs() as logs:
        async with connect(server, era=era, list_roots=_answering([])) as client:
            for _ in range(3):
                for d in (a, b):
                    read = await client.call_tool("read", {"path": str(d / "f.txt")})
                    assert not read.is_error and _text(read) == f"in {d.name}", _text(read)
            assert _text(await client.call_tool("allowed", {})).splitlines() == [str(a), str(b)]
        async with connect(server, era=era, list_roots=_answering([])) as client:  # a second client
            assert not (await client.call_tool("read", {"path": str(a / "f.txt")})).is_error
    told = [entry for entry in logs if "listed no roots" in entry["event"]]
    assert len(told) == 1 and told[0]["directories"] == [str(a), str(b)], told

    elsewhere = a.parent / "elsewhere"
    async with connect(server, era=era, list_roots=_answering([f"file://{elsewhere}"])) as client:
        for d in (a, b):
            denied = await client.call_tool("read", {"path": str(d / "f.txt")})
            assert denied.is_error and "client's roots do not overlap" in _text(denied), _text(denied)
        assert _text(await client.call_tool("allowed", {})) == "(none)"
    async with connect(server, era=era, list_roots=_answering([f"file://{a}"])) as client:
        assert not (await client.call_tool("read", {"path": str(a / "f.txt")})).is_error
        assert (await client.call_tool("read", {"path": str(b / "f.txt")})).is_error
