"""The server end to end through a real MCP client (in-process), in both protocol eras, on real files."""

from __future__ import annotations

import base64
import os
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import (
    ElicitResult,
    ListRootsResult,
    ResourceUpdatedNotification,
    Root,
    TextResourceContents,
)

from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.results import text
from patchbay_filesystem.server import Settings, build

pytestmark = pytest.mark.anyio

READ_TOOLS = {
    "read_text_file",
    "read_media_file",
    "read_multiple_files",
    "list_directory",
    "list_directory_with_sizes",
    "directory_tree",
    "search_files",
    "search_content",
    "get_file_info",
    "list_allowed_directories",
}
WRITE_TOOLS = {"write_file", "edit_file", "create_directory", "move_file", "copy_file"}


def make(*args: str) -> Any:
    return build(Settings(_cli_parse_args=list(args)))  # type: ignore[call-arg]


_CLOSING = re.compile(r"^</untrusted-data-[0-9a-f]{16}>$", re.MULTILINE)


def framed(result: Any) -> tuple[str, str]:
    """The outside content inside a result's frame, and our own note after it."""
    shown = text(result)
    assert shown.startswith("<untrusted-data-"), shown
    rest = shown.split("\n", 2)[2]  # after the opening line and the "data, not instructions" line
    closing = _CLOSING.search(rest)
    assert closing is not None, shown
    return rest[: closing.start()].removesuffix("\n"), rest[closing.end() :].removeprefix("\n")


def body(result: Any) -> str:
    """The outside content inside a result's frame."""
    return framed(result)[0]


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    return await client.call_tool(tool, arguments)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` with its bytes (links as their target), to prove nothing changed."""
    found: dict[str, bytes] = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            full = Path(root) / name
            rel = str(full.relative_to(directory))
            if full.is_symlink():
                found[rel] = b"-> " + os.readlink(full).encode()
            elif full.is_file():
                found[rel] = full.read_bytes()
            else:
                found[rel] = b"<dir>"
    return found


# --- listing and annotations ------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_read_only_by_default(allowed: Path, era: Era) -> None:
    async with connect(make(str(allowed)), era=era) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == READ_TOOLS
    for tool in tools.values():
        hints = tool.annotations
        assert hints is not None
        assert (
            hints.read_only_hint is True
            and hints.destructive_hint is False
            and hints.open_world_hint is False
        )
        assert "roots" not in tool.input_schema.get("properties", {})
        assert tool.description and tool.description.isascii()


async def test_write_tools_only_when_enabled(allowed: Path) -> None:
    async with connect(make(str(allowed), "--allow-write")) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == READ_TOOLS | WRITE_TOOLS
    assert tools["write_file"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert tools["write_file"].annotations.idempotent_hint is True  # type: ignore[union-attr]
    assert tools["create_directory"].annotations.destructive_hint is False  # type: ignore[union-attr]
    assert tools["copy_file"].annotations.read_only_hint is False  # type: ignore[union-attr]
    async with connect(make(str(allowed), "--allow-write", "--allow-delete")) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == READ_TOOLS | WRITE_TOOLS | {"delete"}


def test_delete_needs_write() -> None:
    with pytest.raises(ValueError, match="--allow-delete needs --allow-write"):
        make("/tmp", "--allow-delete")


def test_no_usable_directory(base: Path) -> None:
    with pytest.raises(ValueError, match=r"no usable directory.*does not exist"):
        make(str(base / "missing"))
    with pytest.raises(ValueError, match="not a directory"):
        make(str(base / "outside" / "secret.txt"))
    assert make().client_roots_cache.client_only  # no directory: the client's roots (test_client_only.py)


# --- reading ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_read_text_file_windows(allowed: Path, era: Era) -> None:
    (allowed / "long.txt").write_text("".join(f"row {i}\n" for i in range(1, 101)))
    async with connect(make(str(allowed)), era=era) as client:
        whole = await call(client, "read_text_file", path=str(allowed / "hello.txt"))
        assert not whole.is_error and text(whole) == "hello\nworld\n"
        relative = await call(client, "read_text_file", path="hello.txt")
        assert text(relative) == "hello\nworld\n"
        head = await call(client, "read_text_file", path=str(allowed / "long.txt"), head=2)
        assert text(head) == "row 1\nrow 2\n"
        tail = await call(client, "read_text_file", path=str(allowed / "long.txt"), tail=2, line_numbers=True)
        assert text(tail) == "    99\trow 99\n   100\trow 100\n"
        window = await call(client, "read_text_file", path=str(allowed / "long.txt"), offset=50, limit=2)
        assert text(window) == "row 50\nrow 51\n"
        both = await call(client, "read_text_file", path=str(allowed / "long.txt"), head=1, tail=1)
        assert both.is_error and "head and tail cannot be used together" in text(both)
        folder = await call(client, "read_text_file", path=str(allowed / "src"))
        assert folder.is_error and "is a directory" in text(folder) and "list_directory" in text(folder)
        missing = await call(client, "read_text_file", path=str(allowed / "nope.txt"))
        assert missing.is_error and "does not exist" in text(missing)
        bad = await call(client, "read_text_file", path=str(allowed / "hello.txt"), head=0)
        assert bad.is_error


async def test_output_cap_and_continuation(allowed: Path) -> None:
    (allowed / "big.txt").write_text("".join(f"{i:05} " + "x" * 90 + "\n" for i in range(1, 2001)))
    async with connect(make(str(allowed), "--max-output-chars", "2000")) as client:
        first = text(await call(client, "read_text_file", path=str(allowed / "big.txt")))
        assert len(first) < 2300 and "[truncated: showing lines 1-" in first
        resume = int(first.rsplit("offset=", 1)[1].split()[0])
        second = text(await call(client, "read_text_file", path=str(allowed / "big.txt"), offset=resume))
        assert second.startswith(f"{resume:05} ")


async def test_binary_and_encoding_messages(allowed: Path) -> None:
    (allowed / "data.bin").write_bytes(b"\x00\x01\x02binary")
    (allowed / "latin.txt").write_bytes("na\xefve\n".encode("latin-1"))
    async with connect(make(str(allowed))) as client:
        binary = await call(client, "read_text_file", path=str(allowed / "data.bin"))
        assert binary.is_error and "binary file" in text(binary) and "read_media_file" in text(binary)
        latin = await call(client, "read_text_file", path=str(allowed / "latin.txt"))
        assert latin.is_error and "not valid utf-8" in text(latin) and "encoding" in text(latin)
        fixed = await call(client, "read_text_file", path=str(allowed / "latin.txt"), encoding="latin-1")
        assert text(fixed) == "na\xefve\n"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))


@pytest.mark.parametrize("era", ERAS)
async def test_read_media_file(allowed: Path, era: Era) -> None:
    (allowed / "dot.png").write_bytes(_png())
    (allowed / "beep.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    (allowed / "blob.dat").write_bytes(b"\x00\x01")
    async with connect(make(str(allowed)), era=era) as client:
        image = await call(client, "read_media_file", path=str(allowed / "dot.png"))
        assert image.content[0].type == "image" and image.content[0].mime_type == "image/png"
        assert base64.b64decode(image.content[0].data) == _png()
        audio = await call(client, "read_media_file", path=str(allowed / "beep.wav"))
        assert audio.content[0].type == "audio" and audio.content[0].mime_type == "audio/wav"
        blob = await call(client, "read_media_file", path=str(allowed / "blob.dat"))
        assert blob.content[0].type == "resource"
        assert base64.b64decode(blob.content[0].resource.blob) == b"\x00\x01"


async def test_read_media_file_size_cap(allowed: Path) -> None:
    (allowed / "huge.png").write_bytes(b"\x89PNG" + b"\x00" * 5000)
    async with connect(make(str(allowed), "--max-media-bytes", "2048")) as client:
        result = await call(client, "read_media_file", path=str(allowed / "huge.png"))
    assert result.is_error and "more than the 2.00 KB" in text(result) and "--max-media-bytes" in text(result)


@pytest.mark.parametrize("era", ERAS)
async def test_read_multiple_files_isolates_failures(allowed: Path, base: Path, era: Era) -> None:
    paths = [str(allowed / "hello.txt"), str(base / "outside" / "secret.txt"), str(allowed / "nope")]
    async with connect(make(str(allowed)), era=era) as client:
        result = await call(client, "read_multiple_files", paths=paths)
    assert not result.is_error
    parts = text(result).split("\n---\n")
    assert parts[0] == f"{allowed}/hello.txt:\nhello\nworld\n\n"
    assert parts[1].startswith(f"{base}/outside/secret.txt: Error - Access denied")
    assert "secret\n" not in text(result)
    assert "does not exist" in parts[2]


# --- listing, tree, search --------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_listings(allowed: Path, base: Path, era: Era) -> None:
    (allowed / "link").symlink_to(base / "outside")
    (allowed / "big.bin").write_bytes(b"x" * 4096)
    async with connect(make(str(allowed)), era=era) as client:
        listing = body(await call(client, "list_directory", path=str(allowed)))
        assert listing.splitlines() == [
            "[FILE] big.bin",
            "[DIR] docs",
            "[FILE] hello.txt",
            "[LINK] link",
            "[DIR] src",
        ]
        sized, totals = framed(
            await call(client, "list_directory_with_sizes", path=str(allowed), sort_by="size")
        )
        assert sized.splitlines()[0].startswith("[FILE] big.bin") and "4.00 KB" in sized.splitlines()[0]
        assert totals == "\nTotal: 2 files, 2 directories\nCombined size: 4.01 KB"
        not_dir = await call(client, "list_directory", path=str(allowed / "hello.txt"))
        assert not_dir.is_error and "read_text_file" in text(not_dir)
        through_link = await call(client, "list_directory", path=str(allowed / "link"))
        assert through_link.is_error and "outside the allowed directories" in text(through_link)


async def test_list_directory_pages(allowed: Path) -> None:
    for i in range(1500):
        (allowed / "docs" / f"f{i:04}.txt").write_text("")
    async with connect(make(str(allowed))) as client:
        first, marker = framed(await call(client, "list_directory", path=str(allowed / "docs")))
        assert len(first.splitlines()) == 1000
        assert marker == "[truncated: showing 1000 rows (row limit 1000); call again with offset=1000]"
        second = body(await call(client, "list_directory", path=str(allowed / "docs"), offset=1000))
        assert second.splitlines()[0] == "[FILE] f1000.txt" and "guide.md" in second
        past = await call(client, "list_directory", path=str(allowed / "docs"), offset=5000)
        assert past.is_error and "past the end" in text(past) and "1501 entries" in text(past)


@pytest.mark.parametrize("era", ERAS)
async def test_tree_and_name_search(allowed: Path, era: Era) -> None:
    async with connect(make(str(allowed)), era=era) as client:
        tree = body(await call(client, "directory_tree", path=str(allowed / "src")))
        assert tree == (
            '[{"name":"main.py","type":"file"},{"name":"pkg","type":"directory",'
            '"children":[{"name":"util.py","type":"file"}]}]'
        )
        found = body(await call(client, "search_files", path=str(allowed), pattern="*.py"))
        assert found.splitlines() == [f"{allowed}/src/main.py", f"{allowed}/src/pkg/util.py"]
        excluded = await call(
            client, "search_files", path=str(allowed), pattern="*.py", exclude_patterns=["pkg"]
        )
        assert body(excluded).splitlines() == [f"{allowed}/src/main.py"]
        none = await call(client, "search_files", path=str(allowed), pattern="*.rs")
        assert "No matches found." in text(none) and "src/" not in text(none)


@pytest.mark.parametrize("era", ERAS)
async def test_search_content(allowed: Path, era: Era) -> None:
    async with connect(make(str(allowed)), era=era) as client:
        found = body(await call(client, "search_content", path=str(allowed), pattern="todo"))
        assert f"{allowed}/docs/guide.md\n  3: TODO: write it" in found
        assert f"{allowed}/src/pkg/util.py\n  2:     return 'TODO'" in found
        bad = await call(client, "search_content", path=str(allowed), pattern="(unclosed")
        assert bad.is_error and "literal=true" in text(bad)
        none = await call(client, "search_content", path=str(allowed), pattern="zebra")
        assert "No matches in 4 files searched." in text(none) and "TODO" not in text(none)


@pytest.mark.parametrize("era", ERAS)
async def test_file_info_and_allowed_directories(allowed: Path, era: Era) -> None:
    (allowed / "link").symlink_to("hello.txt")
    async with connect(make(str(allowed)), era=era) as client:
        info = await call(client, "get_file_info", path=str(allowed / "hello.txt"))
        assert info.structured_content["type"] == "file" and info.structured_content["size"] == 12
        assert info.structured_content["mime_type"] == "text/plain"
        link = await call(client, "get_file_info", path=str(allowed / "link"))
        assert link.structured_content["type"] == "file"
        assert link.structured_content["link_target"] == "hello.txt"
        dirs = text(await call(client, "list_allowed_directories"))
        assert dirs.splitlines()[:2] == ["Allowed directories:", str(allowed)]
        assert "Writing: off" in dirs


# --- operator rules ---------------------------------------------------------------------------------------


async def test_deny_rules_apply_to_every_tool(allowed: Path) -> None:
    (allowed / ".env").write_text("TOKEN=abc\n")
    (allowed / "alias.txt").symlink_to(".env")
    (allowed / "docs" / "key.pem").write_text("-----BEGIN-----\n")
    before = snapshot(allowed)
    server = make(
        str(allowed),
        "--allow-write",
        "--deny",
        ".env",
        "--deny",
        "*.pem",
        "--read-only-path",
        str(allowed / "docs"),
    )
    async with connect(server) as client:
        for tool, args in [
            ("read_text_file", {"path": str(allowed / ".env")}),
            ("read_text_file", {"path": str(allowed / "alias.txt")}),
            ("get_file_info", {"path": str(allowed / "docs" / "key.pem")}),
            ("read_media_file", {"path": str(allowed / "docs" / "key.pem")}),
            ("write_file", {"path": str(allowed / ".env"), "content": "x"}),
            ("write_file", {"path": str(allowed / "alias.txt"), "content": "x"}),
            (
                "edit_file",
                {"path": str(allowed / "alias.txt"), "edits": [{"old_text": "TOKEN", "new_text": "x"}]},
            ),
            ("copy_file", {"source": str(allowed / ".env"), "destination": str(allowed / "copy")}),
            ("move_file", {"source": str(allowed / "docs"), "destination": str(allowed / "d2")}),
            ("write_file", {"path": str(allowed / "docs" / "new.md"), "content": "x"}),
            (
                "edit_file",
                {
                    "path": str(allowed / "docs" / "guide.md"),
                    "edits": [{"old_text": "TODO", "new_text": "x"}],
                },
            ),
            ("create_directory", {"path": str(allowed / "docs" / "sub")}),
        ]:
            result = await call(client, tool, **args)
            assert result.is_error, (tool, args)
            assert "Access denied" in text(result) and "TOKEN" not in text(result)
        listing = text(await call(client, "list_directory", path=str(allowed)))
        assert ".env" not in listing and "alias.txt" in listing
        found = await call(client, "search_content", path=str(allowed), pattern="BEGIN|TOKEN")
        assert "No matches" in text(found) and "BEGIN" not in text(found) and "abc" not in text(found)
        tree = text(await call(client, "directory_tree", path=str(allowed)))
        assert "key.pem" not in tree and ".env" not in tree
        named = await call(client, "search_files", path=str(allowed), pattern="*.pem")
        assert "No matches found." in text(named) and "key.pem" not in text(named)
        rules = text(await call(client, "list_allowed_directories"))
        assert "Hidden (deny): .env, *.pem" in rules and "Read-only directories" in rules
    assert snapshot(allowed) == before


async def test_git_is_write_protected_by_default(allowed: Path) -> None:
    (allowed / ".git" / "hooks").mkdir(parents=True)
    async with connect(make(str(allowed), "--allow-write")) as client:
        hook = await call(
            client, "write_file", path=str(allowed / ".git" / "hooks" / "pre-commit"), content="rm -rf ~"
        )
        assert hook.is_error and "write-protection rule '.git'" in text(hook)
        readable = await call(client, "list_directory", path=str(allowed / ".git"))
        assert not readable.is_error
    assert not (allowed / ".git" / "hooks" / "pre-commit").exists()


# --- writing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_write_edit_create_move_copy(allowed: Path, era: Era) -> None:
    async with connect(make(str(allowed), "--allow-write"), era=era) as client:
        wrote = await call(client, "write_file", path=str(allowed / "new.txt"), content="alpha\nbeta\n")
        assert not wrote.is_error and "Wrote 11 bytes" in text(wrote)
        assert (allowed / "new.txt").read_text() == "alpha\nbeta\n"
        edits = [{"old_text": "beta", "new_text": "gamma"}]
        dry = await call(client, "edit_file", path=str(allowed / "new.txt"), edits=edits, dry_run=True)
        assert "Dry run" in text(dry) and "-beta\n+gamma" in text(dry)
        assert (allowed / "new.txt").read_text() == "alpha\nbeta\n"
        real = await call(client, "edit_file", path=str(allowed / "new.txt"), edits=edits)
        assert text(real).startswith("```diff\n") and "+gamma" in text(real)
        assert (allowed / "new.txt").read_text() == "alpha\ngamma\n"
        made = await call(client, "create_directory", path=str(allowed / "a" / "b"))
        assert not made.is_error and (allowed / "a" / "b").is_dir()
        again = await call(client, "create_directory", path=str(allowed / "a" / "b"))
        assert not again.is_error
        moved = await call(
            client, "move_file", source=str(allowed / "new.txt"), destination=str(allowed / "a" / "n.txt")
        )
        assert (
            not moved.is_error and (allowed / "a" / "n.txt").exists() and not (allowed / "new.txt").exists()
        )
        copied = await call(
            client, "copy_file", source=str(allowed / "src"), destination=str(allowed / "src2")
        )
        assert "2 files" in text(copied) and (allowed / "src2" / "pkg" / "util.py").exists()


async def test_write_failures_change_nothing(allowed: Path) -> None:
    before = snapshot(allowed)
    async with connect(make(str(allowed), "--allow-write")) as client:
        cases = [
            (
                "edit_file",
                {"path": str(allowed / "hello.txt"), "edits": [{"old_text": "absent", "new_text": "x"}]},
                "Could not find",
            ),
            (
                "edit_file",
                {"path": str(allowed / "hello.txt"), "edits": [{"old_text": "o", "new_text": "0"}]},
                "appears",
            ),
            (
                "edit_file",
                {
                    "path": str(allowed / "hello.txt"),
                    "edits": [{"old_text": "hello", "new_text": "x"}, {"old_text": "nope", "new_text": "y"}],
                },
                "edit 2 of 2",
            ),
            ("edit_file", {"path": str(allowed / "hello.txt"), "edits": []}, "edits"),
            (
                "move_file",
                {"source": str(allowed / "hello.txt"), "destination": str(allowed / "src" / "main.py")},
                "already exists",
            ),
            (
                "copy_file",
                {"source": str(allowed / "hello.txt"), "destination": str(allowed / "src" / "main.py")},
                "already exists",
            ),
            (
                "copy_file",
                {"source": str(allowed / "src"), "destination": str(allowed / "src" / "pkg" / "x")},
                "into itself",
            ),
            ("write_file", {"path": str(allowed / "nodir" / "f.txt"), "content": "x"}, "does not exist"),
            ("write_file", {"path": str(allowed / "src"), "content": "x"}, "is a directory"),
            ("create_directory", {"path": str(allowed / "hello.txt")}, "not a directory"),
            (
                "move_file",
                {"source": str(allowed), "destination": str(allowed / "x")},
                "allowed directory itself",
            ),
        ]
        for tool, args, expected in cases:
            result = await call(client, tool, **args)
            assert result.is_error, (tool, args)
            assert expected in text(result), (tool, text(result))
    assert snapshot(allowed) == before


async def test_write_keeps_mode_and_is_atomic(allowed: Path) -> None:
    target = allowed / "script.sh"
    target.write_text("old")
    target.chmod(0o750)
    async with connect(make(str(allowed), "--allow-write")) as client:
        await call(client, "write_file", path=str(target), content="new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o750
    assert not [p for p in os.listdir(allowed) if p.endswith(".tmp")]


# --- delete and elicitation -------------------------------------------------------------------------------


def _answer(action: str, confirm: bool = True) -> Callable[..., Any]:
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        if action == "accept":
            return ElicitResult(action="accept", content={"confirm": confirm})
        return ElicitResult(action=action)

    elicit.asked = asked  # type: ignore[attr-defined]
    return elicit


@pytest.mark.parametrize("era", ERAS)
async def test_delete_asks_and_obeys(allowed: Path, era: Era) -> None:
    server = make(str(allowed), "--allow-write", "--allow-delete")
    mode = "legacy" if era == "legacy" else "auto"
    accept = _answer("accept")
    async with Client(server, mode=mode, elicitation_callback=accept) as client:
        done = await call(client, "delete", path=str(allowed / "hello.txt"))
        assert not done.is_error and f"Deleted file {allowed}/hello.txt" in text(done)
    assert accept.asked == [f"Delete the file {allowed}/hello.txt? This cannot be undone.\nGo ahead?"]  # type: ignore[attr-defined]
    assert not (allowed / "hello.txt").exists()
    for answer in (_answer("decline"), _answer("cancel"), _answer("accept", confirm=False)):
        async with Client(server, mode=mode, elicitation_callback=answer) as client:
            refused = await call(client, "delete", path=str(allowed / "src"), recursive=True)
        assert refused.is_error and "did not confirm" in text(refused)
        assert (allowed / "src" / "main.py").exists()


async def test_delete_without_elicitation_and_its_errors(allowed: Path, base: Path) -> None:
    async with connect(make(str(allowed), "--allow-write", "--allow-delete")) as client:
        not_empty = await call(client, "delete", path=str(allowed / "src"))
        assert not_empty.is_error and "recursive=true" in text(not_empty)
        outside = await call(client, "delete", path=str(base / "outside" / "secret.txt"))
        assert outside.is_error and "outside the allowed directories" in text(outside)
        root = await call(client, "delete", path=str(allowed), recursive=True)
        assert root.is_error and "allowed directory itself" in text(root)
        done = await call(client, "delete", path=str(allowed / "src"), recursive=True)
        assert not done.is_error and not (allowed / "src").exists()
    assert (base / "outside" / "secret.txt").exists()


# --- path attacks through every tool that takes a path ----------------------------------------------------


def _attacks(base: Path, allowed: Path) -> list[str]:
    (allowed / "to-secret").symlink_to(base / "outside" / "secret.txt")
    (allowed / "to-outside").symlink_to(base / "outside")
    (allowed / "dangling").symlink_to(base / "outside" / "planted.txt")
    return [
        "../outside/secret.txt",
        str(base / "outside" / "secret.txt"),
        str(allowed / ".." / "outside" / "secret.txt"),
        str(base / "allowed-evil" / "x.txt"),
        str(allowed / "to-secret"),
        str(allowed / "to-outside" / "secret.txt"),
        str(allowed / "to-outside"),
        f"file://{base}/outside/secret.txt",
        str(allowed / "hello.txt\x00.png"),
        "~/../../etc/passwd",
    ]


def _calls(path: str, allowed: Path) -> list[tuple[str, dict[str, Any]]]:
    inside = str(allowed / "hello.txt")
    return [
        ("read_text_file", {"path": path}),
        ("read_text_file", {"path": path, "tail": 1}),
        ("read_media_file", {"path": path}),
        ("read_multiple_files", {"paths": [path]}),
        ("list_directory", {"path": path}),
        ("list_directory_with_sizes", {"path": path}),
        ("directory_tree", {"path": path}),
        ("search_files", {"path": path, "pattern": "*"}),
        ("search_content", {"path": path, "pattern": "secret"}),
        ("get_file_info", {"path": path}),
        ("write_file", {"path": path, "content": "pwned"}),
        ("edit_file", {"path": path, "edits": [{"old_text": "secret", "new_text": "pwned"}]}),
        ("create_directory", {"path": path + "/new-dir"}),
        ("move_file", {"source": path, "destination": str(allowed / "stolen")}),
        ("move_file", {"source": inside, "destination": path}),
        ("copy_file", {"source": path, "destination": str(allowed / "stolen")}),
        ("copy_file", {"source": inside, "destination": path}),
        ("delete", {"path": path, "recursive": True}),
    ]


@pytest.mark.parametrize("era", ERAS)
async def test_path_attacks_through_every_tool(base: Path, allowed: Path, era: Era) -> None:
    attacks = _attacks(base, allowed)
    before_outside = snapshot(base / "outside")
    before_evil = snapshot(base / "allowed-evil")
    server = make(str(allowed), "--allow-write", "--allow-delete")
    async with connect(server, era=era) as client:
        for attack in attacks:
            link_itself = attack in (str(allowed / "to-secret"), str(allowed / "to-outside"))
            for tool, args in _calls(attack, allowed):
                if link_itself and (tool == "delete" or args.get("source") == attack):
                    continue  # moving or deleting the link itself is allowed: its target is untouched
                result = await call(client, tool, **args)
                shown = text(result)
                assert "secret\n" not in shown and shown != "evil", (tool, attack, shown)
                if tool == "read_multiple_files":
                    assert "Error -" in shown, (tool, attack, shown)
                else:
                    assert result.is_error, (tool, attack, shown)
    assert snapshot(base / "outside") == before_outside
    assert snapshot(base / "allowed-evil") == before_evil
    assert not (allowed / "stolen").exists()
    assert (allowed / "hello.txt").read_text() == "hello\nworld\n"


async def test_fifo_is_refused_at_once(allowed: Path) -> None:
    os.mkfifo(allowed / "pipe")
    async with connect(make(str(allowed))) as client:
        with anyio.fail_after(5):
            result = await call(client, "read_text_file", path=str(allowed / "pipe"))
    assert result.is_error and "FIFO" in text(result)


# --- client roots -----------------------------------------------------------------------------------------


async def test_client_roots_narrow_and_a_removed_root_is_refused(allowed: Path) -> None:
    current = [Root(uri=f"file://{allowed}/src"), Root(uri=f"file://{allowed}/docs")]

    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=list(current))

    async with connect(make(str(allowed)), era="legacy", list_roots=list_roots) as client:
        dirs = text(await call(client, "list_allowed_directories"))
        assert f"{allowed}/src" in dirs and f"{allowed}/docs" in dirs
        narrowed = await call(client, "read_text_file", path=str(allowed / "hello.txt"))
        assert narrowed.is_error and "outside the allowed directories" in text(narrowed)
        assert not (await call(client, "read_text_file", path=str(allowed / "docs" / "guide.md"))).is_error
        current[:] = [Root(uri=f"file://{allowed}/src")]  # the user removes docs mid-session
        await client.send_roots_list_changed()
        await anyio.sleep(0.05)
        removed = await call(client, "read_text_file", path=str(allowed / "docs" / "guide.md"))
        assert removed.is_error and "outside the allowed directories" in text(removed)
        assert not (await call(client, "read_text_file", path=str(allowed / "src" / "main.py"))).is_error


async def test_client_roots_never_widen(allowed: Path, base: Path) -> None:
    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=f"file://{base}")])

    async with connect(make(str(allowed)), era="legacy", list_roots=list_roots) as client:
        result = await call(client, "read_text_file", path=str(base / "outside" / "secret.txt"))
    assert result.is_error and "secret\n" not in text(result)


# --- resources and subscriptions --------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_file_resource(allowed: Path, base: Path, era: Era) -> None:
    async with connect(make(str(allowed)), era=era) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["file:///{+path}"]
        read = await client.read_resource(f"file://{allowed}/hello.txt")
        content = read.contents[0]
        assert isinstance(content, TextResourceContents) and content.text == "hello\nworld\n"
        for bad in (f"file://{base}/outside/secret.txt", f"file://{allowed}/../outside/secret.txt"):
            with pytest.raises(Exception) as info:
                await client.read_resource(bad)
            assert "secret\n" not in str(info.value)


async def test_subscribe_handshake_era(allowed: Path) -> None:
    updates: list[str] = []
    got = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            got.set()

    server = make(str(allowed), "--allow-write")
    uri = f"file://{allowed}/hello.txt"
    async with Client(server, mode="legacy", message_handler=on_message) as client:
        assert client.server_capabilities.resources.subscribe is True  # type: ignore[union-attr]
        with pytest.warns(Warning):
            await client.subscribe_resource(uri)
        await call(client, "write_file", path=str(allowed / "hello.txt"), content="changed")
        with anyio.fail_after(10):
            await got.wait()
        assert updates[0] == uri
        with pytest.raises(Exception, match="outside the allowed"):
            await client.session.subscribe_resource(f"file://{allowed}/../outside/secret.txt")
        await client.session.unsubscribe_resource(uri)
    assert server.file_watcher.watched_directories == frozenset()


async def test_listen_modern_era(allowed: Path) -> None:
    server = make(str(allowed))
    uri = f"file://{allowed}/hello.txt"
    async with Client(server) as client, client.listen(resource_subscriptions=[uri]) as subscription:
        assert server.file_watcher.watched_directories == frozenset({str(allowed)})
        (allowed / "hello.txt").write_text("changed on disk")
        with anyio.fail_after(10):
            event = await subscription.__anext__()
        assert event.uri == uri


async def test_resources_respect_client_roots(allowed: Path) -> None:
    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=f"file://{allowed}/src")])

    server = make(str(allowed))
    async with Client(server, mode="legacy", list_roots_callback=list_roots) as client:
        inside = await client.read_resource(f"file://{allowed}/src/main.py")
        assert "import os" in inside.contents[0].text  # type: ignore[union-attr]
        with pytest.raises(Exception, match="outside the allowed"):
            await client.read_resource(f"file://{allowed}/hello.txt")
        with pytest.raises(Exception, match="outside the allowed"):
            await client.session.subscribe_resource(f"file://{allowed}/hello.txt")
    assert server.file_watcher.watched_directories == frozenset()


async def test_client_roots_outside_leave_nothing_and_say_so(allowed: Path, base: Path) -> None:
    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=f"file://{base}/outside")])

    async with connect(make(str(allowed)), era="legacy", list_roots=list_roots) as client:
        dirs = text(await call(client, "list_allowed_directories"))
        assert "(none: the client's roots do not overlap" in dirs
        refused = await call(client, "read_text_file", path=str(allowed / "hello.txt"))
    assert refused.is_error and "client's roots do not overlap" in text(refused)
