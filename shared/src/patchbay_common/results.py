"""The result pipeline: what every tool result, resource read and prompt passes through on its way out.

A tool returns a plain value, a `CallToolResult`, or a `Reply` (content, our own note after it, structured
form, source label). `PatchbayServer` then, for every call and without the tool's help:

1. frames declared outside-world content (`untrusted=` at registration) in the text, and sanitizes the
   string values of its structured form the same way (`untrusted.sanitize_structured`);
2. caps the text and the serialized `structuredContent` together under one budget, with one marker
   (`limits.truncation_marker`) that says how to continue;
3. redacts and caps error texts.

Binary blocks (images, audio, blobs) are bounded by each server's own byte limits and not counted here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from mcp_types import (
    CallToolResult,
    EmbeddedResource,
    GetPromptResult,
    TextContent,
    TextResourceContents,
)
from pydantic_core import to_json

from patchbay_common.errors import redact
from patchbay_common.limits import truncation_marker
from patchbay_common.untrusted import is_framed, sanitize, sanitize_structured, wrap_untrusted

__all__ = [
    "ERROR_CHARS",
    "Reply",
    "cap_error",
    "cap_prompt",
    "cap_result",
    "cap_text_to",
    "frame_result",
    "reply_result",
    "shrink_json",
]

ERROR_CHARS = 2_000
"""An error text longer than this (a huge argument echoed back) is cut: the model needs the gist, not 2 MB."""

_DEFAULT_HOW = "ask for less (a narrower path, query, filter or page size)"


@dataclass
class Reply:
    """A tool's answer, in parts the layer can frame and cap correctly.

    Attributes:
        content: the answer's main text; framed as untrusted data when the tool declares `untrusted=`.
        note: our own words after the content (counts, where it came from, how to continue): never framed.
        structured: the structured form (`structuredContent`), if the tool has one.
        source: the frame's label, when it should name more than the declaration does (a URL, a table).
    """

    content: str
    note: str = ""
    structured: Mapping[str, Any] | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


replied: ContextVar[list[bool] | None] = ContextVar("patchbay_replied", default=None)
"""Set by the layer around a call; marked when the tool answered with a `Reply` (framed already)."""


def reply_result(reply: Reply, untrusted: str | None) -> CallToolResult:
    """The `CallToolResult` for a `Reply`: content framed when `untrusted` labels it, then the note."""
    seen = replied.get()
    if seen is not None:
        seen[0] = True
    text = reply.content
    structured = dict(reply.structured) if reply.structured is not None else None
    if untrusted is not None:
        text = wrap_untrusted(text, reply.source or untrusted) if text else ""
        structured = sanitize_structured(structured) if structured is not None else None
    if reply.note:
        text = f"{text}\n{reply.note}" if text else reply.note
    return CallToolResult(content=[TextContent(text=text)], structured_content=structured)


def frame_result(result: CallToolResult, source: str) -> CallToolResult:
    """Frame every text block not yet framed, and sanitize embedded text and structured values."""
    blocks: list[Any] = []
    for block in result.content:
        if isinstance(block, TextContent) and not is_framed(block.text):
            block = block.model_copy(update={"text": wrap_untrusted(block.text, source)})
        elif isinstance(block, EmbeddedResource) and isinstance(block.resource, TextResourceContents):
            resource = block.resource.model_copy(update={"text": sanitize(block.resource.text)})
            block = block.model_copy(update={"resource": resource})
        blocks.append(block)
    structured = result.structured_content
    if structured is not None:
        structured = sanitize_structured(structured)
    return result.model_copy(update={"content": blocks, "structured_content": structured})


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":")))


def _size_at_most(value: Any) -> int:
    """An upper bound of `_size`, cheaply (UTF-8 bytes are at least as many as characters)."""
    return len(to_json(value, fallback=str))


def _limited(value: Any, items: int, chars: int, keys: int | None = None) -> Any:
    if isinstance(value, str):
        return value if len(value) <= chars else value[:chars] + "…"
    if isinstance(value, dict):
        kept = list(value.items()) if keys is None else list(value.items())[:keys]
        return {k[:chars] if keys is not None else k: _limited(v, items, chars, keys) for k, v in kept}
    if isinstance(value, list):
        return [_limited(v, items, chars, keys) for v in value[:items]]
    return value


def shrink_json(value: Any, limit: int) -> tuple[Any, bool]:
    """`value` with lists shortened from the end and long strings cut until its JSON fits `limit` characters.

    The shape stays (same keys, same types), so an output schema still holds. Returns (value, was_cut).
    """
    if _size(value) <= limit:
        return value, False
    best: Any = _limited(value, 0, 0)
    if _size(best) > limit:  # the keys alone are too many or too long: map-shaped data, cut its keys too
        best = {}
        low, high = 0, 1 << 16
        while low <= high:
            middle = (low + high) // 2
            candidate = _limited(value, middle, max(40, 40 * middle), keys=middle)
            if _size(candidate) <= limit:
                best, low = candidate, middle + 1
            else:
                high = middle - 1
        return best, True
    low, high = 0, 1 << 20
    while low <= high:  # the largest (items, 40 * items chars) that fits
        middle = (low + high) // 2
        candidate = _limited(value, middle, max(40, 40 * middle))
        if _size(candidate) <= limit:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best, True


_FRAME_TAG = re.compile(r"<(untrusted-data-[0-9a-f]{16}) source=")


def cap_text_to(text: str, limit: int, how: str = _DEFAULT_HOW) -> str:
    """`text` in at most `limit` characters, marker included; a frame the cut leaves open is closed again."""
    if len(text) <= limit:
        return text
    marker = "\n" + truncation_marker(f"characters 0-{{kept}} of {len(text)}", how)
    room = max(0, limit - len(marker) - 8)
    kept = text[:room]
    closings = ""
    for _ in range(3):  # closing lines take room, which can cut another frame open: settle in a few rounds
        tags = [m.group(1) for m in _FRAME_TAG.finditer(kept)]
        closings = "".join(f"\n</{tag}>" for tag in reversed(tags) if f"</{tag}>" not in kept)
        if len(kept) + len(closings) <= room:
            break
        kept = text[: max(0, room - len(closings))]
    return kept + closings + marker.replace("{kept}", str(len(kept)))


def cap_result(result: CallToolResult, budget: int, how: str | None = None) -> CallToolResult:
    """Cap text blocks and `structuredContent` together under `budget` characters, with one marker."""
    texts = [b for b in result.content if isinstance(b, TextContent)]
    text_size = sum(len(b.text) for b in texts)
    structured = result.structured_content
    structured_size = _size_at_most(structured) if structured is not None else 0
    if text_size + structured_size <= budget:
        return result
    structured_size = _size(structured) if structured is not None else 0
    if text_size + structured_size <= budget:
        return result
    if structured is not None and structured_size > budget - min(text_size, budget // 2):
        structured, _ = shrink_json(structured, max(budget - min(text_size, budget // 2), 64))
        structured_size = _size(structured)
    room = max(0, budget - structured_size)
    blocks: list[Any] = []
    for block in result.content:
        if isinstance(block, TextContent):
            if room <= 0:
                continue
            if len(block.text) > room:
                block = block.model_copy(update={"text": cap_text_to(block.text, room, how or _DEFAULT_HOW)})
            room -= len(block.text)
        blocks.append(block)
    return result.model_copy(update={"content": blocks, "structured_content": structured})


def cap_error(text: str, limit: int = ERROR_CHARS) -> str:
    """An error text redacted, sanitized, and cut to `limit` characters with a note of what was left out.

    Errors quote what they refused (an argument, an upstream message), so they get the same stripping of
    invisible characters and escaping of forged boundaries as framed content.
    """
    text = sanitize(redact(text))
    if len(text) <= limit:
        return text
    return f"{text[: limit - 60]}… [error text cut: {len(text) - limit + 60} more characters]"


def cap_prompt(
    result: GetPromptResult, budget: int, sanitize_text: Callable[[str], str] | None = None
) -> Any:
    """A prompt's text messages capped together under `budget` characters."""
    room = budget
    for message in result.messages:
        content = message.content
        if isinstance(content, TextContent):
            text = sanitize_text(content.text) if sanitize_text else content.text
            text = cap_text_to(text, max(room, 0)) if len(text) > room else text
            room -= len(text)
            message.content = content.model_copy(update={"text": text})
    return result
