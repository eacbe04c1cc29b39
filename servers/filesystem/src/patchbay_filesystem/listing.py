"""The listing toolset: directory entries (plain or with sizes), the tree under a directory, the roots.

Names on disk are written by whoever made the files (a cloned repository, an unpacked archive), so
listings are declared outside content: the layer frames them, and a name cannot hide text behind
invisible or bidi characters. Counts, totals and continuations are our own words, after the frame.
"""

from __future__ import annotations

import stat
from typing import Annotated, Any, Literal

from pydantic import Field

from patchbay_common.client_roots import AllowedRoots
from patchbay_common.errors import UserError
from patchbay_common.limits import cap_rows, human_size
from patchbay_common.notify import Progress
from patchbay_common.results import Reply
from patchbay_common.roots import Roots
from patchbay_common.toolsets import Toolset
from patchbay_filesystem import walking
from patchbay_filesystem.deps import Deps, in_thread, readable, watched

tools = Toolset("listing", "List directories and the tree under one.")

_TAG = {"directory": "[DIR]", "file": "[FILE]", "symlink": "[LINK]", "other": "[OTHER]"}
_PAGE = 1000
_NARROWER = "list a subdirectory, or pass offset to skip the entries already seen"


def _entries(deps: Deps, roots: Roots, path: str, offset: int) -> tuple[str, list[Any]]:
    """The visible entries of a directory (deny rules applied), refusing an offset past their end."""
    canonical, info = readable(deps.policy, roots, path)
    if not stat.S_ISDIR(info.st_mode):
        raise UserError(f"{canonical} is a file, not a directory.", hint="Read it with read_text_file.")
    canonical, entries = roots.list_dir(path)
    if not deps.policy.empty:
        entries = [
            e for e in entries if not deps.policy.hidden(f"{canonical}/{e.name}", e.kind == "directory")
        ]
    if offset and offset >= len(entries):
        raise UserError(
            f"offset {offset} is past the end of {canonical} ({len(entries)} entries).",
            hint="There are no more entries.",
        )
    return canonical, entries


@tools.tool(untrusted="directory listing", structured_output=False, continuation=_NARROWER)
async def list_directory(
    deps: Deps,
    roots: AllowedRoots,
    path: Annotated[str, Field(description="Directory to list.")],
    offset: Annotated[int, Field(ge=0, description="Entries to skip (from a previous cut).")] = 0,
) -> Reply:
    """Return the entries of a directory, one per line: `[DIR] name`, `[FILE] name` or `[LINK] name`."""
    canonical, entries = await in_thread(_entries, deps, roots, path, offset)
    if not entries:
        return Reply("", note=f"{canonical} is empty.")
    rows = [f"{_TAG[e.kind]} {e.name}" for e in entries[offset:]]
    capped = cap_rows(rows, max_rows=_PAGE, max_chars=deps.page_chars, offset=offset)
    return Reply("\n".join(capped.rows), note=capped.marker())


@tools.tool(untrusted="directory listing", structured_output=False, continuation=_NARROWER)
async def list_directory_with_sizes(
    deps: Deps,
    roots: AllowedRoots,
    path: Annotated[str, Field(description="Directory to list.")],
    sort_by: Annotated[
        Literal["name", "size"], Field(description="Order: name, or size (largest first).")
    ] = "name",
    offset: Annotated[int, Field(ge=0, description="Entries to skip (from a previous cut).")] = 0,
) -> Reply:
    """Return the entries of a directory with file sizes, then file and directory counts and the total."""
    _, entries = await in_thread(_entries, deps, roots, path, offset)
    if sort_by == "size":
        entries = sorted(entries, key=lambda e: (-e.size if e.kind == "file" else 1, e.name))
    rows = [
        f"{_TAG[e.kind]} {e.name:<30} {human_size(e.size) if e.kind == 'file' else ''}".rstrip()
        for e in entries[offset:]
    ]
    capped = cap_rows(rows, max_rows=_PAGE, max_chars=deps.page_chars, offset=offset)
    files = [e for e in entries if e.kind == "file"]
    dirs = sum(1 for e in entries if e.kind == "directory")
    summary = (
        f"Total: {len(files)} files, {dirs} directories\n"
        f"Combined size: {human_size(sum(e.size for e in files))}"
    )
    note = f"{capped.marker()}\n\n{summary}" if capped.truncated else f"\n{summary}"
    return Reply("\n".join(capped.rows), note=note)


@tools.tool(
    untrusted="directory tree",
    structured_output=False,
    continuation="call directory_tree on a subdirectory, or pass max_depth or exclude_patterns",
)
async def directory_tree(
    deps: Deps,
    roots: AllowedRoots,
    path: Annotated[str, Field(description="Directory at the top of the tree.")],
    exclude_patterns: Annotated[
        list[str], Field(description="Globs to leave out (a name such as node_modules, or a/b/**).")
    ] = [],  # noqa: B006 - pydantic copies defaults
    max_depth: Annotated[int | None, Field(ge=1, description="Levels to descend (1 = only path).")] = None,
) -> Reply:
    """Return the tree under a directory as JSON: [{name, type, children}], filled level by level.

    Links are listed (type symlink) but not followed. When the output limit is reached, directories
    not (fully) expanded carry "truncated": true.
    """
    async with Progress(unit="entries", message=f"walking {path}") as progress:
        tree = await in_thread(
            walking.build_tree,
            watched(roots, progress),
            path,
            policy=deps.policy,
            exclude=exclude_patterns,
            max_depth=max_depth,
            max_chars=deps.page_chars,
            seconds=deps.walk_seconds,
        )
    note = ""
    if tree.truncated or tree.timed_out:
        why = "the output limit" if tree.truncated else "the time limit"
        note = (
            f'[truncated by {why}: {tree.entries} entries shown; directories marked "truncated" were '
            "not (fully) expanded; call directory_tree on one of them to see the rest]"
        )
    return Reply(tree.to_json(), note=note)


@tools.tool(structured_output=False)
async def list_allowed_directories(deps: Deps, roots: AllowedRoots) -> str:
    """Return the directories this server may use now, whether writing is on, and the operator's rules."""
    lines = ["Allowed directories:", *roots.directories]
    if not roots.directories:
        lines.append("(none: the client's roots do not overlap the directories this server was given)")
    elif not deps.roots.directories:
        lines.append("(the client's roots: this server was started without a directory)")
    lines.append(f"Writing: {'on' if deps.allow_write else 'off (read-only server)'}")
    lines.extend(deps.policy.describe())
    return "\n".join(lines)
