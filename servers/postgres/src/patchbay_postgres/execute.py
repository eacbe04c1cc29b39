"""Run one checked statement: read-only and rolled back, or committed at a write tier; rows capped and paged.

Layers two and three of the read tier live here. The statement goes through the extended protocol
(`prepare`), which refuses a second statement whatever the parser said; it runs inside
`BEGIN READ ONLY` with `statement_timeout` and `lock_timeout` set for that transaction only; and the
transaction is always rolled back. Rows are read through a cursor, so a query over millions of rows
returns its first page without materialising the rest. PostgreSQL errors become `UserError`s that carry
the message, DETAIL, HINT and the position in the query, plus what to do next.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import ipaddress
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from patchbay_common.errors import UserError, redact
from patchbay_common.limits import truncation_marker
from patchbay_common.logs import get_logger
from patchbay_postgres.databases import connection_lost
from patchbay_postgres.sqlcheck import Checked

log = get_logger("patchbay.postgres")

__all__ = ["Limits", "QueryResult", "explain", "explain_sql", "pg_error", "run_read", "run_write"]


@dataclass(frozen=True)
class Limits:
    """How long a statement may run or wait for a lock, and how much of its result is returned."""

    statement_timeout: float = 30.0
    lock_timeout: float = 5.0
    max_rows: int = 200
    max_chars: int = 20_000
    max_cell_chars: int = 2_000


@dataclass
class QueryResult:
    """A page of rows (JSON-ready), with where it starts and how to get the next page."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    offset: int = 0
    truncated: bool = False
    next_offset: int | None = None
    reason: str | None = None
    next_cursor: str | None = None
    how_to_continue: str = ""  # the end of the truncation marker: how to get the rows after these
    status: str = ""
    elapsed_ms: float = 0.0
    cut_cells: int = 0
    notes: list[str] = field(default_factory=list)

    def marker(self) -> str:
        """The truncation line a model reads, or ""."""
        if not self.truncated:
            return ""
        shown = f"rows {self.offset + 1}-{self.offset + len(self.rows)} ({self.reason})"
        return truncation_marker(shown, self.how_to_continue)

    def rows_as_text(self) -> str:
        """One JSON object per row, keyed by column name (duplicate names get a suffix)."""
        keys = _keys(self.columns)
        return "\n".join(
            json.dumps(dict(zip(keys, row, strict=True)), ensure_ascii=False) for row in self.rows
        )

    def structured(self) -> dict[str, Any]:
        """The result as structuredContent."""
        return {
            "columns": self.columns,
            "types": self.types,
            "rows": self.rows,
            "row_count": len(self.rows),
            "offset": self.offset,
            "truncated": self.truncated,
            "next_offset": self.next_offset,
            "next_cursor": self.next_cursor,
            "status": self.status,
        }


# --- values -----------------------------------------------------------------------------------------------


class _Cut(str):
    """A value already cut in the database (see `_guarded`): shown as it is, and counted as cut."""


def to_json(value: Any, max_chars: int) -> tuple[Any, bool]:
    """A JSON-ready form of one value from asyncpg, and whether it was cut to `max_chars`."""
    if isinstance(value, _Cut):
        return str(value), True
    if value is None or isinstance(value, bool | int):
        return value, False
    if isinstance(value, float):
        return (value if value == value and value not in (float("inf"), float("-inf")) else str(value)), False
    if isinstance(value, str):
        if len(value) > max_chars:
            return f"{value[:max_chars]}...(+{len(value) - max_chars} chars)", True
        return value, False
    if isinstance(value, decimal.Decimal):
        return str(value), False
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(), False
    if isinstance(value, dt.timedelta):
        return str(value), False
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        shown = raw[: max_chars // 2]
        text = "\\x" + shown.hex()
        return (
            (f"{text}...(+{len(raw) - len(shown)} bytes)", True) if len(shown) < len(raw) else (text, False)
        )
    if isinstance(value, list | tuple):
        out, cut = [], False
        for item in value:
            item_json, item_cut = to_json(item, max_chars)
            out.append(item_json)
            cut = cut or item_cut
        return out, cut
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value), False
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network | ipaddress.IPv4Interface):
        return str(value), False
    if hasattr(value, "items") and hasattr(value, "keys"):  # asyncpg Record of a composite type
        return to_json(list(value.values()), max_chars)
    return to_json(str(value), max_chars)


def _coerce(value: Any, type_name: str, index: int) -> Any:
    """Turn a JSON parameter into the Python type asyncpg expects for PostgreSQL type `type_name`."""
    if value is None:
        return None
    try:
        if type_name.startswith("_") and isinstance(value, list):
            return [_coerce(item, type_name[1:], index) for item in value]
        if type_name in ("int2", "int4", "int8", "oid"):
            if isinstance(value, bool):
                raise ValueError("a boolean is not an integer")
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("not a whole number")
            return int(value)
        if type_name in ("float4", "float8"):
            return float(value)
        if type_name == "numeric":
            return decimal.Decimal(str(value))
        if type_name == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "t", "yes", "on", "1"):
                return True
            if text in ("false", "f", "no", "off", "0"):
                return False
            raise ValueError("not a boolean")
        if type_name == "date":
            return dt.date.fromisoformat(str(value))
        if type_name in ("timestamp", "timestamptz"):
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            if type_name == "timestamptz" and parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            if type_name == "timestamp" and parsed.tzinfo is not None:
                parsed = parsed.replace(tzinfo=None)
            return parsed
        if type_name == "time":
            return dt.time.fromisoformat(str(value))
        if type_name == "uuid":
            return uuid.UUID(str(value))
        if type_name in ("json", "jsonb"):
            return value if isinstance(value, str) else json.dumps(value)
        if type_name == "bytea":
            text = str(value)
            return bytes.fromhex(text[2:]) if text.startswith("\\x") else text.encode()
        if type_name in ("text", "varchar", "bpchar", "name", "char", "unknown"):
            return (
                value
                if isinstance(value, str)
                else json.dumps(value)
                if isinstance(value, dict | list)
                else str(value)
            )
    except (ValueError, TypeError, decimal.InvalidOperation, OverflowError) as exc:
        raise UserError(
            f"Parameter ${index} ({value!r}) is not a valid {type_name}: {exc}.",
            hint=f"Pass ${index} as a {type_name} value (numbers as JSON numbers, dates as ISO 8601 text).",
        ) from None
    return value


def bind(statement: Any, params: Sequence[Any]) -> list[Any]:
    """The parameters, checked against the statement's placeholders and converted to their types."""
    expected = statement.get_parameters()
    if len(expected) != len(params):
        raise UserError(
            f"The statement has {len(expected)} placeholder(s) ($1, $2, ...) but {len(params)} parameter(s) "
            "were given.",
            hint="Pass exactly one value in `params` per placeholder, in order.",
        )
    return [_coerce(value, expected[i].name, i + 1) for i, value in enumerate(params)]


# --- errors -----------------------------------------------------------------------------------------------

_NEXT_STEP = {
    "42P01": "Check the table name with list_objects or search_objects (quoted names are case-sensitive).",
    "42703": "Check the column names with describe_object.",
    "42883": "Check the function name and argument types; cast the arguments if needed.",
    "42501": "The database role lacks this privilege; ask the operator to grant it, or query something else.",
    "25006": "This call ran in a read-only transaction; nothing can be changed through it.",
    "57014": "The statement was cancelled after running too long; narrow it (WHERE, LIMIT) or check its plan "
    "with explain_query.",
    "55P03": "Another session holds a lock this statement needs; try again later.",
    "40001": "A concurrent change conflicted; try again.",
    "40P01": "A deadlock was detected and this statement was chosen to fail; try again.",
}


def pg_error(exc: BaseException, sql: str, *, wrote: bool = False, what: str = "The statement") -> UserError:
    """A model-readable error for anything asyncpg raised while running `sql`."""
    import asyncpg

    if connection_lost(exc):
        outcome = (
            "It may or may not have been committed: check before running it again."
            if wrote
            else "Nothing was changed."
        )
        return UserError(
            f"{what} did not complete: the connection to the database was lost "
            f"(the server restarted or ended the session: {redact(str(exc))}). {outcome}",
            hint="Call again: the server reconnects by itself once PostgreSQL is back.",
        )
    if isinstance(exc, asyncpg.exceptions.PostgresError):
        state = exc.sqlstate or ""
        lines = [f"PostgreSQL error {state}: {exc.args[0] if exc.args else exc}"]
        detail, pg_hint = getattr(exc, "detail", None), getattr(exc, "hint", None)
        if detail:
            lines.append(f"DETAIL: {detail}")
        if pg_hint:
            lines.append(f"HINT: {pg_hint}")
        position = getattr(exc, "position", None)
        if position and str(position).isdigit():
            lines.append(f"POSITION: {_pointer(sql, int(position))}")
        if wrote:
            lines.append("Nothing was changed: the transaction was rolled back.")
        step = _NEXT_STEP.get(state)
        if step is None:
            step = (
                "Check the values and their types."
                if state.startswith("22")
                else "The change breaks a constraint; adjust the data."
                if state.startswith("23")
                else "Fix the statement and call again."
            )
        return UserError("\n".join(lines), hint=step)
    if isinstance(exc, asyncpg.exceptions.InterfaceError | asyncpg.exceptions.DataError):
        return UserError(
            f"{what} could not be sent: {redact(str(exc))}.", hint="Fix the parameters and call again."
        )
    if isinstance(exc, TimeoutError):
        return UserError(
            f"{what} did not finish in time and was cancelled.",
            hint="Narrow it (WHERE, LIMIT), or check its plan with explain_query.",
        )
    raise exc


def _pointer(sql: str, position: int) -> str:
    """'character N (line L, column C)' and the line with a caret under the character."""
    before = sql[: position - 1]
    line_no = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1)
    lines = sql.splitlines() or [sql]
    line = lines[min(line_no, len(lines)) - 1]
    return f"character {position} (line {line_no}, column {column})\n  {line}\n  {' ' * (column - 1)}^"


# --- running ----------------------------------------------------------------------------------------------


def _begin(read_only: bool, limits: Limits) -> str:
    mode = "READ ONLY" if read_only else "READ WRITE"
    statement_ms = max(1, int(limits.statement_timeout * 1000))
    lock_ms = max(1, int(limits.lock_timeout * 1000))
    return (
        f"BEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED {mode}; "
        f"SET LOCAL statement_timeout = {statement_ms}; SET LOCAL lock_timeout = {lock_ms}; "
        f"SET LOCAL idle_in_transaction_session_timeout = {statement_ms + 10_000}"
    )


async def _end(connection: Any, commit: bool) -> None:
    """COMMIT (errors propagate), or ROLLBACK ignoring a connection that is already gone."""
    if commit:
        await connection.execute("COMMIT")
        return
    try:
        if not connection.is_closed():
            await connection.execute("ROLLBACK")
    except Exception:  # lost or released: the server has rolled the transaction back itself
        return


def _keys(columns: list[str]) -> list[str]:
    """Column names as JSON keys: a repeated name gets a suffix (`id`, `id_2`)."""
    keys: list[str] = []
    for name in columns:
        key, n = name, 2
        while key in keys:
            key, n = f"{name}_{n}", n + 1
        keys.append(key)
    return keys


class _Pager:
    """Rows of one page, converted as they arrive, until the row limit or the character budget is reached.

    A row costs what it adds to the answer: its JSON line in the text and its array in `structuredContent`
    (the common layer caps the two together).
    """

    def __init__(self, columns: list[str], limits: Limits) -> None:
        self.keys = _keys(columns)
        self.limits = limits
        self.rows: list[list[Any]] = []
        self.used = 0
        self.cut_cells = 0
        self.reason: str | None = None

    def add(self, record: Any) -> bool:
        """Keep `record` if it fits; False (and the reason set) when the page is full without it."""
        if len(self.rows) >= self.limits.max_rows:
            self.reason = f"row limit {self.limits.max_rows}"
            return False
        row, cut = [], 0
        for value in record.values() if hasattr(record, "values") else record:
            converted, was_cut = to_json(value, self.limits.max_cell_chars)
            cut += was_cut
            row.append(converted)
        cost = len(json.dumps(dict(zip(self.keys, row, strict=True)), ensure_ascii=False)) + len(
            json.dumps(row, ensure_ascii=False)
        )
        if self.rows and self.used + cost > self.limits.max_chars:
            self.reason = f"character limit {self.limits.max_chars}"
            return False
        self.rows.append(row)
        self.used += cost
        self.cut_cells += cut
        return True

    def result(self, columns: list[str], types: list[str], offset: int) -> QueryResult:
        """The page: truncated when a row did not fit."""
        truncated = self.reason is not None
        result = QueryResult(
            columns=columns,
            types=types,
            rows=self.rows,
            offset=offset,
            truncated=truncated,
            next_offset=offset + len(self.rows) if truncated else None,
            reason=self.reason,
            cut_cells=self.cut_cells,
        )
        if self.cut_cells:
            result.notes.append(
                f"{self.cut_cells} long value(s) were cut to {self.limits.max_cell_chars} characters."
            )
        return result


def _less_header(limits: Limits, columns: list[str], types: list[str]) -> Limits:
    """`limits` with room left for the column names and types, which the answer shows twice."""
    header = 2 * (len(json.dumps(columns)) + len(json.dumps(types)))
    return dataclasses.replace(limits, max_chars=max(200, limits.max_chars - header))


def _page(
    raw_rows: list[Any], columns: list[str], types: list[str], offset: int, limits: Limits
) -> QueryResult:
    pager = _Pager(columns, _less_header(limits, columns, types))
    for record in raw_rows:
        if not pager.add(record):
            break
    return pager.result(columns, types, offset)


_FETCH_CHUNK = 50
_NOT_AGAIN = "the other rows it returned are not shown (running the statement again would repeat it)"


def _columns(statement: Any) -> tuple[list[str], list[str]]:
    attributes = statement.get_attributes()
    return [a.name for a in attributes], [a.type.name for a in attributes]


# Types whose values are small whatever a query does (numeric is at most about 128 KiB): fetched as they are.
# A value of any other type (text, bytea, json, arrays, composites, ranges, ...) can be up to 1 GB.
_SMALL_TYPES = frozenset(
    {
        "bool", "int2", "int4", "int8", "float4", "float8", "numeric", "money", "oid", "xid", "xid8", "cid",
        "tid", "date", "time", "timetz", "timestamp", "timestamptz", "interval", "uuid", "char", "name",
        "inet", "cidr", "macaddr", "macaddr8", "pg_lsn", "point", "regclass", "regproc", "regprocedure",
        "regoper", "regoperator", "regtype", "regconfig", "regdictionary", "regnamespace", "regrole",
        "regcollation",
    }
)  # fmt: skip
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "citext"})
_GUARD_CHUNK_BYTES = 4 << 20  # rows fetched at once hold at most about this much in guarded values


@dataclass(frozen=True)
class _Guarded:
    """A read statement wrapped so that no value larger than `limit` bytes leaves the database whole.

    Each guarded column comes back as three: the value when it is small (else NULL), its first characters
    when it is large (else NULL), and its full length when it is large. `plan` maps them back.
    """

    sql: str
    plan: list[tuple[str, int]]  # per column: ("plain", "text", "bytes", "other"; its first expression)
    chunk: int  # rows to fetch at once

    def values(self, record: Any, keep: int) -> list[Any]:
        """The row's values in the original columns, a large value as a `_Cut` text."""
        out: list[Any] = []
        for kind, at in self.plan:
            if kind == "plain" or record[at + 1] is None:
                out.append(record[at])
            elif kind == "bytes":
                head, total = bytes(record[at + 1]), record[at + 2]
                out.append(_Cut(f"\\x{head.hex()}...(+{total - len(head)} bytes)"))
            elif kind == "other":  # its size as stored (binary, perhaps compressed), not its length as text
                out.append(_Cut(f"{record[at + 1][:keep]}...(cut: {record[at + 2]} bytes in all)"))
            else:
                head, total = record[at + 1], record[at + 2]
                out.append(_Cut(f"{head[:keep]}...(+{total - len(head[:keep])} chars)"))
        return out


def _guarded(checked: Checked, attributes: Sequence[Any], limits: Limits) -> _Guarded | None:
    """`checked` wrapped so that large values are measured and cut in the database, or None.

    None when no column can hold a large value, or the statement is not a plain query. The query becomes
    a subquery (`SELECT ... FROM (<query>) AS _pb(c0, c1, ...)`): PostgreSQL keeps its order, since a
    subquery with ORDER BY or LIMIT is scanned, not flattened.
    """
    node = checked.node
    if type(node).__name__ != "SelectStmt" or getattr(node, "intoClause", None) or not attributes:
        return None
    limit = max(16 << 10, 4 * limits.max_cell_chars)
    keep = limits.max_cell_chars
    exprs: list[str] = []
    plan: list[tuple[str, int]] = []
    guarded = 0
    for index, attribute in enumerate(attributes):
        column = f"_pb.c{index}"
        name, kind = attribute.type.name, attribute.type.kind
        if kind == "scalar" and name in _SMALL_TYPES:
            plan.append(("plain", len(exprs)))
            exprs.append(column)
            continue
        if kind == "scalar" and name == "bytea":
            size, head, total, how = (
                f"octet_length({column})",
                f"substring({column} FROM 1 FOR {max(1, keep // 2)})",
                f"octet_length({column})",
                "bytes",
            )
        elif kind == "scalar" and name in _TEXT_TYPES:
            size, head, total, how = (
                f"octet_length({column})",
                f"left({column}::text, {keep})",
                f"char_length({column})",
                "text",
            )
        else:  # json, xml, arrays, composites, ranges, ...: measured as stored, shown as text when large
            size, head, total, how = (
                f"pg_column_size({column})",
                f"left({column}::text, {keep})",
                f"pg_column_size({column})",
                "other",
            )
        large = f"{size} > {limit}"
        plan.append((how, len(exprs)))
        exprs += [
            f"CASE WHEN {large} THEN NULL ELSE {column} END",
            f"CASE WHEN {large} THEN {head} END",
            f"CASE WHEN {large} THEN {total} END",
        ]
        guarded += 1
    if not guarded:
        return None
    aliases = ", ".join(f"c{index}" for index in range(len(attributes)))
    # The statement was checked as exactly one statement (its own text, no trailing comment or semicolon),
    # and the wrapper runs in the same READ ONLY transaction through the extended protocol.
    # OFFSET 0 keeps PostgreSQL from flattening the query into the wrapper, which would evaluate each of
    # its expressions once per reference here (four times).
    sql = (
        f"SELECT {', '.join(exprs)} FROM (SELECT * FROM (\n{checked.statement}\n) AS _pb_query OFFSET 0) "  # noqa: S608
        f"AS _pb({aliases})"
    )
    chunk = max(1, min(_FETCH_CHUNK, _GUARD_CHUNK_BYTES // (guarded * limit)))
    return _Guarded(sql, plan, chunk)


async def run_read(
    connection: Any, checked: Checked, params: Sequence[Any], *, offset: int = 0, limits: Limits
) -> QueryResult:
    """Run a read statement in a READ ONLY transaction that is always rolled back; return one page."""
    if offset < 0:
        raise UserError(f"offset must be 0 or more, got {offset}.")
    started = time.perf_counter()
    await connection.execute(_begin(True, limits))
    try:
        statement = await connection.prepare(checked.sql)
        columns, types = _columns(statement)
        guard = _guarded(checked, statement.get_attributes(), limits)
        if guard is not None:
            await connection.execute("SAVEPOINT patchbay_guard")
            try:
                statement = await connection.prepare(guard.sql)
            except Exception as exc:  # a form the wrapper does not fit: run the statement as it is
                if connection_lost(exc):
                    raise
                await connection.execute("ROLLBACK TO SAVEPOINT patchbay_guard")
                log.info("large values not guarded", error=redact(str(exc)))
                guard = None
        args = bind(statement, params)
        pager = _Pager(columns, _less_header(limits, columns, types))
        chunk = min(limits.max_rows + 1, guard.chunk if guard else _FETCH_CHUNK)  # rows in memory at once

        def add(record: Any) -> bool:
            return pager.add(guard.values(record, limits.max_cell_chars) if guard else record)

        if offset:
            cursor = await statement.cursor(*args)
            await cursor.forward(offset)  # the skipped rows stay in the server
            while True:
                batch = await cursor.fetch(chunk)
                if not all(add(record) for record in batch) or len(batch) < chunk:
                    break
        else:  # bind and fetch the first rows in one round trip
            async for record in statement.cursor(*args, prefetch=chunk):
                if not add(record):
                    break
        result = pager.result(columns, types, offset)
        result.status = f"SELECT {len(result.rows)}"
    except UserError:
        raise
    except Exception as exc:
        raise pg_error(exc, checked.sql) from None
    finally:
        await _end(connection, commit=False)
    result.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    if offset and not result.rows:
        result.notes.append(f"offset {offset} is past the last row.")
    return result


async def run_write(
    connection: Any, checked: Checked, params: Sequence[Any], *, limits: Limits, commit: bool = True
) -> QueryResult:
    """Run a statement in a READ WRITE transaction and commit it (or roll back when `commit` is False)."""
    started = time.perf_counter()
    await connection.execute(_begin(False, limits))
    committed = False
    try:
        statement = await connection.prepare(checked.sql)
        args = bind(statement, params)
        columns, types = _columns(statement)
        raw = await statement.fetch(*args)
        status = statement.get_statusmsg() or ""
        result = _page(raw, columns, types, 0, limits)
        result.how_to_continue = _NOT_AGAIN
        result.status = status
        if commit:
            await _end(connection, commit=True)
            committed = True
    except UserError:
        raise
    except Exception as exc:
        raise pg_error(exc, checked.sql, wrote=True) from None
    finally:
        if not committed:
            await _end(connection, commit=False)
    result.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return result


async def run_autocommit(
    connection: Any, checked: Checked, params: Sequence[Any], *, limits: Limits
) -> QueryResult:
    """Unrestricted tier: run the statement on its own, outside any transaction this server opens."""
    started = time.perf_counter()
    try:
        statement_ms = max(1, int(limits.statement_timeout * 1000))
        await connection.execute(f"SET statement_timeout = {statement_ms}")
        statement = await connection.prepare(checked.sql)
        args = bind(statement, params)
        columns, types = _columns(statement)
        raw = await statement.fetch(*args)
        result = _page(raw, columns, types, 0, limits)
        result.how_to_continue = _NOT_AGAIN
        result.status = statement.get_statusmsg() or ""
    except UserError:
        raise
    except Exception as exc:
        raise pg_error(exc, checked.sql, wrote=True) from None
    result.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return result


def explain_sql(sql: str, *, analyze: bool, fmt: str) -> str:
    """The EXPLAIN statement for `sql` (checked again as a whole before it runs)."""
    options = ["ANALYZE", "BUFFERS"] if analyze else []
    options.append(f"FORMAT {fmt}")
    return f"EXPLAIN ({', '.join(options)}) {sql}"


async def explain(connection: Any, checked: Checked, params: Sequence[Any], *, limits: Limits) -> str:
    """Run a checked EXPLAIN statement inside a transaction that is rolled back; return the plan text."""
    await connection.execute(_begin(checked.needs == "read", limits))
    try:
        statement = await connection.prepare(checked.sql)
        args = bind(statement, params)
        rows = await statement.fetch(*args)
    except UserError:
        raise
    except Exception as exc:
        raise pg_error(exc, checked.sql, what="EXPLAIN") from None
    finally:
        await _end(connection, commit=False)
    if len(rows) == 1 and not isinstance(rows[0][0], str):  # FORMAT JSON arrives decoded
        return json.dumps(rows[0][0])
    return "\n".join(row[0] for row in rows)
