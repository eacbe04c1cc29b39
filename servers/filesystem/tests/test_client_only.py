"""Started with no directory, patchbay-filesystem serves the client's roots and nothing else.

Real SDK clients over stdio that declare roots (`list_roots_callback`), in both protocol eras: the union of
the client's roots is served; `notifications/roots/list_changed` narrows and widens it; a client without
roots, or with none usable, gets a refusal that says what to do; every roots guarantee (links out, prefix
siblings, `..`) holds against the client's roots; the operator's rules (built-in `.git` write protection,
`--deny`) apply inside them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import ListRootsResult, Root, TextResourceContents

from patchbay_common.testing.clients import Launch, connect
from patchbay_common.testing.results import text
from patchbay_filesystem.server import Settings, build

pytestmark = pytest.mark.anyio

WHAT_TO_DO = "Add a root (a workspace or project folder) in the client, or start the server with a directory"


def roots_of(current: list[str]) -> Any:
    """A roots callback answering with the URIs in `current` at the time of asking."""

    async def list_roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=uri) for uri in current])  # type: ignore[arg-type]

    return list_roots


def client_only(*flags: str) -> Any:
    """The server in process, started with no directory (stdio is covered by the tests above)."""
    return build(Settings(_cli_parse_args=list(flags)))  # type: ignore[call-arg]


async def read(client: Any, path: Path | str) -> tuple[bool, str]:
    result = await client.call_tool("read_text_file", {"path": str(path)})
    return bool(result.is_error), text(result)


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_stdio_serves_the_union_of_the_client_roots_and_nothing_else(base: Path, era: str) -> None:
    allowed = base / "allowed"
    other = base / "outside"
    (allowed / "src" / "out-link").symlink_to(other)  # a link in a client root leading out of it
    (allowed / "docs" / "secret-link.txt").symlink_to(other / "secret.txt")
    roots = [f"file://{allowed}/src", f"file://{allowed}/docs"]
    async with connect(Launch("patchbay-filesystem", []), era=era, list_roots=roots_of(roots)) as client:
        listed = text(await client.call_tool("list_allowed_directories", {}))
        assert f"{allowed}/src" in listed and f"{allowed}/docs" in listed and "client's roots" in listed
        main = (allowed / "src" / "main.py").read_text()
        assert await read(client, allowed / "src" / "main.py") == (False, main)
        assert (await read(client, allowed / "docs" / "guide.md"))[0] is False
        for attack in (
            allowed / "hello.txt",  # the parent of a client root
            base / "allowed-evil" / "x.txt",  # a prefix sibling
            f"{allowed}/src/../hello.txt",  # .. out of a root
            allowed / "src" / "out-link" / "secret.txt",  # a directory link out of a root
            allowed / "docs" / "secret-link.txt",  # a file link out of a root
            other / "secret.txt",
        ):
            refused, said = await read(client, attack)
            assert refused and "outside the allowed directories" in said, (attack, said)
            assert "secret\n" not in said and said.strip() != "evil"
        search = await client.call_tool("search_files", {"path": str(allowed / "src"), "pattern": "*"})
        assert "secret" not in text(search)


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_no_roots_refuses_every_call_saying_what_to_do(base: Path, era: str) -> None:
    launch = Launch("patchbay-filesystem", [])
    async with connect(launch, era=era) as client:  # declares no roots capability
        for name, args in (
            ("list_allowed_directories", {}),
            ("read_text_file", {"path": str(base / "allowed" / "hello.txt")}),
            ("list_directory", {"path": "/"}),
        ):
            result = await client.call_tool(name, args)
            assert result.is_error, name
            said = text(result)
            assert "started without a directory" in said and "does not offer roots" in said, said
            assert WHAT_TO_DO in said, said
    async with connect(client_only(), era=era, list_roots=roots_of([])) as client:  # roots, none listed
        refused, said = await read(client, base / "allowed" / "hello.txt")
        assert refused and "the client lists no roots" in said and WHAT_TO_DO in said, said


async def test_unusable_client_roots_are_ignored_with_a_note(base: Path) -> None:
    allowed = base / "allowed"
    unusable = [
        f"file://{base}/missing",
        f"file://{allowed}/hello.txt",  # a file
        "file:///",  # the whole machine: the operator's choice, not a client's
        f"file://{base}/link-to-root",
    ]
    (base / "link-to-root").symlink_to("/")
    async with connect(client_only(), list_roots=roots_of(unusable)) as client:
        refused, said = await read(client, allowed / "hello.txt")
        assert refused and "none of the client's roots can be used" in said, said
        for note in ("missing ignored: it does not exist", "hello.txt ignored: it is not a directory"):
            assert note in said, said
        assert said.count("it is the whole file system") == 2, said
        refused, _ = await read(client, "/etc/hostname")
        assert refused
    async with connect(client_only(), list_roots=roots_of([*unusable, f"file://{allowed}"])) as client:
        assert (await read(client, allowed / "hello.txt"))[0] is False
        assert (await read(client, "/etc/hostname"))[0] is True


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_file_resources_follow_the_client_roots(base: Path, era: str) -> None:
    """Resources have no resolvers: a 2026-era read asks for the roots with an InputRequiredResult."""
    allowed = base / "allowed"
    async with connect(client_only(), era=era, list_roots=roots_of([f"file://{allowed}/docs"])) as client:
        contents = (await client.read_resource(f"file://{allowed}/docs/guide.md")).contents[0]
        assert isinstance(contents, TextResourceContents) and contents.text.startswith("# Guide")
        for outside in (f"file://{allowed}/hello.txt", f"file://{base}/outside/secret.txt"):
            with pytest.raises(MCPError) as refused:
                await client.read_resource(outside)
            assert "outside the allowed directories" in str(refused.value)
    async with connect(client_only(), era=era) as client:
        with pytest.raises(MCPError, match="started without a directory"):
            await client.read_resource(f"file://{allowed}/docs/guide.md")


async def test_list_changed_narrows_and_widens(base: Path) -> None:
    allowed = base / "allowed"
    current = [f"file://{allowed}/src"]
    async with connect(client_only(), list_roots=roots_of(current)) as client:
        assert (await read(client, allowed / "src" / "main.py"))[0] is False
        assert (await read(client, allowed / "hello.txt"))[0] is True
        current[:] = [f"file://{allowed}", f"file://{base}/outside"]  # widen: two roots, union served
        await client.send_roots_list_changed()
        await anyio.sleep(0.2)
        assert await read(client, allowed / "hello.txt") == (False, "hello\nworld\n")
        assert await read(client, base / "outside" / "secret.txt") == (False, "secret")
        current[:] = [f"file://{allowed}/docs"]  # narrow
        await client.send_roots_list_changed()
        await anyio.sleep(0.2)
        assert (await read(client, allowed / "docs" / "guide.md"))[0] is False
        for gone in (allowed / "hello.txt", allowed / "src" / "main.py", base / "outside" / "secret.txt"):
            assert (await read(client, gone))[0] is True, gone
        current[:] = []  # the client removed every root
        await client.send_roots_list_changed()
        await anyio.sleep(0.2)
        refused, said = await read(client, allowed / "docs" / "guide.md")
        assert refused and "the client lists no roots" in said


async def test_operator_rules_hold_inside_client_roots(base: Path) -> None:
    allowed = base / "allowed"
    (allowed / ".git").mkdir()
    (allowed / ".git" / "config").write_text("[core]\n")
    (allowed / ".env").write_text("TOKEN=1\n")
    server = client_only("--allow-write", "--deny", ".env")
    async with connect(server, list_roots=roots_of([f"file://{allowed}"])) as client:
        hook = await client.call_tool(
            "write_file", {"path": str(allowed / ".git" / "config"), "content": "[core]\nfsmonitor = x\n"}
        )
        assert hook.is_error and "write-protection rule '.git'" in text(hook), text(hook)
        refused, said = await read(client, allowed / ".env")
        assert refused and "deny rule '.env'" in said and "TOKEN" not in said
        written = await client.call_tool("write_file", {"path": str(allowed / "new.txt"), "content": "ok"})
        assert not written.is_error and (allowed / "new.txt").read_text() == "ok"
    assert (allowed / ".git" / "config").read_text() == "[core]\n"


async def test_directories_given_keep_client_roots_narrowing(base: Path) -> None:
    """With a directory on the command line nothing changes: client roots narrow it, never widen it."""
    allowed = base / "allowed"
    launch = build(Settings(_cli_parse_args=[str(allowed)]))  # type: ignore[call-arg]
    async with connect(launch, list_roots=roots_of([f"file://{base}/outside", f"file://{allowed}/src"])) as c:
        assert (await read(c, allowed / "src" / "main.py"))[0] is False
        assert (await read(c, base / "outside" / "secret.txt"))[0] is True
        assert (await read(c, allowed / "hello.txt"))[0] is True
    async with connect(launch) as client:  # no roots capability: the directory itself
        assert (await read(client, allowed / "hello.txt"))[0] is False


def test_startup_log_and_config_entry_without_a_directory(tmp_path: Path) -> None:
    started = subprocess.run(
        ["patchbay-filesystem"], input="", capture_output=True, text=True, timeout=30, check=False
    )
    assert started.returncode == 0, started.stderr
    assert "no directory given: serving the client's roots" in started.stderr
    assert "add a root in the client, or start the server with a directory" in started.stderr
    config = tmp_path / "claude.json"
    env = {**os.environ, "HOME": str(tmp_path)}
    command = ["patchbay-filesystem", "config", "claude-code", "--source", "pypi", "--write"]
    written = subprocess.run(
        [*command, "--config-file", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert written.returncode == 0, written.stderr
    entry = json.loads(config.read_text())["mcpServers"]["filesystem"]
    assert entry["args"] == ["patchbay-filesystem"], entry
