"""Text a model reads: compact, with database content framed as untrusted data and every cut marked."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from patchbay_common.errors import redact
from patchbay_common.limits import cap_text
from patchbay_common.untrusted import wrap_untrusted
from patchbay_postgres.execute import QueryResult

__all__ = ["capped", "query_text", "records_text", "redact_result", "redact_value"]


def capped(text: str, max_chars: int) -> str:
    """`text` cut to `max_chars` with a marker (these listings page with offset/limit instead)."""
    window = cap_text(text, max_chars)
    if not window.truncated:
        return text
    return f"{window.text}\n[truncated at {max_chars} of {window.total_chars} characters; ask for less]"


def query_text(result: QueryResult, source: str, *, committed: bool | None = None) -> str:
    """The rows of a query result as JSON lines inside an untrusted-data boundary, plus a summary line."""
    columns = ", ".join(f"{name} {kind}" for name, kind in zip(result.columns, result.types, strict=True))
    where = f" from row {result.offset + 1}" if result.offset else ""
    head = f"{len(result.rows)} row(s){where}"
    if columns:
        head += f" ({columns})"
    if result.status and not result.status.startswith("SELECT"):
        head = f"{result.status}: {head}"
    if committed is True:
        head += "; committed"
    elif committed is False:
        head += "; rolled back"
    head += f" in {result.elapsed_ms:g} ms"
    parts = [head]
    if result.rows:
        parts.append(wrap_untrusted(result.rows_as_text(), source))
    marker = result.marker()
    if marker:
        parts.append(marker)
    parts += result.notes
    return "\n".join(parts)


def records_text(records: Iterable[dict[str, Any]], source: str, empty: str) -> str:
    """Catalog records as JSON lines in an untrusted-data boundary (names and comments come from the DB)."""
    lines = [
        json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False, default=str)
        for r in records
    ]
    if not lines:
        return empty
    return wrap_untrusted("\n".join(lines), source)


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
