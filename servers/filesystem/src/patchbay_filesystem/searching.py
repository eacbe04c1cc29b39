"""The searching toolset: paths whose names match a glob, and lines of text files that match a pattern.

Both answers carry text from the disk (names, and the matching lines themselves), so both are declared
outside content: the layer frames them, strips invisible and bidi characters and escapes forged frame
boundaries. Counts, skips and continuations are our own note after the frame.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from patchbay_common.client_roots import AllowedRoots
from patchbay_common.limits import cap_rows, human_size, truncation_marker
from patchbay_common.notify import Progress
from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_filesystem import walking
from patchbay_filesystem.deps import Deps
from patchbay_filesystem.forked import walk_in_child

tools = Toolset("searching", "Find files by name and lines by content.")

_TIME_LIMIT = "[stopped at the time limit: results may be incomplete; search a narrower path]"


@tools.tool(
    untrusted="file names",
    structured_output=False,
    continuation="search a narrower path or pattern, or pass offset to skip the matches already seen",
)
async def search_files(
    deps: Deps,
    roots: AllowedRoots,
    path: Annotated[str, Field(description="Directory to search under.")],
    pattern: Annotated[
        str,
        Field(description="Glob: a name pattern such as *.py (any depth) or a path glob like src/**/*.ts."),
    ],
    exclude_patterns: Annotated[list[str], Field(description="Globs to leave out.")] = [],  # noqa: B006
    offset: Annotated[int, Field(ge=0, description="Matches to skip (from a previous cut).")] = 0,
) -> Reply:
    """Return the full paths of files and directories whose names match a glob (names, not contents)."""
    async with Progress(unit="entries", message=f"searching names under {path}") as progress:
        found = await walk_in_child(
            walking.search_names,
            roots,
            progress,
            path,
            pattern,
            exclude=exclude_patterns,
            policy=deps.policy,
            offset=offset,
            limit=500,
            seconds=deps.walk_seconds,
        )
    capped = cap_rows(
        found.paths, max_rows=500, max_chars=deps.page_chars, offset=offset, more_available=found.more
    )
    notes = [] if capped.rows else ["No matches found."]
    if capped.truncated:
        notes.append(capped.marker())
    if found.timed_out:
        notes.append(_TIME_LIMIT)
    return Reply("\n".join(capped.rows), note="\n".join(notes))


@tools.tool(
    untrusted="file content",
    structured_output=False,
    continuation="search a narrower path, or lower max_results and pass offset to page",
)
async def search_content(
    deps: Deps,
    roots: AllowedRoots,
    path: Annotated[str, Field(description="Directory (or tree) to search under.")],
    pattern: Annotated[str, Field(description="Regular expression (or text with literal=true), per line.")],
    literal: Annotated[bool, Field(description="Treat pattern as plain text.")] = False,
    case_sensitive: Annotated[
        bool | None, Field(description="Default: case-sensitive only if pattern has upper case.")
    ] = None,
    include: Annotated[list[str], Field(description="Only files matching these globs (e.g. *.py).")] = [],  # noqa: B006
    exclude_patterns: Annotated[list[str], Field(description="Globs to leave out.")] = [],  # noqa: B006
    context_lines: Annotated[int, Field(ge=0, le=20, description="Lines of context around a match.")] = 0,
    respect_gitignore: Annotated[bool, Field(description="Skip files .gitignore excludes, and .git.")] = True,
    max_results: Annotated[int, Field(ge=1, le=1000, description="Most matching lines to return.")] = 100,
    offset: Annotated[int, Field(ge=0, description="Matching lines to skip (from a previous cut).")] = 0,
) -> Reply:
    """Return the lines of text files that match a pattern, grouped by file as `N: line`.

    Context lines show as `N- line`. Binary files and files over the size limit are skipped and
    counted; links are not followed.
    """
    regex = walking.compile_regex(pattern, literal=literal, case_sensitive=case_sensitive)
    async with Progress(unit="entries", message=f"searching files under {path}") as progress:
        found = await walk_in_child(
            walking.grep,
            roots,
            progress,
            path,
            regex,
            policy=deps.policy,
            include=include,
            exclude=exclude_patterns,
            respect_gitignore=respect_gitignore,
            context=context_lines,
            offset=offset,
            limit=max_results,
            max_chars=deps.page_chars,
            max_file_bytes=deps.max_search_file_bytes,
            seconds=deps.walk_seconds,
        )
    notes = [] if found.blocks else [f"No matches in {found.files_searched} files searched."]
    if found.more:
        notes.append(
            truncation_marker(
                f"{found.matches} matching lines", f"call again with offset={found.next_offset} for more"
            )
        )
    if found.timed_out:
        notes.append(_TIME_LIMIT)
    skipped = []
    if found.skipped_binary:
        skipped.append(f"{found.skipped_binary} binary")
    if found.skipped_large:
        skipped.append(f"{found.skipped_large} larger than {human_size(deps.max_search_file_bytes)}")
    if skipped:
        notes.append(f"[files skipped: {', '.join(skipped)}]")
    return Reply("\n".join(found.blocks), note="\n".join(notes))
