"""Check search parameters before they cost a request, and turn them into Brave's query strings.

Brave documents the limits checked here: a query of at most 400 characters and 50 words, a two-letter
country code (or `ALL`), a language code such as `en`, `pt-br` or `zh-hans`, and freshness as `pd`, `pw`,
`pm`, `py` or a date range `YYYY-MM-DDtoYYYY-MM-DD`. A bad value is refused with a text that shows the
accepted forms, instead of a round trip to the API.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from patchbay_common.errors import UserError

__all__ = ["MAX_QUERY_CHARS", "MAX_QUERY_WORDS", "SafeSearch", "SearchOptions", "check_query"]

MAX_QUERY_CHARS = 400
MAX_QUERY_WORDS = 50

SafeSearch = Literal["off", "moderate", "strict"]

_COUNTRY = re.compile(r"^(?:[A-Za-z]{2}|ALL|all)$")
_LANG = re.compile(r"^[a-z]{2}(?:-[a-z]{2,4})?$")
_FRESHNESS = re.compile(r"^(?:pd|pw|pm|py|(\d{4}-\d{2}-\d{2})to(\d{4}-\d{2}-\d{2}))$")


def check_query(query: str) -> str:
    """The query stripped, or a `UserError` when it is empty or longer than Brave accepts."""
    cleaned = " ".join(query.split())
    if not cleaned:
        raise UserError("The query is empty.", hint="Pass the words to search for in `query`.")
    if len(cleaned) > MAX_QUERY_CHARS:
        raise UserError(
            f"The query is {len(cleaned)} characters long; Brave accepts at most {MAX_QUERY_CHARS}.",
            hint="Shorten it to the key terms.",
        )
    words = len(cleaned.split(" "))
    if words > MAX_QUERY_WORDS:
        raise UserError(
            f"The query has {words} words; Brave accepts at most {MAX_QUERY_WORDS}.",
            hint="Shorten it to the key terms.",
        )
    return cleaned


def _check_country(country: str) -> str:
    if not _COUNTRY.match(country):
        raise UserError(
            f"country {country!r} is not a two-letter country code.",
            hint="Pass an ISO 3166-1 alpha-2 code such as 'us', 'de' or 'jp', or 'ALL' for every country.",
        )
    return country.upper() if country.lower() != "all" else "ALL"


def _check_lang(lang: str) -> str:
    lowered = lang.lower()
    if not _LANG.match(lowered):
        raise UserError(
            f"search_lang {lang!r} is not a language code.",
            hint="Pass a code such as 'en', 'de', 'fr', 'pt-br', 'zh-hans' or 'jp'.",
        )
    return lowered


def _check_freshness(freshness: str) -> str:
    value = freshness.strip()
    match = _FRESHNESS.match(value)
    hint = (
        "Pass 'pd' (past day), 'pw' (past week), 'pm' (past month), 'py' (past year), "
        "or a range such as '2024-01-01to2024-06-30'."
    )
    if not match:
        raise UserError(f"freshness {freshness!r} is not a period Brave understands.", hint=hint)
    if match.group(1):
        try:
            start = dt.date.fromisoformat(match.group(1))
            end = dt.date.fromisoformat(match.group(2))
        except ValueError:
            raise UserError(f"freshness {freshness!r} holds a date that does not exist.", hint=hint) from None
        if start > end:
            raise UserError(f"freshness {freshness!r} starts after it ends.", hint=hint)
    return value


@dataclass(frozen=True)
class SearchOptions:
    """The filters every search tool shares; `params()` gives the checked query-string pairs."""

    country: str | None = None
    search_lang: str | None = None
    safesearch: SafeSearch | None = None
    freshness: str | None = None

    def params(self) -> list[tuple[str, str]]:
        """Query-string pairs for the options that are set (raises `UserError` on a bad value)."""
        pairs: list[tuple[str, str]] = []
        if self.country:
            pairs.append(("country", _check_country(self.country)))
        if self.search_lang:
            pairs.append(("search_lang", _check_lang(self.search_lang)))
        if self.safesearch:
            pairs.append(("safesearch", self.safesearch))
        if self.freshness:
            pairs.append(("freshness", _check_freshness(self.freshness)))
        return pairs
