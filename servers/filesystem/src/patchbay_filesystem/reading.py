"""The reading toolset: file text (whole, line windows, tails), media as base64, several files, metadata.

File text is returned as it is on disk, unframed, as the official server returns it: a model edits files by
quoting their exact text, which a frame or stripped characters would break (see the README, Security).
Metadata carries names and link targets from the disk, so it is declared outside content.
"""

from __future__ import annotations

import base64
import os
import stat
import time
from typing import Annotated

from mcp_types import AudioContent, BlobResourceContents, EmbeddedResource, ImageContent
from pydantic import BaseModel, Field

from patchbay_common.client_roots import AllowedRoots
from patchbay_common.errors import UserError
from patchbay_common.limits import human_size
from patchbay_common.notify import Progress
from patchbay_common.toolsets import Toolset
from patchbay_filesystem import media, textfiles
from patchbay_filesystem.deps import Deps, in_thread, in_thread_reading, readable

tools = Toolset("reading", "Read files: text, line windows, media, metadata.")

_INLINE_BYTES = 256 * 1024  # files up to this size are read on the event loop, without a thread hop


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


@tools.tool(structured_output=False)
async def read_text_file(
    deps: Deps,
    roots: AllowedRoots,
    path: Annotated[str, Field(description="File to read.")],
    head: Annotated[int | None, Field(ge=1, description="Only the first N lines.")] = None,
    tail: Annotated[int | None, Field(ge=1, description="Only the last N lines.")] = None,
    offset: Annotated[int | None, Field(ge=1, description="First line to return (1 = first line).")] = None,
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
        deps.policy.check_read(canonical)
    except UserError:
        handle.close()
        raise

    deadline = time.monotonic() + deps.walk_seconds

    def work() -> str:
        with handle:
            if tail is not None:
                window = textfiles.read_tail(
                    handle, count=tail, max_chars=deps.max_chars, encoding=encoding, shown=canonical
                )
            else:
                window = textfiles.read_head(
                    handle,
                    offset=offset or 1,
                    limit=head or limit,
                    max_chars=deps.max_chars,
                    encoding=encoding,
                    shown=canonical,
                    deadline=deadline,
                )
        return window.render(line_numbers)

    size = os.fstat(handle.fileno()).st_size
    if size <= _INLINE_BYTES or (tail is not None and textfiles.tail_budget(deps.max_chars) <= _INLINE_BYTES):
        # A small file, or a tail (it reads at most tail_budget bytes, whatever the file's shape), costs
        # less than a thread hop; anything else runs in a worker thread and stops at `deadline`.
        return work()
    async with Progress(total=size, unit="bytes", message=f"reading {canonical}") as progress:
        return await in_thread_reading(handle.fileno(), progress, work)


@tools.tool()
async def read_media_file(
    deps: Deps, roots: AllowedRoots, path: Annotated[str, Field(description="Image, audio or other file.")]
) -> list[ImageContent | AudioContent | EmbeddedResource]:
    """Return a file as base64: an image block, an audio block, or else an embedded resource blob."""

    def work() -> tuple[str, bytes]:
        canonical, info = readable(deps.policy, roots, path)
        if stat.S_ISREG(info.st_mode) and info.st_size > deps.max_media_bytes:
            raise UserError(
                f"{canonical} is {human_size(info.st_size)}, more than the "
                f"{human_size(deps.max_media_bytes)} this server returns in one piece.",
                hint="Use get_file_info for its metadata; the operator can raise --max-media-bytes.",
            )
        return canonical, roots.read_bytes(path, deps.max_media_bytes)

    canonical, data = await in_thread(work)
    mime = media.mime_type(canonical)
    encoded = base64.b64encode(data).decode("ascii")
    if mime.startswith("image/"):
        return [ImageContent(data=encoded, mime_type=mime)]
    if mime.startswith("audio/"):
        return [AudioContent(data=encoded, mime_type=mime)]
    blob = BlobResourceContents(uri=f"file://{canonical}", mime_type=mime, blob=encoded)
    return [EmbeddedResource(resource=blob)]


@tools.tool(structured_output=False)
async def read_multiple_files(
    deps: Deps,
    roots: AllowedRoots,
    paths: Annotated[list[str], Field(min_length=1, max_length=100, description="Files to read.")],
) -> str:
    """Return several text files, each as `path:` then its text, separated by `---`.

    A file that cannot be read shows its error in place; the others are still returned. Each file
    gets an equal share of the output limit.
    """
    share = max(500, deps.max_chars // len(paths))
    deadline = time.monotonic() + deps.walk_seconds

    def read_one(path: str) -> str:
        try:
            canonical, _ = readable(deps.policy, roots, path)
            with roots.open_read(path) as handle:
                window = textfiles.read_head(
                    handle,
                    offset=1,
                    limit=None,
                    max_chars=share,
                    encoding=None,
                    shown=canonical,
                    deadline=deadline,
                )
            text = window.render(False)
            if window.truncated:
                text += f" (read_text_file path={canonical} for the rest)"
            return f"{canonical}:\n{text}\n"
        except UserError as exc:
            return f"{path}: Error - {exc}"

    async with Progress(total=len(paths), unit="files", message="reading files") as progress:

        def read_all() -> list[str]:
            parts = []
            for p in paths:
                if progress.stopped.is_set():  # the call ended: read no further file
                    break
                parts.append(read_one(p))
                progress.advance()
            return parts

        parts = await in_thread(read_all)
    return "\n---\n".join(parts)


@tools.tool(untrusted="file metadata")
async def get_file_info(
    deps: Deps, roots: AllowedRoots, path: Annotated[str, Field(description="File, directory or link.")]
) -> FileInfo:
    """Return metadata of a path: type, size, times (UTC), permissions, MIME type.

    A symbolic link is described by what it points to, and its target is given as link_target.
    """

    def work() -> FileInfo:
        canonical, info = readable(deps.policy, roots, path)  # a link is described by its target, inside
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

    return await in_thread(work)
