"""What the resources read: the insights memo, a database's schema, one table as JSON, a page of a result.

server.py registers them; the memo, schema and result pages are declared untrusted there, so the layer frames
them. The table resource is JSON (`application/json`), which a frame would break: its string values are
sanitized here instead, as the layer does for a tool's structured content.
"""

from __future__ import annotations

import json
from collections.abc import Hashable

from patchbay_common.limits import truncation_marker
from patchbay_common.principals import SINGLE_USER
from patchbay_common.untrusted import sanitize_structured
from patchbay_sqlite.deps import Deps
from patchbay_sqlite.render import render

__all__ = ["result_page", "table_json"]

_FRAME_CHARS = 600  # the frame around the page and the line after the rows, with room to spare


async def table_json(deps: Deps, database: str, table: str) -> str:
    """Columns, foreign keys, indexes and CREATE statement of one table, as JSON with sanitized strings."""
    info = await deps.catalog.get(database).describe(table)
    return json.dumps(sanitize_structured(info), ensure_ascii=False)


def _rows_that_fit(columns: list[str], rows: list[list[object]], budget: int) -> int:
    """How many of `rows` (at least one) fit `budget` characters as CSV, measured as the layer shows them."""
    measured = sanitize_structured(rows)

    def cost(count: int) -> int:
        return len(render(columns, measured[:count], "csv"))

    if not rows or cost(len(rows)) <= budget:
        return len(rows)
    low, high = 1, len(rows) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if cost(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


async def result_page(deps: Deps, result_id: str, offset: str, owner: Hashable = SINGLE_USER) -> str:
    """A page of an open large query result as CSV from row `offset`, and the URI of the next page.

    The whole text is framed by the layer (a resource has no note after its frame), so the next page's URI
    is the last line inside the frame; the page is sized so that the frame and that line fit the budget.
    """
    catalog = deps.catalog
    result = catalog.result(result_id, owner)
    db = catalog.get(result.database)
    start = int(offset) if offset.isdigit() else 0
    page = await db.page(result, start, deps.max_rows, budget_chars=deps.max_chars * 20)
    room = max(200, deps.max_chars - _FRAME_CHARS - len(result_id) - len(str(start)))
    kept = _rows_that_fit(page.columns, page.rows, room)
    body = render(page.columns, page.rows[:kept], "csv")
    if kept < len(page.rows) or page.more:
        reason = (
            f"character limit {deps.max_chars}" if kept < len(page.rows) else f"row limit {deps.max_rows}"
        )
        next_uri = f"sqlite://result/{result_id}?offset={start + kept}"
        body += "\n" + truncation_marker(f"{kept} rows ({reason})", f"read {next_uri}")
    return body
