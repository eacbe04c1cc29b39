"""Text a model reads: compact JSON lines, our own counts and continuations apart from database content.

Database content (rows, names, comments, plans) goes into `Reply.content`, which the layer frames as
untrusted data; what this server says about it (status, counts, timings, how to continue) goes into
`Reply.note`, after the frame. Listings are sized here, measured as the layer will show them (sanitized), so
the layer's own cut never takes a continuation away.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from patchbay_common.errors import redact
from patchbay_common.results import Reply
from patchbay_common.untrusted import sanitize
from patchbay_postgres.execute import QueryResult

__all__ = ["fit_lines", "query_reply", "record_lines", "redact_result", "redact_value"]


def query_reply(result: QueryResult, source: str, *, committed: bool | None = None) -> Reply:
    """A page of a statement's result: column names and rows framed, status and continuation after them."""
    content: list[str] = []
    if result.columns:
        pairs = zip(result.columns, result.types, strict=True)
        content.append("columns: " + ", ".join(f"{name} {kind}" for name, kind in pairs))
    if result.rows:
        content.append(result.rows_as_text())
    where = f" from row {result.offset + 1}" if result.offset else ""
    head = f"{len(result.rows)} row(s){where}"
    if result.status and not result.status.startswith("SELECT"):
        head = f"{result.status}: {head}"
    if committed is True:
        head += "; committed"
    elif committed is False:
        head += "; rolled back"
    head += f" in {result.elapsed_ms:g} ms"
    note = [head]
    marker = result.marker()
    if marker:
        note.append(marker)
    note += result.notes
    return Reply("\n".join(content), note="\n".join(note), structured=result.structured(), source=source)


def record_lines(records: Iterable[dict[str, Any]]) -> list[str]:
    """Catalog records as JSON lines (keys with no value left out)."""
    return [
        json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False, default=str)
        for r in records
    ]


def fit_lines(lines: list[str], budget: int) -> int:
    """How many of `lines` (at least one, if any) fit `budget` characters once sanitized by the layer."""
    used = 0
    for kept, line in enumerate(lines):
        used += len(sanitize(line)) + 1
        if used > budget and kept:
            return kept
    return len(lines)


def redact_value(value: Any) -> Any:
    """`value` with every string in it passed through `redact` (lists and dicts walked)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    return value


def redact_result(result: Any) -> Any:
    """A tool result with passwords and credential-shaped strings removed from text and structured content.

    Rows can hold a password (a DSN stored in a table, an echoed parameter); errors are redacted by
    patchbay_common already, and this covers successful results too.
    """
    for block in getattr(result, "content", None) or []:
        if isinstance(getattr(block, "text", None), str):
            block.text = redact(block.text)
    if getattr(result, "structured_content", None):
        result.structured_content = redact_value(result.structured_content)
    return result
