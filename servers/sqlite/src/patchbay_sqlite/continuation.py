"""Cursors that carry everything needed to go on: the open result's id, and the query, params, database, row.

Some clients start a new server for every tool call (LangChain's `get_tools()`, llama-index over stdio), so a
cursor can reach a process that never saw the first page. The cursor therefore holds the query itself; the
server pages from the open result when it still has it, and otherwise runs the query again and skips to the
row. Cursors are signed by `patchbay_common.limits` (a forged or edited one is refused), and a query taken
from a cursor runs through the same tier checks as a new one.

A long query is compressed to fit; one that does not fit even then gives a cursor with the result id only,
which works while the result is open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from patchbay_common.errors import UserError
from patchbay_common.limits import carried_by, decode_cursor, encode_carrying_cursor, encode_cursor

__all__ = ["Continuation", "make_cursor", "read_cursor"]


@dataclass(frozen=True)
class Continuation:
    """Where a cursor points: an open result (by id), the row to start at, and how to run the query again."""

    result_id: str
    offset: int
    database: str | None
    sql: str | None
    params: list[Any]


def make_cursor(result_id: str, offset: int, database: str, sql: str, params: Sequence[Any]) -> str:
    """A signed cursor for row `offset` of the result `result_id` of `sql` with `params` on `database`."""
    base: dict[str, Any] = {"r": result_id, "o": offset, "d": database}
    return encode_carrying_cursor(base, [sql, list(params)]) or encode_cursor(base)


def read_cursor(cursor: str) -> Continuation:
    """The continuation a cursor from `make_cursor` holds.

    Raises:
        UserError: the cursor was not made by this server, or was changed.
    """
    state = decode_cursor(cursor)
    result_id, offset, database = state.get("r"), state.get("o"), state.get("d")
    carried = carried_by(state)
    sql, params = carried if isinstance(carried, list) and len(carried) == 2 else (None, [])
    valid = (
        isinstance(result_id, str)
        and isinstance(offset, int)
        and not isinstance(offset, bool)
        and offset >= 0
        and (database is None or isinstance(database, str))
        and (sql is None or isinstance(sql, str))
        and isinstance(params, list)
        and (carried is None) == (sql is None)
    )
    if not valid:
        raise UserError(
            "The cursor is not valid.", hint="Pass the cursor exactly as the previous result gave it."
        )
    return Continuation(str(result_id), int(offset or 0), database, sql, params)
