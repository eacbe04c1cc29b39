"""What every redis toolset needs (`Deps`, built once in server.py) and how a Redis answer becomes a `Reply`.

The functions in `ops` return JSON-ready dicts. A read tool shows that dict twice, as JSON text (framed as
untrusted data by the layer) and as `structuredContent`, and the layer caps both together under
`--max-output-chars`. `Deps.fitted` therefore asks `ops` for a page sized to share the budget, measures the
answer as the layer will send it (frame, escaping of forged boundaries, note), and asks again for a smaller
page in the rare case it is still too big, so the layer never has to cut a continuation away.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field

from patchbay_common.errors import UserError
from patchbay_common.limits import truncation_marker
from patchbay_common.results import Reply, reply_result
from patchbay_redis.connection import Store
from patchbay_redis.live import Hub

__all__ = [
    "Deps",
    "FieldValue",
    "Key",
    "Keys",
    "Limit",
    "MemberScore",
    "Page",
    "by_name",
    "reply_of",
    "short",
]

Key = Annotated[str, Field(description="Key name (UTF-8 text; any characters, CR and LF included).")]
Keys = Annotated[list[str], Field(description="Key names.")]
Limit = Annotated[int, Field(ge=1, le=1000, description="Most items to return.")]
Page = Annotated[str | None, Field(description="next_cursor from the previous page.")]


class FieldValue(BaseModel):
    """A field and its value."""

    name: str
    value: str


class MemberScore(BaseModel):
    """A member and its score."""

    member: str
    score: float


def by_name(pairs: list[FieldValue] | list[MemberScore], what: str) -> dict[str, Any]:
    """Pairs as a dict in their order, refusing a name given twice (which one should win is unclear).

    Tools take lists of typed pairs instead of JSON objects with free keys: OpenAI-strict converters
    (LangChain, pydantic-ai) turn a map-shaped object into an empty closed one and openai-agents falls back
    to non-strict, so a model could not send the fields at all.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        name, value = (pair.name, pair.value) if isinstance(pair, FieldValue) else (pair.member, pair.score)
        if name in out:
            raise UserError(f"{what} {json.dumps(name)} is given twice.", hint="Give each one once.")
        out[name] = value
    return out


_CONTINUATIONS = {"next_cursor": "cursor", "next_start": "start", "next_offset": "offset"}
_LISTS = ("keys", "fields", "items", "members", "entries", "documents", "groups", "clients", "channels")
_FRAME_RESERVE = 600
"""Characters kept for the frame lines, the source label and our note."""

_SMALLEST_PAGE = 100
_ATTEMPTS = 4


def short(name: str, limit: int = 80) -> str:
    """A key or channel name cut for a frame label (the whole name is in the framed content)."""
    return name if len(name) <= limit else name[:limit] + "..."


def reply_of(data: Mapping[str, Any], source: str | None = None) -> Reply:
    """An `ops` result as a `Reply`: the data as JSON text; its note and continuation after it, unframed.

    `structuredContent` holds the whole dict, as before (note and next_cursor/next_start/next_offset
    included); the text shows the note and the continuation outside the frame, with the one marker format.
    """
    content = {k: v for k, v in data.items() if k != "note" and k not in _CONTINUATIONS}
    lines = []
    for field, parameter in _CONTINUATIONS.items():
        if field in data:
            shown = next(
                (f"{len(data[n])} {n}" for n in _LISTS if isinstance(data.get(n), list | dict)), "a page"
            )
            lines.append(truncation_marker(shown, f"call again with {parameter}={data[field]}"))
    if data.get("note"):
        lines.append(str(data["note"]))
    text = json.dumps(content, ensure_ascii=False, default=str)
    return Reply(text, note="\n".join(lines), structured=dict(data), source=source)


def _answer_size(reply: Reply) -> int:
    """Characters of the answer the layer will send for `reply` (framed text plus structured JSON)."""
    result = reply_result(reply, reply.source or "redis")
    text = sum(len(getattr(block, "text", "")) for block in result.content)
    data = result.structured_content
    extra = len(json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))) if data else 0
    return text + extra


@dataclass(frozen=True)
class Deps:
    """The guarded Redis client, the subscription hub, and the character budget of one answer."""

    store: Store
    hub: Hub
    max_chars: int

    @property
    def page_chars(self) -> int:
        """Characters of Redis data one page may hold: it is shown twice (text and structured form)."""
        return max(_SMALLEST_PAGE, (self.max_chars - _FRAME_RESERVE) * 2 // 5)

    async def fitted(self, read: Callable[[int], Awaitable[Mapping[str, Any]]], source: str) -> Reply:
        """`read(page_chars)` as a Reply that fits the budget; a smaller page is asked for when it would not.

        Values dense with characters JSON escapes, or with forged frame boundaries (escaped as `&lt;`), take
        more room than `ops` counts; the second read is sized from what the first one measured.
        """
        chars = self.page_chars
        reply = reply_of(await read(chars), source)
        for _ in range(_ATTEMPTS - 1):
            size = _answer_size(reply)
            if size <= self.max_chars or chars <= _SMALLEST_PAGE:
                break
            chars = max(_SMALLEST_PAGE, int(chars * (self.max_chars - _FRAME_RESERVE) / size * 0.9))
            reply = reply_of(await read(chars), source)
        return reply
