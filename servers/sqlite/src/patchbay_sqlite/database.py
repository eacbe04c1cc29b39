"""One SQLite database file, each connection in a thread of its own, the access tier enforced on each one.

Reads run on a small pool of read-only connections (`mode=ro`, `PRAGMA query_only`), writes on one
read-write connection in autocommit mode. Every connection carries an `Authorizer` (the tier) and a
progress handler that interrupts a statement past its deadline, after which the connection is still
usable. Rows are streamed with `fetchmany`, never fetched all at once: a large result keeps its cursor
open as a `Result` the caller pages through, so the query is not run again while that result is open. When it
is gone (another process, a write in between), `read(..., skip=N)` runs the query again and steps over the
first N rows without keeping them.

Progress and stopping: a tool wraps its work in `watching(message)`, which opens one `Progress` for the
call; the progress handler of the connection running a statement for it reports the seconds elapsed (a
few times a second at most reach the client) and interrupts the statement once the call has ended
(`progress.stopped`). A statement whose caller is cancelled (the client's `notifications/cancelled`, a
dropped HTTP request, the tool deadline) is interrupted at once with `sqlite3_interrupt`, and its
connection is discarded rather than reused.

Each connection lives in a thread of its own (thread.py). Each operation here (run a statement and fetch its
first page; fetch the next page; a dry run) is one plain `sqlite3` function sent to that thread in one hop,
rather than one hop per cursor call: a hop costs more than a small query.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio

from patchbay_common.errors import NotFound, UserError
from patchbay_common.logs import get_logger
from patchbay_common.notify import Progress, current_call
from patchbay_common.principals import SINGLE_USER
from patchbay_sqlite.policy import DROP_ACTIONS, Access, Authorizer, Purpose
from patchbay_sqlite.render import cell
from patchbay_sqlite.thread import ConnectionThread

__all__ = [
    "Assessment",
    "Database",
    "OutOfMemory",
    "Page",
    "Result",
    "set_memory_limit",
    "sql_error",
    "watching",
]

log = get_logger("patchbay.sqlite")

Params = Sequence[Any]
T = TypeVar("T")

_PROGRESS_STEPS = 1000  # VM instructions between two deadline checks
_HERE_SECONDS = 0.002  # the most a read may hold the event loop's thread before it moves to its own
_IDLE_READERS = 8  # kept open between calls: 8 concurrent HTTP clients reuse them instead of a thread each
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,63}")
_SCHEMA_TABLES = ("sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema")


@dataclass(frozen=True)
class _Watch:
    """The progress of the tool call running in this task, and when the call's first statement began."""

    progress: Progress
    started: float


_watch: ContextVar[_Watch | None] = ContextVar("patchbay_sqlite_watch", default=None)
_call_started: ContextVar[tuple[Any, float] | None] = ContextVar("patchbay_sqlite_call_started", default=None)


@asynccontextmanager
async def reporting(**options: Any) -> AsyncIterator[Progress]:
    """`Progress(**options)`, but an error raised inside comes out as itself.

    `Progress` runs its sender in a task group, which wraps whatever the body raises in an
    `ExceptionGroup`; callers here catch specific errors (a layer gap, worked around here).
    """
    try:
        async with Progress(**options) as progress:
            yield progress
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


@asynccontextmanager
async def watching(message: str) -> AsyncIterator[None]:
    """Report the seconds the statements of this tool call take, as progress `message: N s`.

    One `Progress` per call, however many statements it runs; its value is the time since the call's
    first `watching` (a confirmation's dry run and then the write count on), so it never goes back. When
    the call ends for any reason, its statements are interrupted by their progress handler.
    """
    if _watch.get() is not None:
        yield
        return
    call = current_call.get()
    mark = _call_started.get()
    if mark is None or mark[0] is not call:
        mark = (call, time.monotonic())
        _call_started.set(mark)
    async with reporting(unit="s", message=message) as progress:
        progress.update(round(time.monotonic() - mark[1], 1))
        token = _watch.set(_Watch(progress, mark[1]))
        try:
            yield
        finally:
            _watch.reset(token)


def quote_identifier(name: str) -> str:
    """`name` as a double-quoted SQLite identifier (used only for names SQLite itself reported)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class _Conn:
    """A connection (in its own thread) with its authorizer and the deadline its progress handler checks."""

    conn: ConnectionThread
    auth: Authorizer
    deadline: float | None = None
    timeout: float = 0.0
    watch: _Watch | None = None  # the call this statement runs for (progress, stop flag)
    broken: bool = False  # its caller was cancelled mid-statement: discarded, never reused
    # A reader of a database that never makes readers wait on a lock (immutable, or in WAL mode) tries
    # short reads in the event loop's own thread first (`run(..., short=True)`), saving the hop.
    here: bool = False
    here_until: float | None = None  # the time budget of a statement running in the loop's thread
    ran_over: bool = False
    # The authorizer's purpose and record belong to one statement at a time: concurrent tool calls on
    # the same connection take turns, or one call could read (or reset) another's record.
    lock: anyio.Lock = field(default_factory=anyio.Lock)

    def _progress(self) -> int:
        """SQLite's progress handler (every `_PROGRESS_STEPS` VM steps, in the statement's thread)."""
        if self.here_until is not None and time.monotonic() > self.here_until:
            self.ran_over = True  # too long for the loop's thread: it runs again in the connection's
            return 1
        if self.deadline is None:
            return 0
        now = time.monotonic()
        if now > self.deadline:
            return 1
        watch = self.watch
        if watch is not None:
            if watch.progress.stopped.is_set():  # the call ended: stop the work, not just the wait
                return 1
            watch.progress.update(round(now - watch.started, 1))
        return 0

    def arm(self, purpose: Purpose, timeout: float) -> None:
        """Start a statement for `purpose` that must finish within `timeout` seconds."""
        self.auth.begin(purpose)
        self.timeout = timeout
        self.watch = _watch.get()
        self.deadline = time.monotonic() + timeout

    def disarm(self) -> None:
        """No statement of ours is running: nothing to interrupt."""
        self.deadline = None
        self.watch = None

    @asynccontextmanager
    async def turn(self, purpose: Purpose, seconds: float) -> AsyncIterator[None]:
        """Hold the connection for one statement for `purpose`, interrupted after `seconds`."""
        try:  # a free lock is taken without a trip through the event loop (`async with` always yields)
            self.lock.acquire_nowait()
        except anyio.WouldBlock:
            await self.lock.acquire()
        try:
            self.arm(purpose, seconds)
            try:
                yield
            finally:
                self.disarm()
        finally:
            self.lock.release()

    async def run(self, fn: Callable[..., T], *args: Any, short: bool = False) -> T:
        """Call `fn(sqlite3_connection, *args)` in this connection's own thread, in one hop.

        When the caller is cancelled meanwhile, the statement is interrupted at once and the connection
        discarded (closed in its thread after the interrupted job ends). A `short` job (a read) on a
        connection that never waits on a lock runs in the event loop's thread instead, for at most
        `_HERE_SECONDS`; past that it is interrupted and run again, whole, in the connection's thread (so
        only a job that starts its own statement may be short: a fetch from an open cursor may not).
        """
        try:
            if short and self.here and self.conn.idle:
                done, value = self._try_here(fn, *args)
                if done:
                    return cast(T, value)
            return await self.conn.run(fn, *args)
        except anyio.get_cancelled_exc_class():
            self.abandon()
            raise
        except MemoryError as exc:  # SQLite's hard heap limit (SQLITE_NOMEM), or this process's own limit
            raise OutOfMemory("out of memory") from exc

    def _try_here(self, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """`(True, fn(...))` run in the loop's thread, or `(False, None)` when it ran over its budget."""
        self.here_until = time.monotonic() + _HERE_SECONDS
        self.ran_over = False
        try:
            return True, self.conn.run_here(fn, *args)
        except sqlite3.OperationalError:
            if not self.ran_over:
                raise
            self.auth.begin(self.auth.purpose)  # compiling again records the statement's actions again
            return False, None
        finally:
            self.here_until = None

    def abandon(self) -> None:
        """Interrupt the running statement and discard the connection (returns at once)."""
        self.broken = True
        self.deadline = None
        self.conn.discard()

    async def close(self) -> None:
        """Close the connection and stop its thread."""
        await self.conn.close()


@dataclass
class Page:
    """Rows of one page (JSON-safe), and where the next page starts."""

    columns: list[str]
    rows: list[list[Any]]
    offset: int
    more: bool


@dataclass
class Result:
    """A query whose rows did not fit one page: its open cursor and the rows already fetched.

    Rows already fetched are kept (up to a character budget) so a page can be read again; later pages
    come from the same cursor, so the query never runs twice.
    """

    id: str
    database: str
    sql: str
    columns: list[str]
    reader: _Conn
    cursor: sqlite3.Cursor
    rows: list[list[Any]] = field(default_factory=list)
    params: tuple[Any, ...] = ()
    base: int = 0  # offset of rows[0]
    exhausted: bool = False
    cursor_closed: bool = False
    closed_reason: str | None = None
    last_used: float = field(default_factory=time.monotonic)
    owner: Hashable = SINGLE_USER
    """Who may page it (`principals.principal_key` of the call that opened it): nobody else finds it."""

    @property
    def fetched(self) -> int:
        """How many rows have come from the cursor so far."""
        return self.base + len(self.rows)


@dataclass(frozen=True)
class Assessment:
    """What a write statement would do, found by compiling it (and, for DELETE/UPDATE, a dry run)."""

    destructive: str | None  # a sentence for the confirmation question, or None
    creates_table: str | None  # the table a CREATE TABLE statement creates


# --- work done in a connection's thread (plain sqlite3) -----------------------------------------------------


def _take(cursor: sqlite3.Cursor, count: int) -> list[list[Any]]:
    """Up to `count` rows, each converted (long values cut) before the next is read.

    A row's raw values can be large (a 5 MB string on every row): converting row by row keeps one row's
    worth in memory, where `fetchmany` would hold them all.
    """
    rows: list[list[Any]] = []
    while len(rows) < count:
        row = cursor.fetchone()
        if row is None:
            break
        rows.append([cell(v) for v in row])
    return rows


class OutOfMemory(sqlite3.OperationalError):
    """A statement needed more memory than SQLite may use in this process (see `set_memory_limit`)."""


_memory_limit = 128 << 20


def set_memory_limit(mib: int) -> None:
    """How much memory SQLite may use in this process, in MiB: values it builds, sorts, caches, rows it reads.

    A statement that needs more stops with an error (`SQLITE_NOMEM`) instead of growing the process. The
    limit is SQLite's hard heap limit, which covers every connection of the process; each new connection
    sets it (`PRAGMA hard_heap_limit`, which can only lower it).
    """
    global _memory_limit
    _memory_limit = mib << 20


_SKIP_BATCH = 1000


def _open_read(
    raw: sqlite3.Connection, sql: str, params: Params, first: int, skip: int = 0
) -> tuple[sqlite3.Cursor, list[str], list[Any]]:
    cursor = raw.execute(sql, tuple(params))
    columns = [d[0] for d in cursor.description or ()]
    while skip > 0:  # rows before the position are stepped over, never kept or converted
        wanted = min(skip, _SKIP_BATCH)
        if len(cursor.fetchmany(wanted)) < wanted:
            break
        skip -= wanted
    batch = _take(cursor, first)
    if len(batch) < first:
        cursor.close()
    return cursor, columns, batch


def _fetch(_: sqlite3.Connection, cursor: sqlite3.Cursor, count: int) -> list[list[Any]]:
    batch = _take(cursor, count)
    if len(batch) < count:
        cursor.close()
    return batch


def _close_cursor(_: sqlite3.Connection, cursor: sqlite3.Cursor) -> None:
    cursor.close()


def _fetch_all(raw: sqlite3.Connection, sql: str, params: Params) -> list[Any]:
    cursor = raw.execute(sql, tuple(params))
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def _setup(raw: sqlite3.Connection, auth: Authorizer, progress: Callable[[], int], read_only: bool) -> str:
    """Limits, the authorizer and the progress handler of a new connection; returns its journal mode."""
    if read_only:
        raw.execute("PRAGMA query_only = 1")
    journal = str(raw.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    raw.execute("PRAGMA busy_timeout = 2000")
    raw.execute(f"PRAGMA hard_heap_limit = {int(_memory_limit)}")
    raw.set_authorizer(auth)
    raw.set_progress_handler(progress, _PROGRESS_STEPS)
    return journal


def _compile(raw: sqlite3.Connection, sql: str, params: Params) -> None:
    """Compile `sql` (so the authorizer sees every action) without running it."""
    raw.execute(f"EXPLAIN {sql}", tuple(params)).close()


def _dry_run(
    raw: sqlite3.Connection, auth: Authorizer, sql: str, params: Params, tables: list[str]
) -> tuple[dict[str, int], int]:
    """Row counts of `tables`, and the rows `sql` changes, inside a transaction rolled back at once."""
    auth.internal = True
    try:
        counts = {t: raw.execute(f"SELECT count(*) FROM {quote_identifier(t)}").fetchone()[0] for t in tables}  # noqa: S608
        raw.execute("BEGIN")
    finally:
        auth.internal = False
    try:
        auth.begin(Purpose.WRITE)
        cursor = raw.execute(sql, tuple(params))
        changed = cursor.rowcount
        cursor.close()
    finally:
        auth.internal = True
        try:
            raw.execute("ROLLBACK")  # the file is left exactly as it was
        finally:
            auth.internal = False
    return counts, changed


def _write(
    raw: sqlite3.Connection, auth: Authorizer, sql: str, params: Params, max_rows: int
) -> tuple[int, Page | None]:
    try:
        cursor = raw.execute(sql, tuple(params))
        page = None
        if cursor.description:
            rows = _take(cursor, max_rows + 1)
            page = Page([d[0] for d in cursor.description], rows[:max_rows], 0, len(rows) > max_rows)
        cursor.close()
        return cursor.rowcount, page
    except sqlite3.Error:
        if raw.in_transaction:
            auth.internal = True
            try:
                raw.rollback()
            finally:
                auth.internal = False
        raise


def sql_error(exc: sqlite3.Error, conn: _Conn | None = None) -> UserError:
    """A `UserError` with SQLite's message and what to do next."""
    message = str(exc)
    low = message.lower()
    if conn is not None and conn.auth.denial and ("authoriz" in low or "prohibited" in low):
        return UserError(f"Refused: {conn.auth.denial}", hint="Nothing was changed.")
    if isinstance(exc, OutOfMemory) or "out of memory" in low:
        return UserError(
            f"The statement needed more memory than this server lets SQLite use ({_memory_limit >> 20} MiB) "
            "and was stopped; nothing was changed.",
            hint="Select fewer or smaller values (length(x), substr(x, 1, 1000), a LIMIT), or ask the "
            "operator for a larger --max-memory-mib.",
        )
    if "interrupted" in low:
        seconds = conn.timeout if conn is not None else 0
        return UserError(
            f"The statement ran longer than {seconds:g} s and was stopped; nothing was changed.",
            hint="Narrow it (a WHERE clause, a LIMIT, an index) or ask the operator for a longer "
            "--query-timeout.",
        )
    if isinstance(exc, sqlite3.ProgrammingError) and "one statement" in low:
        return UserError(
            "Only one SQL statement is allowed per call; nothing was run.",
            hint="Send the statements one at a time.",
        )
    if isinstance(exc, sqlite3.ProgrammingError) and "bindings" in low:
        return UserError(
            f"SQLite error: {message}",
            hint="Pass one value in `params` for each ? placeholder, in order.",
        )
    if "no such table" in low:
        hint = "Call list_tables to see the tables."
    elif "no such column" in low:
        hint = "Call describe_table to see the columns."
    elif "syntax error" in low or "incomplete input" in low:
        hint = "Check the SQL: SQLite's dialect, one statement, values passed as ? placeholders in `params`."
    elif "readonly" in low or "read-only" in low:
        hint = "The database is open read-only."
    elif "locked" in low or "busy" in low:
        hint = "Another process is writing to the database; try again in a moment."
    elif "constraint" in low:
        hint = "Nothing was changed; check the values against describe_table."
    else:
        hint = "Nothing was changed."
    return UserError(f"SQLite error: {message}.", hint=hint)


class Database:
    """A named SQLite file: a pool of read connections and, in the dml/ddl tiers, one write connection."""

    def __init__(
        self, name: str, path: Path, access: Access, *, timeout: float, immutable: bool = False
    ) -> None:
        self.name = name
        self.path = path
        self.access = access
        self.timeout = timeout
        self.immutable = immutable
        self._idle: list[_Conn] = []
        self._writer: _Conn | None = None
        self._opening = anyio.Lock()
        self.results: dict[str, Result] = {}

    # --- connections -------------------------------------------------------------------------------------

    def _uri(self, mode: str) -> str:
        extra = "&immutable=1" if self.immutable else ""
        return f"{self.path.resolve().as_uri()}?mode={mode}{extra}"

    async def _open(self, *, write: bool) -> _Conn:
        mode = "rwc" if write and self.access is Access.DDL else ("rw" if write else "ro")
        # No statement cache: a cached statement is not compiled again, so the authorizer would not see it
        # again, and the same text may come back under another purpose (read, write, create). Cursors are
        # created in the connection's thread but handed around by the event loop, hence check_same_thread.
        connect = partial(
            sqlite3.connect,
            self._uri(mode),
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=0,
        )
        try:
            conn = await ConnectionThread.open(connect, f"{self.name} ({'write' if write else 'read'})")
        except sqlite3.Error as exc:
            raise UserError(f"Cannot open database {self.name} ({self.path}): {exc}.") from exc
        wrapped = _Conn(conn, Authorizer(self.access))
        journal = await wrapped.run(_setup, wrapped.auth, wrapped._progress, not write)
        wrapped.here = not write and (self.immutable or journal == "wal")  # a reader that never waits
        return wrapped

    async def _reader(self) -> _Conn:
        if not self.path.exists():  # ddl tier, file not created yet: the writer creates it
            return await self._write_conn()
        if self._idle:
            return self._idle.pop()
        return await self._open(write=False)

    async def _release(self, conn: _Conn) -> None:
        conn.disarm()
        if conn.broken:  # already discarded: closed in its own thread
            if conn is self._writer:
                self._writer = None
            return
        if conn is self._writer:
            return
        if len(self._idle) < _IDLE_READERS:
            self._idle.append(conn)
        else:
            await conn.close()

    async def _write_conn(self) -> _Conn:
        if self.access is Access.READ:
            raise UserError("The server is read-only (--access read).", hint="Nothing was changed.")
        async with self._opening:  # concurrent first calls must not open (and leak) two writers
            if self._writer is not None and self._writer.broken:  # its last statement was cancelled
                self._writer = None
            if self._writer is None:
                self._writer = await self._open(write=True)
        return self._writer

    async def close(self) -> None:
        """Close every connection and open result."""
        for result in list(self.results.values()):
            await self.drop_result(result, "the server is shutting down")
        for conn in self._idle:
            await conn.close()
        self._idle.clear()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    # --- reading -----------------------------------------------------------------------------------------

    async def read(self, sql: str, params: Params, *, first: int, skip: int = 0) -> Result:
        """Run a read-only statement and fetch `first` rows; the cursor stays open if more remain.

        With `skip`, the first `skip` rows are stepped over (within the same deadline) and the result starts
        at row `skip`: how a continuation goes on when its open result is gone.
        """
        conn = await self._reader()
        try:
            async with conn.turn(Purpose.READ, self.timeout):
                try:
                    cursor, columns, rows = await conn.run(_open_read, sql, params, first, skip, short=True)
                except sqlite3.Error as exc:
                    raise sql_error(exc, conn) from exc
        except BaseException:
            await self._release(conn)
            raise
        result = Result(
            secrets.token_hex(8), self.name, sql, columns, conn, cursor, rows=rows, params=tuple(params)
        )
        result.base = skip
        self.results[result.id] = result
        if len(rows) < first:
            result.exhausted = result.cursor_closed = True
            await self._release(conn)
        return result

    async def page(self, result: Result, offset: int, max_rows: int, budget_chars: int) -> Page:
        """Rows `offset..offset+max_rows` of `result`, fetching from its cursor as far as needed."""
        if result.closed_reason:
            raise UserError(
                f"This result is no longer available: {result.closed_reason}.", hint="Run the query again."
            )
        if offset < result.base:
            raise UserError(
                f"Rows before {result.base} of this result were released to save memory.",
                hint="Run the query again, or continue from a later cursor.",
            )
        if offset > result.fetched:
            raise UserError(
                "The cursor points past the rows read so far.", hint="Pass a cursor exactly as given."
            )
        result.last_used = time.monotonic()
        need = offset + max_rows + 1
        if not result.exhausted and result.fetched < need:
            wanted = need - result.fetched
            try:
                async with result.reader.turn(Purpose.READ, self.timeout):
                    try:
                        batch = await result.reader.run(_fetch, result.cursor, wanted)
                    except sqlite3.Error as exc:
                        raise sql_error(exc, result.reader) from exc
            except UserError as error:
                await self.drop_result(result, str(error))
                raise
            except anyio.get_cancelled_exc_class():
                if result.reader.broken:  # interrupted mid-fetch: its cursor went with the connection
                    result.closed_reason = "reading its next rows was cancelled"
                    result.cursor_closed = True
                    self.results.pop(result.id, None)
                raise
            result.rows.extend(batch)
            if len(batch) < wanted:
                result.exhausted = result.cursor_closed = True
                await self._release(result.reader)
        start = offset - result.base
        rows = result.rows[start : start + max_rows]
        more = result.fetched > offset + len(rows) or not result.exhausted
        self._trim(result, budget_chars, keep_from=start)
        return Page(result.columns, rows, offset, more)

    def _trim(self, result: Result, budget_chars: int, keep_from: int) -> None:
        """Release the oldest fetched rows once their size passes `budget_chars`."""
        total = 0
        cut = 0
        for index in range(len(result.rows) - 1, -1, -1):
            total += sum(len(str(v)) + 3 for v in result.rows[index])
            if total > budget_chars and index < keep_from:
                cut = index + 1
                break
        if cut:
            del result.rows[:cut]
            result.base += cut

    async def drop_result(self, result: Result, reason: str) -> None:
        """Close `result`'s cursor and give back its connection; reading it later says `reason`."""
        result.closed_reason = reason
        self.results.pop(result.id, None)
        if not result.cursor_closed:
            result.cursor_closed = True
            if result.reader.broken:
                return
            try:
                await result.reader.run(_close_cursor, result.cursor)
            finally:
                await self._release(result.reader)

    async def drop_open_results(self, reason: str) -> None:
        """Close every result still holding a cursor (before a write: an open read would block it)."""
        for result in list(self.results.values()):
            if not result.cursor_closed:
                await self.drop_result(result, reason)

    # --- metadata ----------------------------------------------------------------------------------------

    async def fetch_all(self, sql: str, params: Params = (), purpose: Purpose = Purpose.READ) -> list[Any]:
        """All rows of a small query the server itself wrote (metadata)."""
        conn = await self._reader()
        try:
            async with conn.turn(purpose, self.timeout):
                try:
                    rows: list[Any] = await conn.run(_fetch_all, sql, params)
                    return rows
                except sqlite3.Error as exc:
                    raise sql_error(exc, conn) from exc
        finally:
            await self._release(conn)

    async def tables(self) -> list[tuple[str, str, str]]:
        """(name, type, comma-separated columns) for every table and view, by name."""
        rows = await self.fetch_all(
            "SELECT s.name, s.type, group_concat(c.name, ', ') FROM sqlite_schema AS s "
            "JOIN pragma_table_info(s.name) AS c WHERE s.type IN ('table', 'view') "
            "AND s.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' GROUP BY s.name ORDER BY s.name"
        )
        return [(r[0], r[1], r[2] or "") for r in rows]

    async def resolve_table(self, name: str) -> tuple[str, str, str]:
        """(real name, type, CREATE sql) of the table or view called `name` (any case).

        Raises:
            NotFound: no such table or view; the hint names the ones that exist.
        """
        rows = await self.fetch_all(
            "SELECT name, type, sql FROM sqlite_schema "
            "WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE",
            (name,),
        )
        if not rows:
            # An error text is not framed: name only tables whose names cannot carry a sentence.
            names = [t[0] for t in await self.tables()]
            plain = [n for n in names if _PLAIN_NAME.fullmatch(n)]
            shown = ", ".join(plain[:50]) or "(none with a plain name)"
            if len(plain) < len(names):
                shown += f" and {len(names) - len(plain)} with other characters"
            raise NotFound(
                f"No table or view named {name!r} in database {self.name}.",
                hint=f"Tables: {shown}. Call list_tables for details.",
            )
        return rows[0][0], rows[0][1], rows[0][2] or ""

    async def describe(self, name: str) -> dict[str, Any]:
        """Columns, foreign keys, indexes and the CREATE statement of one table or view."""
        real, kind, create = await self.resolve_table(name)
        columns = await self.fetch_all(
            'SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid',
            (real,),
        )
        fks = await self.fetch_all(
            'SELECT "from", "table", "to", on_update, on_delete '
            "FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            (real,),
        )
        indexes = await self.fetch_all(
            "SELECT il.name, il.\"unique\", group_concat(ii.name, ', ') FROM pragma_index_list(?) AS il "
            "JOIN pragma_index_info(il.name) AS ii GROUP BY il.name ORDER BY il.name",
            (real,),
        )
        return {
            "name": real,
            "type": kind,
            "columns": [
                {"name": c[0], "type": c[1], "not_null": bool(c[2]), "default": c[3], "primary_key": c[4]}
                for c in columns
                if not c[5] or c[5] in (2, 3)  # hidden columns of virtual tables stay hidden
            ],
            "foreign_keys": [
                {"column": f[0], "references": f"{f[1]}({f[2] or ''})", "on_update": f[3], "on_delete": f[4]}
                for f in fks
            ],
            "indexes": [{"name": i[0], "unique": bool(i[1]), "columns": i[2]} for i in indexes],
            "sql": create,
        }

    async def schema(self) -> str:
        """Every CREATE statement of the database, in creation order."""
        rows = await self.fetch_all(
            "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY rowid"
        )
        return ";\n\n".join(r[0] for r in rows) + (";" if rows else "")

    async def explain(self, sql: str, params: Params) -> list[tuple[int, int, str]]:
        """`EXPLAIN QUERY PLAN` rows (id, parent, detail); compiled under the tier, never run."""
        rows = await self.fetch_all(f"EXPLAIN QUERY PLAN {sql}", params, purpose=Purpose.WRITE)
        return [(r[0], r[1], r[3]) for r in rows]

    # --- writing -----------------------------------------------------------------------------------------

    async def assess(self, sql: str, params: Params, purpose: Purpose) -> Assessment:
        """Compile `sql` under the tier without running it and say whether it destroys data.

        Destructive means: it drops a table, view, index or trigger, or it is a DELETE/UPDATE that would
        touch every row of a non-empty table (found by running it in a transaction rolled back at once).
        """
        conn = await self._write_conn()
        async with conn.turn(purpose, self.timeout):
            try:
                await conn.run(_compile, sql, params)
            except sqlite3.Error as exc:
                raise sql_error(exc, conn) from exc
            actions = list(conn.auth.actions)
            creates = next((t for a, t in actions if a in ("CREATE_TABLE", "CREATE_TEMP_TABLE")), None)
            drops = [_dropped(a, t) for a, t in actions if a in DROP_ACTIONS]
            if drops:
                return Assessment(f"It drops {', '.join(drops)}.", creates)
            targets = sorted(
                {
                    (a, t)
                    for a, t in actions
                    if a in ("DELETE", "UPDATE") and t and t.lower() not in _SCHEMA_TABLES
                }
            )
            if not targets:
                return Assessment(None, creates)
            try:
                counts, changed = await conn.run(
                    _dry_run, conn.auth, sql, params, sorted({t for _, t in targets})
                )
            except sqlite3.Error as exc:
                raise sql_error(exc, conn) from exc
            for action, table in targets:
                total = counts[table]
                if total and changed >= total:
                    verb = "delete" if action == "DELETE" else "update"
                    return Assessment(f"It would {verb} all {total} rows of {table}.", creates)
            return Assessment(None, creates)

    async def write(
        self, sql: str, params: Params, purpose: Purpose, *, max_rows: int
    ) -> tuple[int, Page | None]:
        """Run one change and commit it; return the rows changed (-1 for DDL) and any RETURNING rows."""
        conn = await self._write_conn()
        await self.drop_open_results("the database was changed after it was read")
        async with conn.turn(purpose, self.timeout):
            try:
                return await conn.run(_write, conn.auth, sql, params, max_rows)
            except sqlite3.Error as exc:
                raise sql_error(exc, conn) from exc


def _dropped(action: str, target: str | None) -> str:
    return f"{action.removeprefix('DROP_').lower().replace('_', ' ')} {target}"


MAX_OPEN_RESULTS = 8
_GONE_REMEMBERED = 64
_NOT_YOURS = "another user or connection opened it, and results are kept for the one who opened them"


class Catalog:
    """Every database the server serves, by name, and the large results still open for paging."""

    def __init__(self, databases: dict[str, Database]) -> None:
        if not databases:
            raise ValueError("at least one database is needed")
        self.databases = databases
        self.default = next(iter(databases))
        self._results: dict[str, Result] = {}
        self._gone: dict[str, str] = {}  # result id -> why it was closed (the last few, for the note)

    def get(self, name: str | None) -> Database:
        """The database called `name` (the first one when None)."""
        db = self.databases.get(name or self.default)
        if db is None:
            raise NotFound(
                f"No database named {name!r}.",
                hint=f"Databases: {', '.join(self.databases)} (call list_databases).",
            )
        return db

    async def keep(self, result: Result, owner: Hashable = SINGLE_USER) -> None:
        """Keep `result` open for paging by `owner` alone; beyond the limit one is closed.

        The one closed is the least recently used result of whoever holds the most, so one user opening
        many results closes their own before anyone else's.
        """
        for closed in [r for r in self._results.values() if r.closed_reason]:
            self._gone[closed.id] = self._results.pop(closed.id).closed_reason or ""
        result.owner = owner
        self._results[result.id] = result
        while len(self._results) > MAX_OPEN_RESULTS:
            held = Counter(r.owner for r in self._results.values())
            most = max(held.values())
            oldest = min(
                (r for r in self._results.values() if held[r.owner] == most), key=lambda r: r.last_used
            )
            self._results.pop(oldest.id)
            await self.databases[oldest.database].drop_result(oldest, "too many results were open")
            self._gone[oldest.id] = "too many results were open"
        while len(self._gone) > _GONE_REMEMBERED:
            self._gone.pop(next(iter(self._gone)))

    def lookup(self, result_id: str, owner: Hashable = SINGLE_USER) -> tuple[Result | None, str]:
        """The open result `result_id` of `owner`, or None and why it is not open (for a re-run's note)."""
        found = self._results.get(result_id)
        if found is not None and found.owner != owner:
            return None, _NOT_YOURS
        if found is not None and not found.closed_reason:
            return found, ""
        if found is not None:
            return None, found.closed_reason or "it was closed"
        return None, self._gone.get(
            result_id,
            "this server process did not make it (the server was restarted, or the client started a new one)",
        )

    def result(self, result_id: str, owner: Hashable = SINGLE_USER) -> Result:
        """An open result of `owner` by id."""
        found = self._results.get(result_id)
        if found is not None and found.owner != owner:
            raise NotFound(f"Result {result_id} is not available: {_NOT_YOURS}.", hint="Run the query again.")
        if found is None or found.closed_reason:
            reason = found.closed_reason if found else "it was closed or never existed"
            raise NotFound(f"Result {result_id} is not available: {reason}.", hint="Run the query again.")
        return found

    async def close(self) -> None:
        """Close every connection of every database."""
        for result_id in self._results:
            self._gone[result_id] = "every client had disconnected, which closes open results"
        self._results.clear()
        for db in self.databases.values():
            await db.close()
