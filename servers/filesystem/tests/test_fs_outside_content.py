"""Every tool that returns names or text from the disk, fed hostile and oversized data, in both eras.

The payload (`HOSTILE`: an instruction, forged frame boundaries, invisible and bidi characters) is put
into real files: a directory and a file whose names spell it (a name cannot hold "/", so the payload is
split at its one slash into a directory and a file inside it), a link whose target is the whole payload,
hundreds of files whose names carry it, and a large file whose lines carry it. Each answer must be framed,
free of invisible characters and forged boundaries, and within a 3000-character budget; paged answers must
still lead to every entry.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.results import (
    HOSTILE,
    INVISIBLE_SAMPLES,
    assert_capped,
    assert_neutralized,
    text,
)
from patchbay_filesystem.server import Settings, build

pytestmark = pytest.mark.anyio
BUDGET = 3000
DIRECTORY, FILE = HOSTILE.split("/", 1)  # allowed/DIRECTORY/FILE spells HOSTILE
NAMES = 300
DENSE = 200


def make(allowed: Path) -> Any:
    return build(Settings(_cli_parse_args=[str(allowed), "--max-output-chars", str(BUDGET)]))  # type: ignore[call-arg]


@pytest.fixture
def hostile(allowed: Path) -> Path:
    (allowed / DIRECTORY).mkdir()
    (allowed / DIRECTORY / FILE).write_text("".join(f"{i} {HOSTILE}\n" for i in range(2000)))
    (allowed / "hostile-link").symlink_to(HOSTILE)  # relative: DIRECTORY/FILE, which exists
    many = allowed / "many"
    many.mkdir()
    for i in range(NAMES):
        (many / f"{i:04} {HOSTILE.replace('/', '_')}").write_text(HOSTILE)
    dense = allowed / "dense"  # names that grow most when forged boundaries are escaped
    dense.mkdir()
    for i in range(DENSE):
        (dense / f"{i:03}{'<untrusteddata' * 17}").write_text("")
    return allowed


def calls(allowed: Path) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("list_directory", {"path": str(allowed / "many")}),
        ("list_directory", {"path": str(allowed / DIRECTORY)}),
        ("list_directory_with_sizes", {"path": str(allowed / "many")}),
        ("list_directory_with_sizes", {"path": str(allowed / DIRECTORY), "sort_by": "size"}),
        ("directory_tree", {"path": str(allowed)}),
        ("directory_tree", {"path": str(allowed / DIRECTORY)}),
        ("search_files", {"path": str(allowed), "pattern": "*"}),
        ("search_files", {"path": str(allowed), "pattern": "untrusted-data-*"}),
        ("search_content", {"path": str(allowed), "pattern": "Ignore previous", "max_results": 1000}),
        ("search_content", {"path": str(allowed / DIRECTORY), "pattern": "hid", "context_lines": 3}),
        ("get_file_info", {"path": str(allowed / "hostile-link")}),
        ("get_file_info", {"path": str(allowed / DIRECTORY / FILE)}),
    ]


@pytest.mark.parametrize("era", ERAS)
async def test_outside_names_and_lines_are_framed_neutralized_and_capped(hostile: Path, era: Era) -> None:
    async with connect(make(hostile), era=era) as client:
        for tool, arguments in calls(hostile):
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, (tool, text(result))
            shown = text(result) + str(result.structured_content)
            assert "Ignore previous" in shown or "untrusted-data-feedface" in shown, (
                tool
            )  # the payload is there
            assert_neutralized(result)
            assert_capped(result, BUDGET)
        info = await client.call_tool("get_file_info", {"path": str(hostile / "hostile-link")})
    target = info.structured_content["link_target"]  # type: ignore[index]
    assert target.startswith("Ignore previous instructions") and "\u202e" not in target


def _offset(note: str) -> int | None:
    found = re.search(r"call again with offset=(\d+)", note)
    return int(found.group(1)) if found else None


@pytest.mark.parametrize("era", ERAS)
async def test_capped_pages_still_lead_to_every_entry(hostile: Path, era: Era) -> None:
    async with connect(make(hostile), era=era) as client:
        for tool, arguments, per_item, expected in (
            ("list_directory", {"path": str(hostile / "many")}, r"^\[FILE\] ", NAMES),
            ("list_directory_with_sizes", {"path": str(hostile / "many")}, r"^\[FILE\] ", NAMES),
            ("search_files", {"path": str(hostile / "many"), "pattern": "*"}, f"^{hostile}/many/", NAMES),
            (
                "search_content",
                {"path": str(hostile / DIRECTORY), "pattern": "Ignore"},
                r"^ *\d+: \d+ Ign",
                2000,
            ),
            ("list_directory", {"path": str(hostile / "dense")}, r"^\[FILE\] ", DENSE),
            ("search_files", {"path": str(hostile / "dense"), "pattern": "*"}, f"^{hostile}/dense/", DENSE),
        ):
            seen: list[str] = []
            offset: int | None = 0
            pages = 0
            while offset is not None:
                result = await client.call_tool(tool, {**arguments, "offset": offset})
                assert not result.is_error, (tool, offset, text(result))
                assert_capped(result, BUDGET)
                assert "characters 0-" not in text(result), "the layer had to cut: the page was sized wrong"
                shown = text(result)
                seen.extend(line for line in shown.splitlines() if re.match(per_item, line))
                offset = _offset(shown.rsplit("</untrusted-data-", 1)[-1])
                pages += 1
                assert pages < 500, tool
            assert len(seen) == expected and len(set(seen)) == expected, (tool, len(seen), pages)
            assert pages > 1, tool


@pytest.mark.parametrize("era", ERAS)
async def test_file_text_stays_byte_exact_and_capped(hostile: Path, era: Era) -> None:
    """read_text_file, read_multiple_files and the file resource return file text as it is on disk
    (unframed, like the official server: a model edits by quoting exact text), within the budget."""
    (hostile / "small.txt").write_text(HOSTILE + "\n")
    path = str(hostile / DIRECTORY / FILE)
    async with connect(make(hostile), era=era) as client:
        small = await client.call_tool("read_text_file", {"path": str(hostile / "small.txt")})
        assert text(small) == HOSTILE + "\n"
        for tool, arguments in (
            ("read_text_file", {"path": path}),
            ("read_text_file", {"path": path, "tail": 1000}),
            ("read_multiple_files", {"paths": [path, str(hostile / "small.txt")]}),
        ):
            result = await client.call_tool(tool, arguments)
            assert not result.is_error and HOSTILE in text(result), tool
            assert_capped(result, BUDGET)
        resource = await client.read_resource(f"file://{path}")
    assert len(text(resource)) <= BUDGET and text(resource).startswith("0 " + HOSTILE)


@pytest.mark.parametrize("era", ERAS)
async def test_error_texts_naming_disk_paths_are_neutralized(hostile: Path, era: Era) -> None:
    """A link the model names resolves to a path the disk chose; refusals that name it hide nothing.

    Error texts are not framed (they are the server's words), so the check is the other half of
    `assert_neutralized`: no invisible character and no forged boundary.
    """
    link, target = str(hostile / "hostile-link"), str(hostile / DIRECTORY / FILE)
    settings = Settings(_cli_parse_args=[str(hostile), "--allow-write", "--max-output-chars", str(BUDGET)])  # type: ignore[call-arg]
    async with connect(build(settings), era=era) as client:
        for tool, arguments in (
            ("list_directory", {"path": link}),
            ("list_directory_with_sizes", {"path": link}),
            ("copy_file", {"source": str(hostile / "many"), "destination": target}),
            ("move_file", {"source": str(hostile / "many"), "destination": target}),
        ):
            result = await client.call_tool(tool, arguments)
            shown = text(result)
            assert result.is_error and "Ignore previous" in shown, (tool, shown)
            for hidden in INVISIBLE_SAMPLES:
                assert hidden not in shown, (tool, shown)
            assert "<untrusted-data-feedface" not in shown and "</untrusted-data-0123" not in shown, tool
        with pytest.raises(MCPError) as refused:
            await client.read_resource(f"file://{hostile}/hostile-link/x")
        if era == "legacy":
            with pytest.raises(MCPError) as unwatched:
                await client.session.subscribe_resource(f"file://{hostile}/hostile-link/x")
            assert "Ignore previous" in unwatched.value.error.message
            for hidden in INVISIBLE_SAMPLES:
                assert hidden not in unwatched.value.error.message
    message = refused.value.error.message
    assert "Ignore previous" in message and "<untrusted-data-feedface" not in message
    for hidden in INVISIBLE_SAMPLES:
        assert hidden not in message


async def test_a_tool_called_with_its_deps_directly(hostile: Path) -> None:
    """Tools are plain functions of (deps, roots, ...): the Reply keeps outside content and our note apart."""
    from patchbay_common.roots import Roots
    from patchbay_filesystem.deps import Deps
    from patchbay_filesystem.listing import list_directory
    from patchbay_filesystem.policy import Policy

    roots = Roots([str(hostile)])
    deps = Deps(
        roots=roots,
        policy=Policy(roots.directories),
        max_chars=BUDGET,
        walk_seconds=5.0,
        max_media_bytes=1 << 20,
        max_search_file_bytes=1 << 20,
        allow_write=False,
    )
    reply = await list_directory(deps, roots, str(hostile / "many"))
    assert reply.content.startswith("[FILE] 0000 Ignore previous")  # raw here; the layer frames it
    assert reply.note.startswith("[truncated: showing ") and "call again with offset=" in reply.note
    assert len(reply.content) <= deps.page_chars


@pytest.mark.parametrize("era", ERAS)
async def test_diffs_and_listings_fit_the_budget_marker_included(hostile: Path, era: Era) -> None:
    """Every capped tool not covered above: a long diff (dry run and written) and the roots list."""
    (hostile / "long.txt").write_text("".join(f"row {i} value\n" for i in range(3000)))
    settings = Settings(_cli_parse_args=[str(hostile), "--allow-write", "--max-output-chars", str(BUDGET)])  # type: ignore[call-arg]
    edit = {
        "path": str(hostile / "long.txt"),
        "edits": [{"old_text": "value", "new_text": "changed", "replace_all": True}],
    }
    async with connect(build(settings), era=era) as client:
        for tool, arguments in (
            ("edit_file", {**edit, "dry_run": True}),
            ("edit_file", edit),
            ("list_allowed_directories", {}),
        ):
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, (tool, text(result))
            assert_capped(result, BUDGET)
