"""The insights memo: findings a model records while it analyses data, readable as `memo://insights`.

Kept in memory, as in the official server, but one memo per user (`Memos`, keyed by
`patchbay_common.principals.principal_key`): the authenticated identity when HTTP clients authenticate, else
the handshake-era connection; unauthenticated 2026-era requests cannot be told apart and share one. Each
insight is capped in length and each memo in count; a memo unused for `MEMO_IDLE_SECONDS` is dropped, and
the least recently used beyond `MAX_MEMOS`, so many users cannot grow memory without bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from patchbay_common.errors import UserError
from patchbay_common.principals import PerPrincipal

__all__ = ["MEMO_URI", "Memo", "Memos"]

MEMO_URI = "memo://insights"
MAX_INSIGHT_CHARS = 2000
MAX_INSIGHTS = 200
MAX_MEMOS = 64
MEMO_IDLE_SECONDS = 3600.0


@dataclass
class Memo:
    """An ordered list of insights."""

    insights: list[str] = field(default_factory=list)

    def add(self, insight: str) -> int:
        """Append one insight; return how many the memo holds."""
        text = " ".join(insight.split())
        if not text:
            raise UserError("The insight is empty.", hint="Pass one sentence describing what the data shows.")
        if len(text) > MAX_INSIGHT_CHARS:
            raise UserError(
                f"The insight has {len(text)} characters; at most {MAX_INSIGHT_CHARS} are kept.",
                hint="Shorten it or split it into several insights.",
            )
        if len(self.insights) >= MAX_INSIGHTS:
            raise UserError(f"The memo already holds {MAX_INSIGHTS} insights, the most it keeps.")
        self.insights.append(text)
        return len(self.insights)

    def render(self) -> str:
        """The memo as plain text."""
        if not self.insights:
            return "Insights memo\n\nNo insights recorded yet."
        lines = "\n".join(f"{i}. {text}" for i, text in enumerate(self.insights, 1))
        return f"Insights memo ({len(self.insights)} recorded)\n\n{lines}"


class Memos(PerPrincipal[Memo]):
    """One `Memo` per user, bounded by `MAX_MEMOS` and `MEMO_IDLE_SECONDS` (tests pass smaller bounds)."""

    def __init__(self, *, max_entries: int = MAX_MEMOS, idle_seconds: float = MEMO_IDLE_SECONDS) -> None:
        super().__init__(Memo, max_entries=max_entries, idle_seconds=idle_seconds)
