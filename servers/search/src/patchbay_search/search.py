"""The five searches, each from parameters to one `Page` (outside content, our note, structured form).

No MCP in here. A `Page` keeps apart what the open web wrote (`content`: the numbered results, a query
Brave rewrote, API failure texts) and what this server says about it (`note`: counts, truncation and how
to get the next page), so the protocol layer can frame the first as data and leave the second outside the
frame. Pages are sized so that the whole answer, text and structured form together and framed as the layer
frames them, fits the output budget: the largest number of leading results that fits is kept, and a
`[truncated: ...]` marker (`patchbay_common.limits.truncation_marker`) says how many were left out.

`local` follows the official server's flow: a web search restricted to locations gives place ids, then
the points of interest and their descriptions are fetched together; with no place found it answers with
web results instead. Unlike the official server it degrades instead of failing when the plan lacks the
local endpoints (places then come from the web search's own location data) or descriptions fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio

from patchbay_common.errors import Partial
from patchbay_common.limits import truncation_marker
from patchbay_common.untrusted import sanitize, sanitize_structured, wrap_untrusted
from patchbay_search import results as r
from patchbay_search.brave import BraveClient, BraveError
from patchbay_search.params import SearchOptions, check_query

__all__ = ["Page", "fit_page", "images", "local", "news", "videos", "web"]

T = TypeVar("T", bound=r.WebResult | r.NewsResult | r.ImageResult | r.VideoResult)

_LAST_OFFSET = 9


@dataclass(frozen=True)
class Page:
    """One answer: `content` is outside-world text (framed as data), `note` our own words after it."""

    content: str
    note: str
    structured: dict[str, Any]
    source: str

    def size(self) -> int:
        """Characters of the answer as the output budget counts them: framed text, note, and the JSON."""
        text = wrap_untrusted(self.content, self.source)
        if self.note:
            text = f"{text}\n{self.note}"
        data = json.dumps(
            sanitize_structured(self.structured), ensure_ascii=False, default=str, separators=(",", ":")
        )
        return len(text) + len(data)


def fit_page(build: Callable[[int], Page], total: int, budget: int) -> Page:
    """The page of the most leading items (at least one, when there is any) whose whole answer fits `budget`.

    `build(k)` renders the page of the first `k` of `total` items. When even one item is too big for the
    budget it is kept anyway: the layer then cuts that answer with its own marker.
    """
    if total == 0:
        return build(0)
    whole = build(total)
    if whole.size() <= budget:
        return whole
    best, low, high = 1, 1, total - 1
    while low <= high:
        middle = (low + high) // 2
        if build(middle).size() <= budget:
            best, low = middle, middle + 1
        else:
            high = middle - 1
    return build(best)


def _quoted(query: str) -> str:
    """The model's query as our own note repeats it: one line, no invisible characters, no forged frames."""
    return '"' + sanitize(query) + '"'


def _numbered(blocks: Sequence[str]) -> str:
    return "\n\n".join(f"{i}. {block}" for i, block in enumerate(blocks, 1))


def _cut_marker(kind: str, shown: int, total: int, budget: int, how: str) -> str:
    return truncation_marker(f"{shown} of {total} {kind} (output limit {budget} characters)", how)


@dataclass(frozen=True)
class _Found(Generic[T]):
    """What one list search found: the results after duplicate removal, and what Brave said about them."""

    tool: str
    kind: str
    query: str
    offset: int | None
    items: list[T]
    dropped: int
    altered: str | None
    more: bool
    freshness: bool
    render: Callable[[T], str]

    def content(self, kept: Sequence[T]) -> str:
        """The outside-world part: Brave's rewritten query, then the numbered results."""
        lines = [f'Brave searched for "{self.altered}" instead.'] if self.altered else []
        if kept:
            lines.append(_numbered([self.render(i) for i in kept]))
        return "\n\n".join(lines)

    def note(self, shown: int, budget: int) -> str:
        """Our own part: how many results, duplicates removed, what was cut, how to get more."""
        if not self.items:
            hint = "Try other or fewer words" + (", or a wider freshness" if self.freshness else "") + "."
            lines = [f"No {self.kind} results for {_quoted(self.query)}. {hint}"]
        else:
            page = f", page {self.offset}" if self.offset else ""
            plural = "" if shown == 1 else "s"
            removed = (
                f", {self.dropped} duplicate{'' if self.dropped == 1 else 's'} removed"
                if self.dropped
                else ""
            )
            lines = [f"{shown} {self.kind} result{plural} for {_quoted(self.query)}{page}{removed}."]
        if shown < len(self.items):
            how = (
                f"call {self.tool} again with count={shown} to get pages that fit, and page on with offset"
                if self.offset is not None
                else "ask for fewer results (a smaller count) or a narrower query"
            )
            lines.append(_cut_marker("results", shown, len(self.items), budget, how))
        if self.more_pages:
            assert self.offset is not None
            lines.append(f"More results: call {self.tool} again with offset={self.offset + 1}.")
        return "\n".join(lines)

    @property
    def more_pages(self) -> bool:
        """Whether a next page exists and can be asked for."""
        return self.offset is not None and self.offset < _LAST_OFFSET and self.more

    def structured(self, kept: Sequence[T]) -> dict[str, Any]:
        """The structured form of the page holding `kept`."""
        return {
            "query": self.query,
            "altered_query": self.altered,
            "offset": self.offset or 0,
            "more_available": self.more_pages,
            "duplicates_removed": self.dropped,
            "truncated": len(kept) < len(self.items),
            "results": [item.model_dump(mode="json") for item in kept],
        }

    def page(self, k: int, budget: int) -> Page:
        """The page of the first `k` results."""
        kept = self.items[:k]
        return Page(
            self.content(kept),
            self.note(k, budget),
            self.structured(kept),
            f"Brave Search {self.kind} results",
        )


async def _list_search(
    client: BraveClient,
    *,
    endpoint: str,
    tool: str,
    kind: str,
    query: str,
    count: int,
    offset: int | None,
    options: SearchOptions,
    extra: Sequence[tuple[str, str]],
    parse: Callable[[dict[str, Any]], list[T]],
    key: Callable[[T], str],
    render: Callable[[T], str],
) -> _Found[T]:
    q = check_query(query)
    params = [("q", q), ("count", str(count))]
    if offset is not None:
        params.append(("offset", str(offset)))
    params += [*options.params(), *extra]
    data = await client.get(endpoint, params)
    items, dropped = r.dedupe(parse(data)[:count], key)  # an answer holding more than asked is cut
    return _Found(
        tool=tool,
        kind=kind,
        query=q,
        offset=offset,
        items=items,
        dropped=dropped,
        altered=r.altered_query(data),
        more=r.more_available(data),
        freshness=bool(options.freshness),
        render=render,
    )


def _fitted(found: _Found[Any], max_chars: int) -> Page:
    return fit_page(lambda k: found.page(k, max_chars), len(found.items), max_chars)


async def _web(
    client: BraveClient, query: str, *, count: int, offset: int, options: SearchOptions
) -> _Found[r.WebResult]:
    return await _list_search(
        client,
        endpoint="web",
        tool="brave_web_search",
        kind="web",
        query=query,
        count=count,
        offset=offset,
        options=options,
        extra=[("text_decorations", "false")],
        parse=r.web_results,
        key=lambda i: r.url_key(i.url),
        render=r.render_web,
    )


async def web(
    client: BraveClient, query: str, *, count: int, offset: int, options: SearchOptions, max_chars: int
) -> Page:
    """One page of web results."""
    return _fitted(await _web(client, query, count=count, offset=offset, options=options), max_chars)


async def news(
    client: BraveClient, query: str, *, count: int, offset: int, options: SearchOptions, max_chars: int
) -> Page:
    """One page of news articles."""
    found = await _list_search(
        client,
        endpoint="news",
        tool="brave_news_search",
        kind="news",
        query=query,
        count=count,
        offset=offset,
        options=options,
        extra=[],
        parse=r.news_results,
        key=lambda i: r.url_key(i.url),
        render=r.render_web,
    )
    return _fitted(found, max_chars)


async def images(
    client: BraveClient, query: str, *, count: int, options: SearchOptions, max_chars: int
) -> Page:
    """Image results (Brave's image search has no pages)."""
    found = await _list_search(
        client,
        endpoint="images",
        tool="brave_image_search",
        kind="image",
        query=query,
        count=count,
        offset=None,
        options=options,
        extra=[],
        parse=r.image_results,
        key=lambda i: r.url_key(i.image_url or i.page_url),
        render=r.render_image,
    )
    return _fitted(found, max_chars)


async def videos(
    client: BraveClient, query: str, *, count: int, offset: int, options: SearchOptions, max_chars: int
) -> Page:
    """One page of video results."""
    found = await _list_search(
        client,
        endpoint="videos",
        tool="brave_video_search",
        kind="video",
        query=query,
        count=count,
        offset=offset,
        options=options,
        extra=[],
        parse=r.video_results,
        key=lambda i: r.url_key(i.url),
        render=r.render_video,
    )
    return _fitted(found, max_chars)


def _web_fallback(found: _Found[r.WebResult], k: int, budget: int) -> Page:
    """The local answer when Brave found no place: the web results, in the local search's shape."""
    kept = found.items[:k]
    web_part = found.structured(kept)
    structured = r.LocalSearch(
        query=found.query,
        places=[],
        fallback="web",
        web_results=list(kept),
        truncated=web_part["truncated"],
    )
    note = f"No places found for {_quoted(found.query)}; web results instead.\n{found.note(k, budget)}"
    return Page(found.content(kept), note, structured.model_dump(mode="json"), "Brave Search web results")


async def local(
    client: BraveClient, query: str, *, count: int, options: SearchOptions, max_chars: int
) -> Page:
    """Places matching a local query, with details and descriptions; web results when none is found."""
    q = check_query(query)
    opts = options.params()
    found = await client.get("web", [("q", q), ("result_filter", "locations"), ("count", str(count)), *opts])
    ids = r.location_ids(found, count)
    if not ids:
        web_found = await _web(client, q, count=count, offset=0, options=options)
        return fit_page(lambda k: _web_fallback(web_found, k, max_chars), len(web_found.items), max_chars)

    partial: Partial[r.Place] = Partial()
    answers: dict[str, dict[str, Any]] = {}

    async def fetch(endpoint: str, what: str) -> None:
        try:
            answers[endpoint] = await client.get(endpoint, [("ids", i) for i in ids])
        except BraveError as exc:
            partial.fail(what, exc.message.rstrip("."))

    async with anyio.create_task_group() as group:
        group.start_soon(fetch, "pois", "place details")
        group.start_soon(fetch, "descriptions", "descriptions")
    partial.failures.sort()

    if "pois" in answers:
        partial.extend(r.places(answers["pois"], answers.get("descriptions")))
    if not partial.items:
        partial.extend(r.places_from_locations(found, count))
    places = partial.items
    # The failure texts quote the API's own error details, so they travel inside the frame.
    notes = [partial.note()] if partial.failures else []
    ours = []
    if "pois" not in answers:
        ours.append(
            "Only names, addresses and map positions are shown: the place details could not be fetched."
        )

    def page(k: int) -> Page:
        kept = places[:k]
        content = "\n\n".join([*notes, _numbered([r.render_place(p) for p in kept])] if kept else notes)
        lines = [f"{k} place{'' if k == 1 else 's'} for {_quoted(q)}.", *ours]
        if k < len(places):
            how = "ask for fewer places (a smaller count) or a narrower query"
            lines.append(_cut_marker("places", k, len(places), max_chars, how))
        structured = r.LocalSearch(
            query=q, places=kept, fallback=None, notes=[*notes, *ours], truncated=k < len(places)
        )
        return Page(
            content, "\n".join(lines), structured.model_dump(mode="json"), "Brave Search local results"
        )

    return fit_page(page, len(places), max_chars)
