"""What every GitHub tool needs (`Deps`), the argument types they share, and how an answer is sized.

Tools answer with compact JSON as text (no structured form, so the whole budget is the text's). Listings
are sized here so that a page always fits `--max-output-chars` whole: when the items of one GitHub page do
not fit, the answer holds the ones that do and its `next_page_token` resumes at the first item left out
(a signed token naming GitHub's page and how many of its items were shown), so no item is skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from patchbay_common.errors import UserError
from patchbay_common.limits import decode_cursor, encode_cursor, truncation_marker
from patchbay_common.results import Reply
from patchbay_github.accounts import Accounts
from patchbay_github.api import Api
from patchbay_github.ops import Ops

__all__ = [
    "Account",
    "Deps",
    "Number",
    "Order",
    "Owner",
    "PageToken",
    "PerPage",
    "Query",
    "Repo",
    "Severity",
    "Start",
]

Owner = Annotated[str, Field(description="Repository owner (user or organization login).")]
Repo = Annotated[str, Field(description="Repository name.")]
Number = Annotated[int, Field(ge=1, description="Issue or pull request number.")]
PerPage = Annotated[int, Field(ge=1, le=100, description="Items per page.")]
PageToken = Annotated[str | None, Field(description="next_page_token of the previous page.")]
Account = Annotated[str | None, Field(description="Account to act as; by default chosen from the owner.")]
Query = Annotated[str, Field(description="GitHub search syntax, e.g. 'repo:o/r is:open label:bug'.")]
Order = Annotated[Literal["asc", "desc"], Field(description="Sort order.")]
Severity = Annotated[str | None, Field(description="critical, high, medium, low, ...")]

_FRAME_AND_NOTE = 1_000
"""Characters kept free for the untrusted-data frame, the note and the continuation token."""

_OF_TOTAL = re.compile(r"of (\d+)$")


@dataclass(frozen=True)
class Start:
    """Where a listing call starts: GitHub's page token, items of that page already shown, page size."""

    token: str | None
    skip: int
    per_page: int
    listing: str


@dataclass(frozen=True)
class Deps:
    """The accounts to call GitHub as, the operations, and the answer budget."""

    accounts: Accounts
    ops: Ops
    max_chars: int

    @property
    def room(self) -> int:
        """Characters one JSON answer may take, leaving room for the frame and our note."""
        return max(500, self.max_chars - _FRAME_AND_NOTE)

    def pick(self, owner: str | None, account: str | None) -> Api:
        """The account for a call on `owner` (see `Accounts.pick`)."""
        return self.accounts.pick(owner, account)

    def answer(self, data: dict[str, Any], source: str | None = None) -> Reply:
        """One object as compact JSON (the layer frames it when the tool declares `untrusted=`)."""
        return Reply(_json(data), source=source)

    def start(self, page_token: str | None, per_page: int, listing: str) -> Start:
        """Where to start a listing: a GitHub page token, or ours that resumes inside a page."""
        if not page_token:
            return Start(None, 0, per_page, listing)
        state = decode_cursor(page_token)
        if "within" not in state:
            return Start(page_token, 0, per_page, listing)
        inner, skip, size = state.get("within"), state.get("skip"), state.get("per_page")
        valid = (
            isinstance(inner, str)
            and len(inner) <= 4096
            and isinstance(size, int)
            and 1 <= size <= 100
            and isinstance(skip, int)
            and 1 <= skip < size
        )
        if not valid or state.get("listing") != listing:
            raise UserError(
                "page_token belongs to another listing.",
                hint="Pass the token from the previous page of this listing, or omit it to start over.",
            )
        assert isinstance(inner, str) and isinstance(skip, int) and isinstance(size, int)
        return Start(inner or None, skip, size, listing)

    def page(self, data: dict[str, Any], key: str, start: Start, source: str | None = None) -> Reply:
        """One page of a listing, cut to the items that fit, resuming correctly when cut."""
        items = list(data.get(key) or [])[start.skip :]
        body = {**data, key: items}
        if len(_json(body)) <= self.room:
            return Reply(_json(body), source=source)
        base = {k: v for k, v in body.items() if k not in (key, "next_page_token")}
        used = len(_json({**base, key: []})) + 20  # the token key and quotes
        kept: list[Any] = []
        for item in items:
            size = len(_json(item)) + 1
            if kept and used + size > self.room:
                break
            kept.append(item)
            used += size
        shown = start.skip + len(kept)
        if len(kept) == len(items):
            return Reply(_json({**base, key: kept, **_next(data)}), source=source)
        token = encode_cursor(
            {"within": start.token or "", "skip": shown, "per_page": start.per_page, "listing": start.listing}
        )
        note = truncation_marker(
            f"{len(kept)} of the {len(items)} {key} left on this page (character limit {self.room})",
            "call again with the next_page_token above",
        )
        return Reply(_json({**base, key: kept, "next_page_token": token}), note=note, source=source)

    def window(self, data: dict[str, Any], offset: int, source: str | None = None) -> Reply:
        """A file window from `get_file_contents`, shortened further when its JSON would not fit."""
        content = data.get("content")
        if not isinstance(content, str) or len(_json(data)) <= self.room:
            return Reply(_json(data), source=source)
        found = _OF_TOTAL.search(str(data.get("truncated") or ""))
        total = int(found.group(1)) if found else offset + len(content)
        while content and len(_json({**data, "content": content})) > self.room:
            excess = len(_json({**data, "content": content})) - self.room
            content = content[: max(0, len(content) - max(excess, len(content) // 10, 1))]
        end = offset + len(content)
        shortened = {
            **data,
            "content": content,
            "truncated": f"characters {offset}-{end} of {total}",
            "next_offset": end,
        }
        return Reply(_json(shortened), source=source)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _next(data: dict[str, Any]) -> dict[str, Any]:
    token = data.get("next_page_token")
    return {"next_page_token": token} if token else {}
