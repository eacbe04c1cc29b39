"""One way to cap any output so that no tool can flood a model's context.

Every cap leaves an explicit marker saying what was cut and how to get the rest (an offset or an opaque
cursor), so a model can page instead of guessing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from patchbay_common.errors import UserError

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_ROWS",
    "CappedRows",
    "CappedText",
    "cap_rows",
    "cap_text",
    "decode_cursor",
    "encode_cursor",
    "human_size",
]

DEFAULT_MAX_CHARS = 25_000
"""About 6k tokens: large enough for real work, small enough to leave room in any model's context."""

DEFAULT_MAX_ROWS = 200


@dataclass(frozen=True)
class CappedText:
    """A window of a longer text, with the marker a model reads when more remains."""

    text: str
    total_chars: int
    start: int
    end: int

    @property
    def truncated(self) -> bool:
        """Whether characters remain after this window."""
        return self.end < self.total_chars

    @property
    def next_offset(self) -> int | None:
        """The offset to pass to continue, or None when this window reaches the end."""
        return self.end if self.truncated else None

    def render(self, continue_with: str = "offset") -> str:
        """The window followed by a truncation marker when more remains."""
        if not self.truncated:
            return self.text
        return (
            f"{self.text}\n[truncated: showing characters {self.start}-{self.end} of {self.total_chars}; "
            f"call again with {continue_with}={self.end} to read on]"
        )


def cap_text(text: str, max_chars: int = DEFAULT_MAX_CHARS, offset: int = 0) -> CappedText:
    """Return the window `text[offset:offset+max_chars]`.

    Raises:
        UserError: `offset` is past the end of a non-empty text (the model asked for a page that is not
            there) or `max_chars` is not positive.
    """
    if max_chars < 1:
        raise UserError(f"max_chars must be at least 1, got {max_chars}.")
    if offset < 0:
        raise UserError(f"offset must be 0 or more, got {offset}.")
    total = len(text)
    if offset and offset >= total:
        raise UserError(
            f"offset {offset} is past the end of the content ({total} characters).",
            hint="There is no more content to read.",
        )
    end = min(total, offset + max_chars)
    return CappedText(text=text[offset:end], total_chars=total, start=offset, end=end)


@dataclass(frozen=True)
class CappedRows:
    """The rows that fit, whether more exist, and how to ask for them."""

    rows: list[Any]
    truncated: bool
    next_offset: int | None
    reason: str | None = None

    def marker(self, continue_with: str = "offset") -> str:
        """The line a model reads when rows were cut, or "" when none were."""
        if not self.truncated:
            return ""
        where = f"; call again with {continue_with}={self.next_offset} for more" if self.next_offset else ""
        return f"[truncated: {len(self.rows)} rows shown ({self.reason}){where}]"


def cap_rows(
    rows: Sequence[Any],
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_chars: int = DEFAULT_MAX_CHARS,
    offset: int = 0,
    more_available: bool = False,
) -> CappedRows:
    """Keep the rows that fit both a row budget and a character budget (measured as JSON).

    `rows` are the rows from `offset` on; `more_available` says the source holds rows beyond `rows`.
    """
    kept: list[Any] = []
    used = 0
    for row in rows:
        if len(kept) >= max_rows:
            return CappedRows(kept, True, offset + len(kept), f"row limit {max_rows}")
        size = len(json.dumps(row, default=str, ensure_ascii=False))
        if kept and used + size > max_chars:
            return CappedRows(kept, True, offset + len(kept), f"character limit {max_chars}")
        kept.append(row)
        used += size
    if more_available:
        return CappedRows(kept, True, offset + len(kept), f"row limit {max_rows}")
    return CappedRows(kept, False, None)


def encode_cursor(state: dict[str, Any]) -> str:
    """An opaque, URL-safe cursor a model passes back unchanged to continue a listing."""
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """Read a cursor made by `encode_cursor`.

    Raises:
        UserError: the cursor was not made by this server (edited, truncated or from another tool).
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        state = None
    if not isinstance(state, dict):
        raise UserError(
            "The cursor is not valid.",
            hint="Pass the cursor exactly as the previous result gave it, or omit it to start over.",
        )
    return state


def human_size(size: float) -> str:
    """A size in bytes as a short human-readable string (`1.50 KB`)."""
    units = ["B", "KB", "MB", "GB", "TB"]
    value = float(size)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
