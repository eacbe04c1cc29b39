"""The installed console script: over stdio and streamable HTTP, its start-up errors, and its environment."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from patchbay_common.testing.clients import Launch, connect, http_server
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio


async def test_stdio_both_eras(allowed: Path, base: Path) -> None:
    launch = Launch("patchbay-filesystem", [str(allowed), "--allow-write"])
    async with connect(launch, era="legacy") as client:
        assert {t.name for t in (await client.list_tools()).tools} >= {"read_text_file", "write_file"}
        wrote = await client.call_tool(
            "write_file", {"path": str(allowed / "via-stdio.txt"), "content": "ok"}
        )
        assert not wrote.is_error
        denied = await client.call_tool("read_text_file", {"path": str(base / "outside" / "secret.txt")})
        assert denied.is_error and "outside the allowed directories" in text(denied)
    assert (allowed / "via-stdio.txt").read_text() == "ok"
    async with connect(Launch("patchbay-filesystem", [str(allowed)]), era="modern") as client:
        read = await client.call_tool("read_text_file", {"path": str(allowed / "hello.txt"), "tail": 1})
        assert text(read) == "world\n"


async def test_directories_from_the_environment(allowed: Path, base: Path) -> None:
    launch = Launch(
        "patchbay-filesystem", [], {"PATCHBAY_FILESYSTEM_DIRECTORIES": f"{allowed}:{base / 'outside'}"}
    )
    async with connect(launch) as client:
        dirs = text(await client.call_tool("list_allowed_directories", {}))
    assert str(allowed) in dirs and str(base / "outside") in dirs


async def test_streamable_http(allowed: Path) -> None:
    with http_server(Launch("patchbay-filesystem", [str(allowed)])) as server:
        async with connect(server, era="legacy") as client:
            found = await client.call_tool("search_content", {"path": str(allowed), "pattern": "TODO"})
            assert "guide.md" in text(found)
        async with connect(server, era="modern") as client:
            tree = await client.call_tool("directory_tree", {"path": str(allowed / "src")})
            assert '"util.py"' in text(tree)


def test_no_usable_directory_exits_2_with_one_line(base: Path) -> None:
    done = subprocess.run(
        ["patchbay-filesystem", str(base / "missing")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("patchbay-filesystem: error: no usable directory")
    assert f"{base}/missing does not exist" in last
    some = subprocess.run(
        ["patchbay-filesystem", str(base / "missing"), str(base / "gone")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert some.returncode == 2 and "pass at least one existing directory" in some.stderr


def test_a_missing_directory_is_reported_and_the_rest_served(allowed: Path, base: Path) -> None:
    proc = subprocess.Popen(
        ["patchbay-filesystem", str(base / "gone"), str(allowed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = proc.communicate(b"", timeout=30)  # stdin closed at once: the server starts, then exits
    assert proc.returncode == 0
    assert b"allowed directory skipped" in err and f"{base}/gone".encode() in err and b"does not exist" in err
