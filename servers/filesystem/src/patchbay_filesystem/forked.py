"""Run a long walk in a forked child process: it neither waits for the event loop nor slows it down.

A walk in a worker thread shares the interpreter lock with the event loop. While another client kept the
server busy with small reads, a 100,000-file content search took 2.2-2.5x its idle time (issue 22). A
forked child has an interpreter lock of its own. It inherits the allowed directories' open descriptors
as they are (nothing is reopened by path), so the walk keeps every guarantee it has in a thread. Forking
costs about 10 ms, so a walk starts in a thread and moves to a child only once it has proved long.

The child sends its progress as counts and its result (or the exception it raised) pickled, through a
socket pair. Ending the call kills it. It also dies with the server (`PR_SET_PDEATHSIG`), and it gives
up the server's standard input and output at once, so a client never waits on a pipe the child holds.

Linux only: on macOS a forked child of a threaded process may deadlock in system libraries. There, and
when the fork itself fails, the walk runs in a worker thread as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import anyio

from patchbay_common.errors import UserError
from patchbay_common.notify import Progress
from patchbay_common.roots import DirScan, Roots
from patchbay_filesystem.deps import in_thread, watched

__all__ = ["walk_in_child"]

T = TypeVar("T")

_PROGRESS, _RESULT, _FAILED = b"P", b"R", b"E"
_PROGRESS_EVERY = 0.1  # seconds between the child's progress messages
_PR_SET_PDEATHSIG = 1

FORK = sys.platform.startswith("linux") and hasattr(os, "fork")
"""Whether long walks run in a forked child (Linux), or in a worker thread (everywhere else)."""
THREAD_ENTRIES = 2000
"""Entries a walk visits in a worker thread before it is started again in a forked child."""


async def walk_in_child(
    fn: Callable[..., T], roots: Roots, progress: Progress, *args: Any, **kwargs: Any
) -> T:
    """`fn(roots, *args, **kwargs)` with `roots` watched by `progress`, in a forked child once it is long.

    The walk first runs in a worker thread; past `THREAD_ENTRIES` entries it is stopped and run again,
    whole, in a forked child. Where forking is not used or fails, it runs whole in the thread.
    """
    if not FORK:
        return await in_thread(fn, watched(roots, progress), *args, **kwargs)
    first_try = _Budget(progress)  # most walks are small: done in a thread before a fork would start
    found = await in_thread(fn, watched(roots, cast(Progress, first_try)), *args, **kwargs)
    if not first_try.cut:
        return found
    ours, theirs = socket.socketpair()
    server = os.getpid()
    try:
        with warnings.catch_warnings():  # 3.12+ warns of forking with threads: the child runs only the walk
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:  # out of processes or memory: the thread still works
        ours.close()
        theirs.close()
        return await in_thread(fn, watched(roots, progress), *args, **kwargs)
    if pid == 0:  # pragma: no cover - the child; coverage is not collected after fork
        _child(theirs, ours, server, lambda counter: fn(_Counted(roots, counter), *args, **kwargs))
    theirs.close()
    try:
        return cast(T, await _answer(ours, progress))
    finally:
        ours.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # done already, or the call ended early: never left running
        # Reaped by a thread, so the loop never waits for a child stuck in a slow disk read.
        threading.Thread(target=_reap, args=(pid,), name="patchbay-walk-reaper", daemon=True).start()


async def _answer(sock: socket.socket, progress: Progress) -> Any:
    """Read the child's messages until its result: progress counts go to `progress`, a failure is raised."""
    sock.setblocking(False)
    pending = bytearray()
    while True:
        await anyio.wait_readable(sock)
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            continue
        if not data:
            raise UserError(
                "The search stopped without an answer: its process was killed (out of memory?).",
                hint="Search a narrower path, or with include globs.",
            )
        pending += data
        while len(pending) >= 5:
            size = int.from_bytes(pending[1:5], "big")
            if len(pending) < 5 + size:
                break
            kind, payload = bytes(pending[:1]), bytes(pending[5 : 5 + size])
            del pending[: 5 + size]
            if kind == _PROGRESS:
                progress.update(int(payload))
            elif kind == _RESULT:
                return pickle.loads(payload)  # noqa: S301 - our own child's pickle, through our own socket
            else:
                raise pickle.loads(payload)  # noqa: S301


class _Budget:
    """`Progress` for a walk's first try in a thread, which stops it after `THREAD_ENTRIES` entries.

    Forking costs about 10 ms (the server's page tables are copied), five times a small search, so a
    walk is forked only once it has proved long; the first try's partial result is thrown away.
    """

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self.stopped = self  # `watched` asks `stopped.is_set()` before each directory and entry
        self.entries = 0
        self.cut = False

    def is_set(self) -> bool:
        if self._progress.stopped.is_set():
            return True
        if self.entries >= THREAD_ENTRIES:
            self.cut = True
        return self.cut

    def advance(self, amount: float = 1, message: str | None = None) -> None:
        self.entries += int(amount)
        self._progress.advance(amount, message)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class _Counter:
    """The child's stand-in for `Progress`: counts entries and sends the count now and then."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._done = 0
        self._sent_at = time.monotonic()

    def advance(self, amount: int) -> None:
        self._done += amount
        if time.monotonic() - self._sent_at >= _PROGRESS_EVERY:
            self.send()

    def send(self) -> None:
        """Send the count so far (raises once the server is gone, which ends the child)."""
        self._sent_at = time.monotonic()
        _send(self._sock, _PROGRESS, str(self._done).encode())


class _Counted:
    """`Roots` whose walks count each directory's entries as it is met (the child is killed, not stopped).

    Counting a directory at a time, not an entry at a time as `watched` does for a thread that must stop
    mid-directory, keeps the count off the per-file path.
    """

    def __init__(self, roots: Roots, counter: _Counter) -> None:
        self._roots = roots
        self._counter = counter

    def __getattr__(self, name: str) -> Any:
        return getattr(self._roots, name)

    def walk(self, path: str, **options: Any) -> Iterator[DirScan]:
        for scan in self._roots.walk(path, **options):
            self._counter.advance(len(scan.entries))
            yield scan


def _send(sock: socket.socket, kind: bytes, payload: bytes) -> None:
    sock.sendall(kind + len(payload).to_bytes(4, "big") + payload)


def _child(  # pragma: no cover - runs in the child
    sock: socket.socket, parents: socket.socket, server: int, run: Callable[[Any], Any]
) -> None:
    """The forked child: detach from the server's channels, run, send the outcome, and exit at once."""
    try:
        parents.close()
        _detach(server)
        counter = _Counter(sock)
        try:
            outcome, kind = run(counter), _RESULT
        except Exception as exc:  # raised again in the server, as it is
            outcome, kind = exc, _FAILED
        counter.send()  # the final count
        try:
            payload = pickle.dumps(outcome)
        except Exception as exc:
            payload, kind = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}")), _FAILED
        _send(sock, kind, payload)
    finally:
        os._exit(0)  # no atexit handlers, no flush of buffers inherited from the server


def _detach(server: int) -> None:  # pragma: no cover - runs in the child
    """Give up what the child shares with the server, so it can neither write there nor outlive it."""
    with contextlib.suppress(ValueError):  # only the main thread may (the loop's thread, in a server)
        signal.set_wakeup_fd(-1)  # the server's loop, not ours
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # the stdio transport's pipes: the client waits for their end
        os.dup2(null, fd)
    os.close(null)
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server:  # the server died before prctl took effect
        os._exit(0)
