"""Show Redis bytes compactly to a model: text when it is text, a base64 preview with its size when not.

Redis stores bytes. A value that is valid UTF-8 without control characters (other than tab and newlines)
is shown as text; anything else is shown as `{"binary": true, "size": N, "base64": "..."}` with at most
`preview` bytes. Long text is cut with a marker saying how many characters were left out.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["Budget", "decode_key", "encode_key", "show"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

ITEM_CHARS = 2_000
"""Characters one value (a string, a field, a member) may show before it is cut."""

BINARY_PREVIEW = 256
"""Bytes of a binary value shown (as base64) before it is cut."""


def show(raw: bytes | str | int | float | None, *, max_chars: int = ITEM_CHARS) -> Any:
    """One value as a model reads it: text (cut with a marker), a number, None, or a binary preview."""
    if raw is None or isinstance(raw, int | float):
        return raw
    if isinstance(raw, str):
        raw = raw.encode()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _CONTROL.search(text):
        if len(text) > max_chars:
            return f"{text[:max_chars]}...[cut: {len(text) - max_chars} more characters of {len(text)}]"
        return text
    preview = raw[:BINARY_PREVIEW]
    shown: dict[str, Any] = {"binary": True, "size": len(raw), "base64": base64.b64encode(preview).decode()}
    if len(raw) > len(preview):
        shown["preview_bytes"] = len(preview)
    return shown


def decode_key(raw: bytes) -> str | dict[str, Any]:
    """A key name for a listing: the text (control characters kept, JSON escapes them), or its base64."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"binary": True, "base64": base64.b64encode(raw).decode()}


def encode_key(key: str) -> bytes:
    """A key name as Redis receives it (UTF-8)."""
    return key.encode("utf-8")


class Budget:
    """A character budget for one result: items are kept while their JSON size fits."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.used = 0
        self.cut = False

    def take(self, item: Any) -> bool:
        """Count `item` against the budget; False (and `cut` set) once it no longer fits."""
        size = len(json.dumps(item, ensure_ascii=False, default=str)) + 1
        if self.used and self.used + size > self.max_chars:
            self.cut = True
            return False
        self.used += size
        return True

    def keep(self, items: Iterable[Any]) -> list[Any]:
        """The leading items that fit."""
        kept = []
        for item in items:
            if not self.take(item):
                break
            kept.append(item)
        return kept
