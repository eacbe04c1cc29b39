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
from patchbay_postgres.databases import connection_lost
from patchbay_postgres.sqlcheck import Checked

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


def to_json(value: Any, max_chars: int) -> tuple[Any, bool]:
    """A JSON-ready form of one value from asyncpg, and whether it was cut to `max_chars`."""
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
        for value in record.values():
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
        args = bind(statement, params)
        columns, types = _columns(statement)
        pager = _Pager(columns, _less_header(limits, columns, types))
        chunk = min(limits.max_rows + 1, _FETCH_CHUNK)  # rows in memory at once, before conversion
        if offset:
            cursor = await statement.cursor(*args)
            await cursor.forward(offset)  # the skipped rows stay in the server
            while True:
                batch = await cursor.fetch(chunk)
                if not all(pager.add(record) for record in batch) or len(batch) < chunk:
                    break
        else:  # bind and fetch the first rows in one round trip
            async for record in statement.cursor(*args, prefetch=chunk):
                if not pager.add(record):
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
