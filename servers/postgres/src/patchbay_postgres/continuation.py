"""Cursors that carry everything needed to go on: the query, its params, the database and the row.

PostgreSQL keeps no result open between calls here (each call is its own transaction, rolled back), so the
next page always comes from running the query again and skipping to the row. Because the cursor holds the
query, that works in any server process, including the new one that clients such as LangChain's
`get_tools()` start for every tool call. Cursors are signed by `patchbay_common.limits` (a forged or edited
one is refused), and a query from a cursor is checked at the read tier again before it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from patchbay_common.errors import UserError
from patchbay_common.limits import carried_by, decode_cursor, encode_carrying_cursor

__all__ = ["Continuation", "make_cursor", "read_cursor"]


@dataclass(frozen=True)
class Continuation:
    """Where a cursor points: the query, its params, the database and the row to start at."""

    sql: str
    params: list[Any]
    database: str
    offset: int


def make_cursor(sql: str, params: Sequence[Any], database: str, offset: int) -> str | None:
    """A signed cursor for row `offset` of `sql` with `params` on `database`; None if it cannot fit."""
    return encode_carrying_cursor({"o": offset, "d": database}, [sql, list(params)])


def read_cursor(cursor: str) -> Continuation:
    """The continuation a cursor from `make_cursor` holds.

    Raises:
        UserError: the cursor was not made by this server, or was changed.
    """
    state = decode_cursor(cursor)
    offset, database = state.get("o"), state.get("d")
    carried = carried_by(state)
    sql, params = carried if isinstance(carried, list) and len(carried) == 2 else (None, None)
    if not (
        isinstance(offset, int)
        and not isinstance(offset, bool)
        and offset >= 0
        and isinstance(database, str)
        and isinstance(sql, str)
        and isinstance(params, list)
    ):
        raise UserError(
            "The cursor is not valid.", hint="Pass the cursor exactly as the previous result gave it."
        )
    return Continuation(sql, params, database, offset)
