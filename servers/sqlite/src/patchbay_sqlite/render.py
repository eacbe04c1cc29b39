"""Rows as text a model reads easily (an aligned table or CSV), with JSON-safe cells for structured output."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any, Literal

__all__ = ["Format", "cell", "fit_rows", "render"]

Format = Literal["table", "csv"]

_MAX_CELL_CHARS = 500  # one huge cell must not crowd out every other row of the page
_BLOB_PREVIEW = 16


def cell(value: Any) -> str | int | float | None:
    """A JSON-safe form of one SQLite value: BLOBs become a short hex description, long text is cut."""
    if isinstance(value, bytes):
        head = value[:_BLOB_PREVIEW].hex()
        more = "..." if len(value) > _BLOB_PREVIEW else ""
        return f"<blob {len(value)} bytes: {head}{more}>"
    if isinstance(value, str) and len(value) > _MAX_CELL_CHARS:
        return f"{value[:_MAX_CELL_CHARS]}...(+{len(value) - _MAX_CELL_CHARS} chars)"
    if isinstance(value, int | float) or value is None:
        return value
    return str(value)


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    return str(value).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: Format = "table") -> str:
    """`rows` (already JSON-safe) under `columns`, as an aligned table or as CSV."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        return out.getvalue().rstrip("\n")
    texts = [[_text(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in texts:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)]
        return " | ".join(parts).rstrip()

    header = line(list(columns))
    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([header, rule, *(line(row) for row in texts)])


def fit_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: Format, budget: int) -> int:
    """How many of `rows` (at least one) fit `budget` characters as rendered text and as JSON together.

    A tool answer shows the rows twice (the text and `structuredContent`), and an aligned table pads every
    row to its widest cell, so the text is measured as rendered, not estimated.
    """

    def cost(count: int) -> int:
        shown = rows[:count]
        return len(render(columns, shown, fmt)) + len(
            json.dumps(list(shown), ensure_ascii=False, default=str)
        )

    if not rows or cost(len(rows)) <= budget:
        return len(rows)
    low, high = 1, len(rows) - 1  # the largest count that fits (at least one row is always shown)
    while low < high:
        middle = (low + high + 1) // 2
        if cost(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low
