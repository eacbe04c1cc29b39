"""Cursors that carry everything needed to go on: the query, its params, the database and the row.

PostgreSQL keeps no result open between calls here (each call is its own transaction, rolled back), so the
next page always comes from running the query again and skipping to the row. Because the cursor holds the
query, that works in any server process, including the new one that clients such as LangChain's
`get_tools()` start for every tool call. Cursors are signed by `patchbay_common.limits` (a forged or edited
one is refused), and a query from a cursor is checked at the read tier again before it runs.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from patchbay_common.errors import UserError
from patchbay_common.limits import decode_cursor, encode_cursor

__all__ = ["Continuation", "make_cursor", "read_cursor"]

_COMPRESS_FROM = 256  # characters of query (and params) from which compressing pays
_MAX_UNPACKED = 4_000_000  # a signed cursor never holds more; the cap guards the decompressor all the same


@dataclass(frozen=True)
class Continuation:
    """Where a cursor points: the query, its params, the database and the row to start at."""

    sql: str
    params: list[Any]
    database: str
    offset: int


def make_cursor(sql: str, params: Sequence[Any], database: str, offset: int) -> str | None:
    """A signed cursor for row `offset` of `sql` with `params` on `database`; None if it cannot fit."""
    base: dict[str, Any] = {"o": offset, "d": database}
    query = json.dumps([sql, list(params)], separators=(",", ":"), ensure_ascii=False, default=str)
    candidates = []
    if len(query) < _COMPRESS_FROM:
        candidates.append({**base, "q": sql, "p": json.loads(query)[1]})
    packed = base64.urlsafe_b64encode(zlib.compress(query.encode(), 9)).decode().rstrip("=")
    candidates.append({**base, "z": packed})
    for state in candidates:
        cursor = encode_cursor(state)
        try:  # the common library decides what length it accepts: keep the first form it reads back
            if decode_cursor(cursor) == state:
                return cursor
        except UserError:
            continue
    return None


def read_cursor(cursor: str) -> Continuation:
    """The continuation a cursor from `make_cursor` holds.

    Raises:
        UserError: the cursor was not made by this server, or was changed.
    """
    state = decode_cursor(cursor)
    offset, database = state.get("o"), state.get("d")
    sql, params = state.get("q"), state.get("p", [])
    if "z" in state:
        sql, params = _unpack(state["z"])
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


def _unpack(packed: Any) -> tuple[Any, Any]:
    try:
        raw = base64.urlsafe_b64decode(str(packed) + "=" * (-len(str(packed)) % 4))
        inflater = zlib.decompressobj()
        data = inflater.decompress(raw, _MAX_UNPACKED)
        if inflater.unconsumed_tail:
            raise ValueError("too long")
        sql, params = json.loads(data)
        return sql, params
    except (ValueError, TypeError, zlib.error):
        return None, None  # reported as an invalid cursor by the caller
