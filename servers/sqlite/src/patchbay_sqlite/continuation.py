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
    """Where a cursor points: an open result (by id), the row to start at, and how to run the query again."""

    result_id: str
    offset: int
    database: str | None
    sql: str | None
    params: list[Any]


def make_cursor(result_id: str, offset: int, database: str, sql: str, params: Sequence[Any]) -> str:
    """A signed cursor for row `offset` of the result `result_id` of `sql` with `params` on `database`."""
    base: dict[str, Any] = {"r": result_id, "o": offset, "d": database}
    query = json.dumps([sql, list(params)], separators=(",", ":"), ensure_ascii=False)
    candidates = []
    if len(query) < _COMPRESS_FROM:
        candidates.append({**base, "q": sql, "p": list(params)})
    packed = base64.urlsafe_b64encode(zlib.compress(query.encode(), 9)).decode().rstrip("=")
    candidates += [{**base, "z": packed}, base]
    for state in candidates:
        cursor = encode_cursor(state)
        try:  # the common library decides what length it accepts: keep the first form it reads back
            if decode_cursor(cursor) == state:
                return cursor
        except UserError:
            continue
    return encode_cursor(base)


def read_cursor(cursor: str) -> Continuation:
    """The continuation a cursor from `make_cursor` holds.

    Raises:
        UserError: the cursor was not made by this server, or was changed.
    """
    state = decode_cursor(cursor)
    result_id, offset, database = state.get("r"), state.get("o"), state.get("d")
    sql, params = state.get("q"), state.get("p", [])
    if "z" in state:
        sql, params = _unpack(state["z"])
    valid = (
        isinstance(result_id, str)
        and isinstance(offset, int)
        and not isinstance(offset, bool)
        and offset >= 0
        and (database is None or isinstance(database, str))
        and (sql is None or isinstance(sql, str))
        and isinstance(params, list)
    )
    if not valid:
        raise UserError(
            "The cursor is not valid.", hint="Pass the cursor exactly as the previous result gave it."
        )
    return Continuation(str(result_id), int(offset or 0), database, sql, params)


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
