"""patchbay-filesystem: read, search, edit and watch local files inside the directories the operator allows.

The directories given on the command line are the outer bound; a client's roots narrow them per call and
never widen them. Every path a model sends goes through `patchbay_common.roots` (links resolved by the
server itself, no `..`/prefix-sibling/NUL/FIFO escapes, descriptor-relative operations) and then through
the operator's per-path rules in `policy.py` (hidden globs, write-protected globs, read-only subtrees).
It is read-only unless started with `--allow-write`; the write tools are not listed otherwise, and
`delete` needs `--allow-delete` too and asks the user through elicitation when the client can. Refusals
and bad input come back as `isError` results that say what to do next; every listing, search and read is
capped with a marker saying how to continue. Files are also a `file:///{+path}` resource template with
`resources/subscribe` (handshake era) and `subscriptions/listen` (2026-07-28) change notifications. Both
protocol eras, over stdio, SSE and streamable HTTP.
"""

import base64
import functools
import json
import os
import stat
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio.to_thread
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, Elicit, Resolve
from mcp_types import (
    AudioContent,
    BlobResourceContents,
    EmbeddedResource,
    ImageContent,
)
from pydantic import BaseModel, Field
from pydantic_settings import CliPositionalArg

from patchbay_common.annotations import hints
from patchbay_common.app import PatchbayServer, serve
from patchbay_common.client_roots import AllowedRoots
from patchbay_common.errors import NotFound, UserError
from patchbay_common.limits import cap_rows, human_size
from patchbay_common.logs import get_logger
from patchbay_common.roots import Roots, path_from_uri
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_filesystem import __version__, media, textfiles, walking
from patchbay_filesystem.policy import Policy
from patchbay_filesystem.resources import register_resources

log = get_logger("patchbay.filesystem")
T = TypeVar("T")

_INLINE_BYTES = 256 * 1024  # files up to this size are read on the event loop, without a thread hop
_LIST_SETTINGS = ("DIRECTORIES", "DENY", "DENY_WRITE", "READ_ONLY_PATH")


class Settings(CommonSettings):
    """Flags of patchbay-filesystem (each also PATCHBAY_FILESYSTEM_<FLAG>)."""

    model_config = settings_config("filesystem")

    directories: CliPositionalArg[list[str]] = Field(
        default_factory=list,
        description="Directories the server may use (env: a list separated by ':').",
    )
    allow_write: bool = Field(
        False, description="List and allow the tools that change files (write, edit, create, move, copy)."
    )
    allow_delete: bool = Field(False, description="Also list the delete tool (needs --allow-write).")
    deny: list[str] = Field(
        default_factory=list,
        description="Gitignore-style glob of paths that cannot be read, listed or changed "
        "(repeatable; e.g. .env, *.pem).",
    )
    deny_write: list[str] = Field(
        [".git"],
        description="Gitignore-style glob of paths that can be read but not changed (repeatable; "
        "default .git, whose hooks and config run code on the next git command).",
    )
    read_only_path: list[str] = Field(
        default_factory=list, description="A directory whose whole subtree cannot be changed (repeatable)."
    )
    max_media_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest file read_media_file and resource reads return."
    )
    max_search_file_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Files larger than this are skipped by search_content."
    )


class EditOperation(BaseModel):
    """One replacement in edit_file."""

    old_text: str = Field(description="Exact text to find (it must occur once unless replace_all is set).")
    new_text: str = Field(description="Text to put in its place.")
    replace_all: bool = Field(False, description="Replace every occurrence instead of exactly one.")


class FileInfo(BaseModel):
    """Metadata of one path."""

    path: str
    type: str
    size: int
    size_human: str
    modified: str
    accessed: str
    created: str
    permissions: str
    mime_type: str | None = None
    link_target: str | None = None


class ConfirmDelete(BaseModel):
    """The user's answer to a delete confirmation."""

    confirm: bool = Field(description="Delete it")


def usable_directories(given: list[str]) -> list[str]:
    """The given directories that exist; log each one that does not, and fail when none is left."""
    usable, problems = [], []
    for directory in given:
        path = os.path.abspath(os.path.expanduser(directory))
        if os.path.isdir(path):
            usable.append(path)
            continue
        reason = "is not a directory" if os.path.exists(path) else "does not exist"
        problems.append(f"{path} {reason}")
        log.warning("allowed directory skipped", directory=path, reason=reason)
    if not usable:
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise ValueError(
            f"no usable directory to serve{detail}: pass at least one existing directory, "
            "e.g. patchbay-filesystem ~/projects"
        )
    return usable


async def _thread(fn: Callable[..., T], *args: Any, abandon: bool = True, **kwargs: Any) -> T:
    """Run blocking file work in a worker thread so the event loop (and the call deadline) stay live."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), abandon_on_cancel=abandon)


def build(settings: Settings) -> PatchbayServer:
    """The filesystem server for `settings`: tools, the file resource template, and subscriptions."""
    roots = Roots(usable_directories(settings.directories))
    policy = Policy(
        roots.directories,
        deny=settings.deny,
        deny_write=settings.deny_write,
        read_only=settings.read_only_path,
    )
    if settings.allow_delete and not settings.allow_write:
        raise ValueError("--allow-delete needs --allow-write as well")
    mcp = PatchbayServer(
        "patchbay-filesystem",
        version=__version__,
        settings=settings,
        roots=roots,
        instructions="Files inside the allowed directories (see list_allowed_directories).",
    )
    max_chars = settings.max_output_chars
    walk_seconds = max(1.0, settings.tool_timeout - 2)

    def readable(roots: Roots, path: str) -> tuple[str, os.stat_result]:
        canonical, info = roots.stat(path)
        policy.check_read(canonical, stat.S_ISDIR(info.st_mode))
        return canonical, info

    def target(roots: Roots, path: str, parents: bool, follow: bool) -> tuple[str, bool]:
        """The canonical path `path` names (it need not exist; with `parents`, nor its parents)."""
        try:
            with roots.locate(path, missing_ok=True, follow_final=follow) as loc:
                return loc.path, loc.is_dir
        except NotFound:
            head, tail = os.path.split(os.path.normpath(path_from_uri(path)))
            if not parents or not head or not tail or tail == ".." or head == path:
                raise
            parent, _ = target(roots, head, parents, follow)
            return f"{parent.rstrip('/')}/{tail}", False

    def writable(roots: Roots, path: str, parents: bool = False) -> str:
        """Check the rules for changing `path`: the name itself and, for a link, what it points to."""
        canonical, is_dir = target(roots, path, parents, follow=False)
        policy.check_write(canonical, is_dir)
        resolved, resolved_is_dir = target(roots, path, parents, follow=True)
        if resolved != canonical:
            policy.check_write(resolved, resolved_is_dir)
        return canonical

    # --- reading ------------------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=True), structured_output=False)
    async def read_text_file(
        roots: AllowedRoots,
        path: Annotated[str, Field(description="File to read.")],
        head: Annotated[int | None, Field(ge=1, description="Only the first N lines.")] = None,
        tail: Annotated[int | None, Field(ge=1, description="Only the last N lines.")] = None,
        offset: Annotated[
            int | None, Field(ge=1, description="First line to return (1 = first line).")
        ] = None,
        limit: Annotated[int | None, Field(ge=1, description="Most lines to return from offset.")] = None,
        line_numbers: Annotated[bool, Field(description="Prefix each line with its number.")] = False,
        encoding: Annotated[str | None, Field(description="Text encoding; default: BOM or UTF-8.")] = None,
    ) -> str:
        """Return the text of a file, whole or a window of lines (head, tail, or offset and limit).

        Output longer than the server's limit ends with a marker giving the offset to continue from.
        Tail lines of a long file are numbered from the end (-1 is the last line).
        """
        if head is not None and tail is not None:
            raise UserError("head and tail cannot be used together.", hint="Pass one of them.")
        if tail is not None and (offset is not None or limit is not None):
            raise UserError("tail cannot be combined with offset or limit.", hint="Pass tail alone.")
        if head is not None and limit is not None:
            raise UserError("head and limit mean the same here; pass one of them.")

        canonical, handle = roots.open_read_with_path(path)  # FIFOs and devices are refused here
        try:
            policy.check_read(canonical)
        except UserError:
            handle.close()
            raise

        def work() -> str:
            with handle:
                if tail is not None:
                    window = textfiles.read_tail(
                        handle, count=tail, max_chars=max_chars, encoding=encoding, shown=canonical
                    )
                else:
                    window = textfiles.read_head(
                        handle,
                        offset=offset or 1,
                        limit=head or limit,
                        max_chars=max_chars,
                        encoding=encoding,
                        shown=canonical,
                    )
            return window.render(line_numbers)

        size = os.fstat(handle.fileno()).st_size
        if size <= _INLINE_BYTES or (tail is not None and tail <= 10_000 and encoding is None):
            return work()  # a small file, or a tail (a bounded read at the end), costs less than a thread hop
        return await _thread(work)

    @mcp.tool(annotations=hints(read_only=True))
    async def read_media_file(
        roots: AllowedRoots, path: Annotated[str, Field(description="Image, audio or other file.")]
    ) -> list[ImageContent | AudioContent | EmbeddedResource]:
        """Return a file as base64: an image block, an audio block, or else an embedded resource blob."""

        def work() -> tuple[str, bytes]:
            canonical, info = readable(roots, path)
            if stat.S_ISREG(info.st_mode) and info.st_size > settings.max_media_bytes:
                raise UserError(
                    f"{canonical} is {human_size(info.st_size)}, more than the "
                    f"{human_size(settings.max_media_bytes)} this server returns in one piece.",
                    hint="Use get_file_info for its metadata; the operator can raise --max-media-bytes.",
                )
            return canonical, roots.read_bytes(path, settings.max_media_bytes)

        canonical, data = await _thread(work)
        mime = media.mime_type(canonical)
        encoded = base64.b64encode(data).decode("ascii")
        if mime.startswith("image/"):
            return [ImageContent(data=encoded, mime_type=mime)]
        if mime.startswith("audio/"):
            return [AudioContent(data=encoded, mime_type=mime)]
        blob = BlobResourceContents(uri=f"file://{canonical}", mime_type=mime, blob=encoded)
        return [EmbeddedResource(resource=blob)]

    @mcp.tool(annotations=hints(read_only=True), structured_output=False)
    async def read_multiple_files(
        roots: AllowedRoots,
        paths: Annotated[list[str], Field(min_length=1, max_length=100, description="Files to read.")],
    ) -> str:
        """Return several text files, each as `path:` then its text, separated by `---`.

        A file that cannot be read shows its error in place; the others are still returned. Each file
        gets an equal share of the output limit.
        """
        share = max(500, max_chars // len(paths))

        def read_one(path: str) -> str:
            try:
                canonical, _ = readable(roots, path)
                with roots.open_read(path) as handle:
                    window = textfiles.read_head(
                        handle, offset=1, limit=None, max_chars=share, encoding=None, shown=canonical
                    )
                text = window.render(False)
                if window.truncated:
                    text += f" (read_text_file path={canonical} for the rest)"
                return f"{canonical}:\n{text}\n"
            except UserError as exc:
                return f"{path}: Error - {exc}"

        parts = await _thread(lambda: [read_one(p) for p in paths])
        return "\n---\n".join(parts)

    # --- listing ------------------------------------------------------------------------------------------

    def entries_of(roots: Roots, path: str, offset: int) -> tuple[str, list[Any]]:
        canonical, info = readable(roots, path)
        if not stat.S_ISDIR(info.st_mode):
            raise UserError(f"{canonical} is a file, not a directory.", hint="Read it with read_text_file.")
        canonical, entries = roots.list_dir(path)
        if not policy.empty:
            entries = [
                e for e in entries if not policy.hidden(f"{canonical}/{e.name}", e.kind == "directory")
            ]
        if offset and offset >= len(entries):
            raise UserError(
                f"offset {offset} is past the end of {canonical} ({len(entries)} entries).",
                hint="There are no more entries.",
            )
        return canonical, entries

    tag = {"directory": "[DIR]", "file": "[FILE]", "symlink": "[LINK]", "other": "[OTHER]"}

    @mcp.tool(annotations=hints(read_only=True), structured_output=False)
    async def list_directory(
        roots: AllowedRoots,
        path: Annotated[str, Field(description="Directory to list.")],
        offset: Annotated[int, Field(ge=0, description="Entries to skip (from a previous cut).")] = 0,
    ) -> str:
        """Return the entries of a directory, one per line: `[DIR] name`, `[FILE] name` or `[LINK] name`."""
        canonical, entries = await _thread(entries_of, roots, path, offset)
        rows = [f"{tag[e.kind]} {e.name}" for e in entries[offset:]]
        capped = cap_rows(rows, max_rows=1000, max_chars=max_chars, offset=offset)
        if not entries:
            return f"{canonical} is empty."
        return "\n".join([*capped.rows, capped.marker()]).rstrip("\n")

    @mcp.tool(annotations=hints(read_only=True), structured_output=False)
    async def list_directory_with_sizes(
        roots: AllowedRoots,
        path: Annotated[str, Field(description="Directory to list.")],
        sort_by: Annotated[
            Literal["name", "size"], Field(description="Order: name, or size (largest first).")
        ] = "name",
        offset: Annotated[int, Field(ge=0, description="Entries to skip (from a previous cut).")] = 0,
    ) -> str:
        """Return the entries of a directory with file sizes, then file and directory counts and the total."""
        _, entries = await _thread(entries_of, roots, path, offset)
        if sort_by == "size":
            entries = sorted(entries, key=lambda e: (-e.size if e.kind == "file" else 1, e.name))
        rows = [
            f"{tag[e.kind]} {e.name:<30} {human_size(e.size) if e.kind == 'file' else ''}".rstrip()
            for e in entries[offset:]
        ]
        capped = cap_rows(rows, max_rows=1000, max_chars=max_chars, offset=offset)
        files = [e for e in entries if e.kind == "file"]
        dirs = sum(1 for e in entries if e.kind == "directory")
        summary = (
            f"Total: {len(files)} files, {dirs} directories\n"
            f"Combined size: {human_size(sum(e.size for e in files))}"
        )
        return "\n".join([*capped.rows, capped.marker(), "", summary]).replace("\n\n\n", "\n\n").lstrip("\n")

    @mcp.tool(annotations=hints(read_only=True), structured_output=False)
    async def directory_tree(
        roots: AllowedRoots,
        path: Annotated[str, Field(description="Directory at the top of the tree.")],
        exclude_patterns: Annotated[
            list[str], Field(description="Globs to leave out (a name such as node_modules, or a/b/**).")
        ] = [],  # noqa: B006 - pydantic copies defaults
        max_depth: Annotated[
            int | None, Field(ge=1, description="Levels to descend (1 = only path).")
        ] = None,
    ) -> str:
        """Return the tree under a directory as JSON: [{name, type, children}], filled level by level.

        Links are listed (type symlink) but not followed. When the output limit is reached, directories
        not (fully) expanded carry "truncated": true.
        """
        tree = await _thread(
            walking.build_tree,
            roots,
            path,
            policy=policy,
            exclude=exclude_patterns,
            max_depth=max_depth,
            max_chars=max_chars,
            seconds=walk_seconds,
        )
        text = tree.to_json()
        if tree.truncated or tree.timed_out:
            why = "the output limit" if tree.truncated else "the time limit"
            text += (
                f'\n[truncated by {why}: {tree.entries} entries shown; directories marked "truncated" were '
                "not (fully) expanded; call directory_tree on one of them to see the rest]"
            )
        return text

    # --- searching ----------------------------------------------------------------------------------------

    @mcp.tool(annotations=hints(read_only=True), structured_output=False)
    async def search_files(
        roots: AllowedRoots,
        path: Annotated[str, Field(description="Directory to search under.")],
        pattern: Annotated[
            str,
            Field(
                description="Glob: a name pattern such as *.py (any depth) or a path glob like src/**/*.ts."
            ),
        ],
        exclude_patterns: Annotated[list[str], Field(description="Globs to leave out.")] = [],  # noqa: B006
        offset: Annotated[int, Field(ge=0, description="Matches to skip (from a previous cut).")] = 0,
    ) -> str:
        """Return the full paths of files and directories whose names match a glob (names, not contents)."""
        found = await _thread(
            walking.search_names,
            roots,
            path,
            pattern,
            exclude=exclude_patterns,
            policy=policy,
            offset=offset,
            limit=500,
            seconds=walk_seconds,
        )
        rows = found.paths
        capped = cap_rows(rows, max_rows=500, max_chars=max_chars, offset=offset, more_available=found.more)
        lines = list(capped.rows) or ["No matches found."]
        if capped.truncated:
            lines.append(capped.marker())
        if found.timed_out:
            lines.append("[stopped at the time limit: results may be incomplete; search a narrower path]")
        return "\n".join(lines)

    @mcp.tool(annotations=hints(read_only=True), structured_output=False)
    async def search_content(
        roots: AllowedRoots,
        path: Annotated[str, Field(description="Directory (or tree) to search under.")],
        pattern: Annotated[
            str, Field(description="Regular expression (or text with literal=true), per line.")
        ],
        literal: Annotated[bool, Field(description="Treat pattern as plain text.")] = False,
        case_sensitive: Annotated[
            bool | None, Field(description="Default: case-sensitive only if pattern has upper case.")
        ] = None,
        include: Annotated[list[str], Field(description="Only files matching these globs (e.g. *.py).")] = [],  # noqa: B006
        exclude_patterns: Annotated[list[str], Field(description="Globs to leave out.")] = [],  # noqa: B006
        context_lines: Annotated[int, Field(ge=0, le=20, description="Lines of context around a match.")] = 0,
        respect_gitignore: Annotated[
            bool, Field(description="Skip files .gitignore excludes, and .git.")
        ] = True,
        max_results: Annotated[int, Field(ge=1, le=1000, description="Most matching lines to return.")] = 100,
        offset: Annotated[int, Field(ge=0, description="Matching lines to skip (from a previous cut).")] = 0,
    ) -> str:
        """Return the lines of text files that match a pattern, grouped by file as `N: line`.

        Context lines show as `N- line`. Binary files and files over the size limit are skipped and
        counted; links are not followed.
        """
        regex = walking.compile_regex(pattern, literal=literal, case_sensitive=case_sensitive)
        found = await _thread(
            walking.grep,
            roots,
            path,
            regex,
            policy=policy,
            include=include,
            exclude=exclude_patterns,
            respect_gitignore=respect_gitignore,
            context=context_lines,
            offset=offset,
            limit=max_results,
            max_chars=max_chars,
            max_file_bytes=settings.max_search_file_bytes,
            seconds=walk_seconds,
        )
        out = list(found.blocks) or [f"No matches in {found.files_searched} files searched."]
        notes = []
        if found.more:
            notes.append(
                f"[truncated: {found.matches} matching lines shown; call again with "
                f"offset={found.next_offset} for more]"
            )
        if found.timed_out:
            notes.append("[stopped at the time limit: results may be incomplete; search a narrower path]")
        skipped = []
        if found.skipped_binary:
            skipped.append(f"{found.skipped_binary} binary")
        if found.skipped_large:
            skipped.append(f"{found.skipped_large} larger than {human_size(settings.max_search_file_bytes)}")
        if skipped:
            notes.append(f"[files skipped: {', '.join(skipped)}]")
        return "\n".join([*out, *notes])

    @mcp.tool(annotations=hints(read_only=True))
    async def get_file_info(
        roots: AllowedRoots, path: Annotated[str, Field(description="File, directory or link.")]
    ) -> FileInfo:
        """Return metadata of a path: type, size, times (UTC), permissions, MIME type.

        A symbolic link is described by what it points to, and its target is given as link_target.
        """

        def work() -> FileInfo:
            canonical, info = readable(roots, path)  # a link is described by its target, which must be inside
            kind = media.kind_of(info)
            target = None
            with roots.locate(path, follow_final=False) as loc:
                if loc.stat is not None and stat.S_ISLNK(loc.stat.st_mode):
                    target = os.readlink(loc.name, dir_fd=loc.parent_fd)
            return FileInfo(
                path=canonical,
                type=kind,
                size=info.st_size,
                size_human=human_size(info.st_size),
                modified=media.timestamp(info.st_mtime),
                accessed=media.timestamp(info.st_atime),
                created=media.timestamp(getattr(info, "st_birthtime", info.st_ctime)),
                permissions=media.describe_mode(info),
                mime_type=media.mime_type(canonical) if kind == "file" else None,
                link_target=target,
            )

        return await _thread(work)

    @mcp.tool(annotations=hints(read_only=True), structured_output=False)
    async def list_allowed_directories(roots: AllowedRoots) -> str:
        """Return the directories this server may use now, whether writing is on, and the operator's rules."""
        lines = ["Allowed directories:", *roots.directories]
        if not roots.directories:
            lines.append("(none: the client's roots do not overlap the directories this server was given)")
        lines.append(f"Writing: {'on' if settings.allow_write else 'off (read-only server)'}")
        lines.extend(policy.describe())
        return "\n".join(lines)

    # --- writing (only listed with --allow-write) ------------------------------------------------------

    if settings.allow_write:

        @mcp.tool(
            annotations=hints(read_only=False, destructive=True, idempotent=True), structured_output=False
        )
        async def write_file(
            roots: AllowedRoots,
            path: Annotated[str, Field(description="File to create or overwrite.")],
            content: Annotated[str, Field(description="The complete new text (UTF-8).")],
        ) -> str:
            """Create a file, or replace an existing file's whole content; return what was written.

            The write is atomic: a temporary file in the same directory is renamed over the target, so a
            failure leaves the old content intact. Parent directories must exist.
            """

            def work() -> str:
                writable(roots, path)
                written = roots.write_bytes(path, content.encode("utf-8"))
                return f"Wrote {len(content.encode('utf-8'))} bytes to {written}."

            return await _thread(work, abandon=False)

        @mcp.tool(
            annotations=hints(read_only=False, destructive=True, idempotent=False), structured_output=False
        )
        async def edit_file(
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

            def work() -> str:
                canonical = writable(roots, path)
                data = roots.read_bytes(path, 32 * 1024 * 1024 + 1)
                if len(data) > 32 * 1024 * 1024:
                    raise UserError(f"{canonical} is larger than 32 MB; edit_file works on smaller files.")
                before, encoding = textfiles.decode(data, None, canonical)
                after = textfiles.apply_edits(
                    before, [textfiles.Edit(e.old_text, e.new_text, e.replace_all) for e in edits], canonical
                )
                diff = textfiles.fenced_diff(before, after, canonical)
                if dry_run or after == before:
                    return diff if not dry_run else f"Dry run; nothing was written.\n{diff}"
                roots.write_bytes(path, textfiles.encode(after, encoding))
                return diff

            return await _thread(work, abandon=False)

        @mcp.tool(
            annotations=hints(read_only=False, destructive=False, idempotent=True), structured_output=False
        )
        async def create_directory(
            roots: AllowedRoots, path: Annotated[str, Field(description="Directory to create.")]
        ) -> str:
            """Create a directory and any missing parents; succeed quietly if it already exists."""

            def work() -> str:
                writable(roots, path, parents=True)
                return f"Directory ready: {roots.mkdir(path)}"

            return await _thread(work, abandon=False)

        @mcp.tool(
            annotations=hints(read_only=False, destructive=True, idempotent=False), structured_output=False
        )
        async def move_file(
            roots: AllowedRoots,
            source: Annotated[str, Field(description="File or directory to move.")],
            destination: Annotated[str, Field(description="New path; nothing may exist there yet.")],
        ) -> str:
            """Move or rename a file or directory; fail if the destination already exists."""

            def work() -> str:
                with roots.locate(source, follow_final=False) as loc:
                    canonical, is_dir = loc.path, loc.is_dir
                if is_dir:
                    policy.check_tree_write(canonical, _tree_entries(roots, source))
                else:
                    policy.check_write(canonical)
                writable(roots, destination)
                moved_from, moved_to = roots.move(source, destination)
                return f"Moved {moved_from} to {moved_to}."

            return await _thread(work, abandon=False)

        @mcp.tool(
            annotations=hints(read_only=False, destructive=False, idempotent=False), structured_output=False
        )
        async def copy_file(
            roots: AllowedRoots,
            source: Annotated[str, Field(description="File or directory to copy.")],
            destination: Annotated[str, Field(description="New path; nothing may exist there yet.")],
        ) -> str:
            """Copy a file, or a directory with everything in it, to a new path; return what was copied.

            Links and special files inside a copied directory are skipped and counted. The copy appears
            at the destination only when complete.
            """

            def work() -> str:
                canonical, info = readable(roots, source)
                if stat.S_ISDIR(info.st_mode) and not policy.empty:
                    for rel, is_dir in _tree_entries(roots, source):
                        policy.check_read(f"{canonical}/{rel}", is_dir)
                writable(roots, destination)
                done = roots.copy(source, destination)
                skipped = f"; {done.skipped} links or special files skipped" if done.skipped else ""
                return f"Copied {done.source} to {done.destination} ({done.files} files{skipped})."

            return await _thread(work, abandon=False)

    if settings.allow_write and settings.allow_delete:

        def confirm_delete(
            ctx: Context, roots: AllowedRoots, path: str, recursive: bool = False
        ) -> Elicit[ConfirmDelete] | ConfirmDelete:
            """Ask the user before deleting, when the client can ask; a bad path is reported by the tool."""
            caps = ctx.client_capabilities
            if caps is None or caps.elicitation is None:
                return ConfirmDelete(confirm=True)
            try:
                canonical, info = roots.stat(path, follow_final=False)
            except UserError:
                return ConfirmDelete(confirm=True)  # the tool body reports the problem itself
            what = "the directory" if stat.S_ISDIR(info.st_mode) else "the file"
            inside = " and everything inside it" if recursive and stat.S_ISDIR(info.st_mode) else ""
            return Elicit(f"Delete {what} {canonical}{inside}? This cannot be undone.", ConfirmDelete)

        @mcp.tool(
            annotations=hints(read_only=False, destructive=True, idempotent=False), structured_output=False
        )
        async def delete(
            roots: AllowedRoots,
            confirmation: Annotated[ElicitationResult[ConfirmDelete], Resolve(confirm_delete)],
            path: Annotated[str, Field(description="File, link or directory to delete.")],
            recursive: Annotated[
                bool, Field(description="Delete a non-empty directory with its contents.")
            ] = False,
        ) -> str:
            """Delete a file, a link (not its target) or a directory; return what was deleted.

            The user is asked to confirm first when the client supports elicitation.
            """
            if not (isinstance(confirmation, AcceptedElicitation) and confirmation.data.confirm):
                raise UserError(
                    f"The user did not confirm deleting {path}; nothing was deleted.",
                    hint="Ask the user before trying again.",
                )

            def work() -> str:
                with roots.locate(path, follow_final=False) as loc:
                    canonical, is_dir = loc.path, loc.is_dir
                if is_dir:
                    policy.check_tree_write(canonical, _tree_entries(roots, path))
                else:
                    policy.check_write(canonical)
                deleted, kind = roots.delete(path, recursive=recursive)
                return f"Deleted {kind} {deleted}."

            return await _thread(work, abandon=False)

    # --- resources and subscriptions (resources.py) ------------------------------------------------

    mcp.file_watcher = register_resources(  # type: ignore[attr-defined]  # for tests and forks
        mcp, roots, policy, readable, settings.max_media_bytes
    )

    return mcp


def _tree_entries(roots: Roots, path: str) -> list[tuple[str, bool]]:
    """Every path under a directory (relative, with whether it is a directory), for rule checks."""
    found: list[tuple[str, bool]] = []
    for scan in roots.walk(path):
        for name, kind in scan.entries:
            found.append((f"{scan.rel}/{name}" if scan.rel else name, kind == "directory"))
            if len(found) > 200_000:
                raise UserError(f"{path} holds more than 200000 entries; move or delete smaller parts.")
    return found


def _env_lists() -> None:
    """Accept `a:b:c` (os.pathsep-separated) as well as JSON for the list-valued environment variables."""
    for name in _LIST_SETTINGS:
        key = f"PATCHBAY_FILESYSTEM_{name}"
        value = os.environ.get(key)
        if value is not None and not value.lstrip().startswith("["):
            os.environ[key] = json.dumps([part for part in value.split(os.pathsep) if part])


def main() -> None:
    """Console entry point: `patchbay-filesystem [flags] DIRECTORY...`."""
    _env_lists()
    serve(build, Settings)


__all__ = ["Settings", "build", "main", "usable_directories"]
