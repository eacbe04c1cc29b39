"""The insights memo: findings a model records while it analyses data, readable as `memo://insights`.

Kept in memory for the life of the server process, as in the official server; each insight is capped in
length and the memo in count, so a long session cannot grow it without bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from patchbay_common.errors import UserError

__all__ = ["MEMO_URI", "Memo"]

MEMO_URI = "memo://insights"
MAX_INSIGHT_CHARS = 2000
MAX_INSIGHTS = 200


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
