"""The writing toolset: write, edit, create, move, copy (access "write") and delete (access "delete").

None of these tools is registered unless the operator grants its access (`--allow-write`, and
`--allow-delete` for delete), so a read-only server neither lists nor serves them. Every change checks the
operator's rules on the canonical path first; writes are atomic (see the roots module). `delete` asks the
user through the layer's confirmation (`confirm=`) when the client can ask.
"""

from __future__ import annotations

import stat
import time
from typing import Annotated

from pydantic import BaseModel, Field

from patchbay_common.client_roots import AllowedRoots
from patchbay_common.errors import UserError
from patchbay_common.toolsets import Toolset
from patchbay_filesystem import textfiles
from patchbay_filesystem.deps import Deps, in_thread, readable, tree_entries, writable

tools = Toolset("writing", "Change files: write, edit, create, move, copy, delete.")

WRITE = "write"
DELETE = "delete"

_EDIT_MAX_BYTES = 32 * 1024 * 1024
_DIFF_ROOM = 400  # characters of the output limit kept for the dry-run line, the fences and the cut marker


class EditOperation(BaseModel):
    """One replacement in edit_file."""

    old_text: str = Field(description="Exact text to find (it must occur once unless replace_all is set).")
    new_text: str = Field(description="Text to put in its place.")
    replace_all: bool = Field(False, description="Replace every occurrence instead of exactly one.")


@tools.tool(access=WRITE, destructive=True, idempotent=True, structured_output=False)
async def write_file(
    deps: Deps,
    roots: AllowedRoots,
    path: Annotated[str, Field(description="File to create or overwrite.")],
    content: Annotated[str, Field(description="The complete new text (UTF-8).")],
) -> str:
    """Create a file, or replace an existing file's whole content; return what was written.

    The write is atomic: a temporary file in the same directory is renamed over the target, so a
    failure leaves the old content intact. Parent directories must exist.
    """

    def work() -> str:
        writable(deps.policy, roots, path)
        written = roots.write_bytes(path, content.encode("utf-8"))
        return f"Wrote {len(content.encode('utf-8'))} bytes to {written}."

    return await in_thread(work, abandon=False)


@tools.tool(access=WRITE, destructive=True, idempotent=False, structured_output=False)
async def edit_file(
    deps: Deps,
    roots: AllowedRoots,
    path: Annotated[str, Field(description="Text file to edit.")],
    edits: Annotated[list[EditOperation], Field(min_length=1, description="Replacements, in order.")],
    dry_run: Annotated[bool, Field(description="Return the diff without writing.")] = False,
) -> str:
    """Replace exact text in a file and return the change as a unified diff.

    Edits apply in order; each old_text must match exactly once (or, failing that, once when
    leading and trailing whitespace of each line is ignored). If any edit fails, nothing is
    written. The file keeps its encoding and line endings; the write is atomic.
    """
    deadline = time.monotonic() + deps.walk_seconds

    def compute() -> tuple[str, str, str, str]:
        canonical = writable(deps.policy, roots, path)
        data = roots.read_bytes(path, _EDIT_MAX_BYTES + 1)
        if len(data) > _EDIT_MAX_BYTES:
            raise UserError(f"{canonical} is larger than 32 MB; edit_file works on smaller files.")
        before, encoding = textfiles.decode(data, None, canonical)
        after = textfiles.apply_edits(
            before,
            [textfiles.Edit(e.old_text, e.new_text, e.replace_all) for e in edits],
            canonical,
            deadline=deadline,
        )
        room = max(1000, deps.max_chars - _DIFF_ROOM)
        diff = textfiles.fenced_diff(before, after, canonical, max_chars=room, deadline=deadline)
        return before, after, encoding, diff

    # Matching and diffing may be abandoned at the call's deadline (nothing is written yet); the write
    # itself is not, so a call that answers "stopped" never changes the file afterwards.
    before, after, encoding, diff = await in_thread(compute)
    if dry_run:
        return f"Dry run; nothing was written.\n{diff}"
    if after == before:
        return diff
    await in_thread(roots.write_bytes, path, textfiles.encode(after, encoding), abandon=False)
    return diff


@tools.tool(access=WRITE, destructive=False, idempotent=True, structured_output=False)
async def create_directory(
    deps: Deps, roots: AllowedRoots, path: Annotated[str, Field(description="Directory to create.")]
) -> str:
    """Create a directory and any missing parents; succeed quietly if it already exists."""

    def work() -> str:
        writable(deps.policy, roots, path, parents=True)
        return f"Directory ready: {roots.mkdir(path)}"

    return await in_thread(work, abandon=False)


@tools.tool(access=WRITE, destructive=True, idempotent=False, structured_output=False)
async def move_file(
    deps: Deps,
    roots: AllowedRoots,
    source: Annotated[str, Field(description="File or directory to move.")],
    destination: Annotated[str, Field(description="New path; nothing may exist there yet.")],
) -> str:
    """Move or rename a file or directory; fail if the destination already exists."""

    def work() -> str:
        with roots.locate(source, follow_final=False) as loc:
            canonical, is_dir = loc.path, loc.is_dir
        if is_dir:
            deps.policy.check_tree_write(canonical, tree_entries(roots, source))
        else:
            deps.policy.check_write(canonical)
        writable(deps.policy, roots, destination)
        moved_from, moved_to = roots.move(source, destination)
        return f"Moved {moved_from} to {moved_to}."

    return await in_thread(work, abandon=False)


@tools.tool(access=WRITE, destructive=False, idempotent=False, structured_output=False)
async def copy_file(
    deps: Deps,
    roots: AllowedRoots,
    source: Annotated[str, Field(description="File or directory to copy.")],
    destination: Annotated[str, Field(description="New path; nothing may exist there yet.")],
) -> str:
    """Copy a file, or a directory with everything in it, to a new path; return what was copied.

    Links and special files inside a copied directory are skipped and counted. The copy appears
    at the destination only when complete.
    """

    def work() -> str:
        canonical, info = readable(deps.policy, roots, source)
        if stat.S_ISDIR(info.st_mode) and not deps.policy.empty:
            for rel, is_dir in tree_entries(roots, source):
                deps.policy.check_read(f"{canonical}/{rel}", is_dir)
        writable(deps.policy, roots, destination)
        done = roots.copy(source, destination)
        skipped = f"; {done.skipped} links or special files skipped" if done.skipped else ""
        return f"Copied {done.source} to {done.destination} ({done.files} files{skipped})."

    return await in_thread(work, abandon=False)


def ask_before_delete(deps: Deps, roots: AllowedRoots, path: str, recursive: bool = False) -> str | None:
    """The question to ask before deleting, or None for a path the tool itself will refuse."""
    try:
        canonical, info = roots.stat(path, follow_final=False)
    except UserError:
        return None  # the tool reports the problem itself, and nothing is deleted
    what = "the directory" if stat.S_ISDIR(info.st_mode) else "the file"
    inside = " and everything inside it" if recursive and stat.S_ISDIR(info.st_mode) else ""
    return f"Delete {what} {canonical}{inside}? This cannot be undone."


@tools.tool(
    access=DELETE, destructive=True, idempotent=False, confirm=ask_before_delete, structured_output=False
)
async def delete(
    deps: Deps,
    roots: AllowedRoots,
    path: Annotated[str, Field(description="File, link or directory to delete.")],
    recursive: Annotated[bool, Field(description="Delete a non-empty directory with its contents.")] = False,
) -> str:
    """Delete a file, a link (not its target) or a directory; return what was deleted.

    The user is asked to confirm first when the client supports elicitation.
    """

    def work() -> str:
        with roots.locate(path, follow_final=False) as loc:
            canonical, is_dir = loc.path, loc.is_dir
        if is_dir:
            deps.policy.check_tree_write(canonical, tree_entries(roots, path))
        else:
            deps.policy.check_write(canonical)
        deleted, kind = roots.delete(path, recursive=recursive)
        return f"Deleted {kind} {deleted}."

    return await in_thread(work, abandon=False)
