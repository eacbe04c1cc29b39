"""A plain `sqlite3` connection in one thread this module owns, driven from async code in one hop per job.

SQLite calls are blocking, so every connection gets its own thread: a job (a plain function taking the
`sqlite3.Connection`) is queued to that thread and its result handed back to the event loop. One whole
operation (run a statement and fetch its first page; fetch the next page; a dry run) is one job, rather than
one thread hop per cursor call: a hop costs more than a small query.

This replaces aiosqlite, which offers the same thread per connection but no public way to run a function of
ours in it (only its own `execute`/`fetchmany` wrappers, one hop each). The connection is opened in its
thread and used by one thread at a time: its own, or, through `run_here`, the event loop's while its own
thread has no job (a short read of a database that never makes readers wait, see `database._Conn.run`).
The thread is a daemon, so an unclosed connection cannot keep the process alive, and `close()` closes
the connection and ends the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from functools import partial
from queue import SimpleQueue
from typing import Any, TypeVar

__all__ = ["THREAD_NAME", "ConnectionThread"]

T = TypeVar("T")

THREAD_NAME = "patchbay-sqlite connection"
"""Every connection thread's name starts with this (tests check that none is left running)."""

_Job = tuple["asyncio.Future[Any] | None", Callable[[], Any]] | None


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _work(owner: ConnectionThread) -> None:
    """The thread's loop: run each job in order until the stop job (None) arrives."""
    jobs = owner._jobs
    while True:
        job = jobs.get()
        if job is None:
            return
        future, fn = job
        value: Any = None
        error: BaseException | None = None
        try:
            value = fn()
        except BaseException as exc:  # handed to the caller, whatever it is
            error = exc
        owner._finished += 1  # only this thread writes it
        if future is None:  # a job nobody waits for (closing a discarded connection)
            continue
        with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits for this answer
            future.get_loop().call_soon_threadsafe(_settle, future, value, error)


class ConnectionThread:
    """One `sqlite3.Connection`, opened in and used only from its own thread."""

    def __init__(self, label: str) -> None:
        self._jobs: SimpleQueue[_Job] = SimpleQueue()
        self._thread = threading.Thread(
            target=_work, args=(self,), name=f"{THREAD_NAME} {label}", daemon=True
        )
        self._raw: sqlite3.Connection | None = None
        # Jobs queued (written by the event loop only) and jobs run (by the thread only): equal when the
        # thread has nothing to do, which is when `run_here` may use the connection.
        self._submitted = 0
        self._finished = 0

    @classmethod
    async def open(cls, connect: Callable[[], sqlite3.Connection], label: str) -> ConnectionThread:
        """Start a thread and open the connection in it with `connect()` (its errors are raised here)."""
        self = cls(label)
        self._thread.start()
        try:
            self._raw = await self._submit(connect)
        except BaseException:
            self._jobs.put(None)
            raise
        return self

    @property
    def thread(self) -> threading.Thread:
        """The thread every job of this connection runs in."""
        return self._thread

    async def _submit(self, fn: Callable[[], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._put((future, fn))
        return await future

    def _put(self, job: _Job) -> None:
        if job is not None:
            self._submitted += 1
        self._jobs.put(job)

    @property
    def idle(self) -> bool:
        """Whether the connection is open and no job is queued or running in its thread."""
        return self._raw is not None and self._submitted == self._finished

    def run_here(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(connection, *args)` in the calling thread (the event loop's), for a job that must be short.

        Only while the connection is `idle`: the thread is then waiting for its next job, so the connection
        is used by one thread at a time, as before.
        """
        if not self.idle or self._raw is None:
            raise RuntimeError("the SQLite connection is busy in its thread, or closed")
        return fn(self._raw, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(connection, *args)` run in the connection's thread; its result, or its exception.

        Raises:
            RuntimeError: the connection is closed.
        """
        if self._raw is None:
            raise RuntimeError("the SQLite connection is closed")
        return await self._submit(partial(fn, self._raw, *args))

    def interrupt(self) -> None:
        """Stop the statement running in the thread now (`sqlite3_interrupt`; safe from any thread)."""
        if self._raw is not None:
            self._raw.interrupt()

    def discard(self) -> None:
        """Interrupt what runs, then close the connection and end the thread; returns at once.

        For a connection whose caller was cancelled mid-statement: the interrupted job ends with an error
        nobody reads, the connection is closed after it, and it is never used again (an interrupted
        connection with a statement left open would interrupt every later statement).
        """
        raw, self._raw = self._raw, None
        if raw is None:
            return
        raw.interrupt()
        self._put((None, raw.close))
        self._put(None)

    async def close(self) -> None:
        """Close the connection (after the jobs queued before) and end the thread; closing twice is fine."""
        raw, self._raw = self._raw, None
        if raw is None:
            return
        try:
            await self._submit(raw.close)
        finally:
            self._jobs.put(None)
