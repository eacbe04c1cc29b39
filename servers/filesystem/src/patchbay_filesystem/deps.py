"""What every filesystem tool needs, built once in server.py: the operator's roots and rules, and the limits.

The tools take a `Deps` as their first parameter (`deps`) and the roots of the call (`roots: AllowedRoots`,
the operator's directories narrowed by the client's roots) after it; the helpers here combine the two:
`readable` and `writable` check a path against the roots module and then the operator's rules.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import stat
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread

from patchbay_common.errors import NotFound, UserError
from patchbay_common.notify import Progress
from patchbay_common.roots import DirScan, Roots, path_from_uri
from patchbay_filesystem.policy import Policy

__all__ = [
    "FRAME_ROOM",
    "Deps",
    "in_thread",
    "in_thread_reading",
    "readable",
    "tree_entries",
    "watched",
    "writable",
]

T = TypeVar("T")

FRAME_ROOM = 600
"""Characters of the output budget kept for the frame around outside content and our own note after it."""


@dataclass(frozen=True)
class Deps:
    """The operator's directories and rules, and the limits the tools page and cap with."""

    roots: Roots
    policy: Policy
    max_chars: int
    walk_seconds: float
    max_media_bytes: int
    max_search_file_bytes: int
    allow_write: bool

    @property
    def page_chars(self) -> int:
        """Characters of outside content one framed answer may hold: frame, note and content fit the budget.

        The frame escapes a forged boundary (`<untrusteddata`, 14 characters at least) as `&lt;...`, three
        characters longer, so the page is sized for that growth too.
        """
        return max(100, (self.max_chars - FRAME_ROOM) * 14 // 17)


async def in_thread(fn: Callable[..., T], *args: Any, abandon: bool = True, **kwargs: Any) -> T:
    """Run blocking file work in a worker thread so the event loop (and the call deadline) stay live."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), abandon_on_cancel=abandon)


class _Entries(list[tuple[str, str]]):
    """A directory's entries that count each one met as progress and end early once the call has ended."""

    def __init__(self, entries: list[tuple[str, str]], progress: Progress) -> None:
        super().__init__(entries)
        self._progress = progress

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for entry in super().__iter__():
            if self._progress.stopped.is_set():
                return
            self._progress.advance()
            yield entry


class _WatchedRoots:
    """`Roots` whose walks report the entries they visit and stop once the call has ended.

    The walking module takes a deadline but no stop flag, so the tools hand it these roots instead: when
    `progress.stopped` is set (the call finished, timed out or was cancelled) the walk yields no further
    directory and the current directory's entries end, so the worker thread returns instead of running
    on, abandoned, until the walk's own deadline.
    """

    def __init__(self, roots: Roots, progress: Progress) -> None:
        self._roots = roots
        self._progress = progress

    def __getattr__(self, name: str) -> Any:
        return getattr(self._roots, name)

    def walk(self, path: str, **options: Any) -> Iterator[DirScan]:
        stopped = self._progress.stopped
        walk = cast(Generator[DirScan, None, None], self._roots.walk(path, **options))
        with contextlib.closing(walk) as scans:
            for scan in scans:
                if stopped.is_set():
                    return
                yield dataclasses.replace(scan, entries=_Entries(scan.entries, self._progress))
                if stopped.is_set():
                    return


def watched(roots: Roots, progress: Progress) -> Roots:
    """`roots` for a walk that reports progress and stops with the call (see `_WatchedRoots`)."""
    return cast(Roots, _WatchedRoots(roots, progress))


async def in_thread_reading(fd: int, progress: Progress, fn: Callable[[], T]) -> T:
    """Run `fn` (reading the file open as `fd`) in a worker thread, reporting how far into the file it is."""
    outcome: list[Any] = []

    async def run() -> None:
        try:
            outcome.append(await in_thread(fn))
        except Exception as exc:  # re-raised below as it is, not wrapped in an exception group
            outcome.append(exc)
            outcome.append(True)
        group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        while True:
            await anyio.sleep(0.1)
            with contextlib.suppress(OSError):  # the file was closed: the read is over
                progress.update(os.lseek(fd, 0, os.SEEK_CUR))
    if len(outcome) == 2:
        raise outcome[0]
    return cast(T, outcome[0])


def readable(policy: Policy, roots: Roots, path: str) -> tuple[str, os.stat_result]:
    """The canonical path and its metadata, if the roots hold it and no deny rule hides it."""
    canonical, info = roots.stat(path)
    policy.check_read(canonical, stat.S_ISDIR(info.st_mode))
    return canonical, info


def _target(roots: Roots, path: str, parents: bool, follow: bool) -> tuple[str, bool]:
    """The canonical path `path` names (it need not exist; with `parents`, nor its parents)."""
    try:
        with roots.locate(path, missing_ok=True, follow_final=follow) as loc:
            return loc.path, loc.is_dir
    except NotFound:
        head, tail = os.path.split(os.path.normpath(path_from_uri(path)))
        if not parents or not head or not tail or tail == ".." or head == path:
            raise
        parent, _ = _target(roots, head, parents, follow)
        return f"{parent.rstrip('/')}/{tail}", False


def writable(policy: Policy, roots: Roots, path: str, parents: bool = False) -> str:
    """Check the rules for changing `path`: the name itself and, for a link, what it points to."""
    canonical, is_dir = _target(roots, path, parents, follow=False)
    policy.check_write(canonical, is_dir)
    resolved, resolved_is_dir = _target(roots, path, parents, follow=True)
    if resolved != canonical:
        policy.check_write(resolved, resolved_is_dir)
    return canonical


def tree_entries(roots: Roots, path: str) -> list[tuple[str, bool]]:
    """Every path under a directory (relative, with whether it is a directory), for rule checks."""
    found: list[tuple[str, bool]] = []
    for scan in roots.walk(path):
        for name, kind in scan.entries:
            found.append((f"{scan.rel}/{name}" if scan.rel else name, kind == "directory"))
            if len(found) > 200_000:
                raise UserError(f"{path} holds more than 200000 entries; move or delete smaller parts.")
    return found
