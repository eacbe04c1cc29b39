"""The five searches, each from parameters to (text for the model, structured result); no MCP in here.

`local` follows the official server's flow: a web search restricted to locations gives place ids, then
the points of interest and their descriptions are fetched together; with no place found it answers with
web results instead. Unlike the official server it degrades instead of failing when the plan lacks the
local endpoints (places then come from the web search's own location data) or descriptions fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio

from patchbay_common.errors import Partial
from patchbay_search import results as r
from patchbay_search.brave import BraveClient, BraveError
from patchbay_search.params import SearchOptions, check_query

__all__ = ["images", "local", "news", "videos", "web"]

T = TypeVar("T", bound=r.WebResult | r.NewsResult | r.ImageResult | r.VideoResult)

_OVERHEAD = 600  # characters of header, boundary and footer around the results
_LAST_OFFSET = 9


def _budget(max_chars: int) -> int:
    return max(200, max_chars - _OVERHEAD)


def _summary(kind: str, query: str, shown: int, offset: int | None, dropped: int) -> str:
    page = f", page {offset}" if offset else ""
    plural = "" if shown == 1 else "s"
    removed = f", {dropped} duplicate{'' if dropped == 1 else 's'} removed" if dropped else ""
    return f'{shown} {kind} result{plural} for "{query}"{page}{removed}:'


def _footer(
    tool: str, data: dict[str, Any], offset: int | None, truncated: bool, total: int, shown: int
) -> tuple[list[str], bool]:
    lines = []
    altered = r.altered_query(data)
    if altered:
        lines.append(f'Brave searched for "{altered}" instead.')
    if truncated:
        lines.append(f"[truncated: {shown} of {total} results shown to fit the output limit]")
    if offset is not None and offset < _LAST_OFFSET and r.more_available(data):
        lines.append(f"More results: call {tool} again with offset={offset + 1}.")
        return lines, True
    return lines, False


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
    max_chars: int,
) -> tuple[str, dict[str, Any]]:
    q = check_query(query)
    params = [("q", q), ("count", str(count))]
    if offset is not None:
        params.append(("offset", str(offset)))
    params += [*options.params(), *extra]
    data = await client.get(endpoint, params)
    items, dropped = r.dedupe(parse(data), key)
    kept, truncated = r.fit(items, _budget(max_chars))
    footer, more = _footer(tool, data, offset, truncated, len(items), len(kept))
    structured = {
        "query": q,
        "altered_query": r.altered_query(data),
        "offset": offset or 0,
        "more_available": more,
        "duplicates_removed": dropped,
        "truncated": truncated,
        "results": [item.model_dump(mode="json") for item in kept],
    }
    if not kept:
        hint = "Try other or fewer words" + (", or a wider freshness" if options.freshness else "") + "."
        return "\n".join([f'No {kind} results for "{q}". {hint}', *footer]), structured
    header = _summary(kind, q, len(kept), offset, dropped)
    return r.render(header, [render(i) for i in kept], f"Brave Search {kind} results", footer), structured


async def web(
    client: BraveClient, query: str, *, count: int, offset: int, options: SearchOptions, max_chars: int
) -> tuple[str, dict[str, Any]]:
    """One page of web results."""
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
        max_chars=max_chars,
    )


async def news(
    client: BraveClient, query: str, *, count: int, offset: int, options: SearchOptions, max_chars: int
) -> tuple[str, dict[str, Any]]:
    """One page of news articles."""
    return await _list_search(
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
        max_chars=max_chars,
    )


async def images(
    client: BraveClient, query: str, *, count: int, options: SearchOptions, max_chars: int
) -> tuple[str, dict[str, Any]]:
    """Image results (Brave's image search has no pages)."""
    return await _list_search(
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
        max_chars=max_chars,
    )


async def videos(
    client: BraveClient, query: str, *, count: int, offset: int, options: SearchOptions, max_chars: int
) -> tuple[str, dict[str, Any]]:
    """One page of video results."""
    return await _list_search(
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
        max_chars=max_chars,
    )


async def local(
    client: BraveClient, query: str, *, count: int, options: SearchOptions, max_chars: int
) -> tuple[str, dict[str, Any]]:
    """Places matching a local query, with details and descriptions; web results when none is found."""
    q = check_query(query)
    opts = options.params()
    found = await client.get("web", [("q", q), ("result_filter", "locations"), ("count", str(count)), *opts])
    ids = r.location_ids(found, count)
    if not ids:
        text, web_part = await web(client, q, count=count, offset=0, options=options, max_chars=max_chars)
        structured = r.LocalSearch(
            query=q,
            places=[],
            fallback="web",
            web_results=web_part["results"],
            truncated=web_part["truncated"],
        )
        return f'No places found for "{q}"; web results instead.\n{text}', structured.model_dump(mode="json")

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
    kept, truncated = r.fit(partial.items, _budget(max_chars))
    notes = [partial.note()] if partial.failures else []
    if "pois" not in answers:
        notes.append(
            "Only names, addresses and map positions are shown: the place details could not be fetched."
        )
    footer = list(notes)
    if truncated:
        footer.append(
            f"[truncated: {len(kept)} of {len(partial.items)} places shown to fit the output limit]"
        )
    structured = r.LocalSearch(query=q, places=kept, fallback=None, notes=notes, truncated=truncated)
    header = f'{len(kept)} place{"" if len(kept) == 1 else "s"} for "{q}":'
    text = r.render(header, [r.render_place(p) for p in kept], "Brave Search local results", footer)
    return text, structured.model_dump(mode="json")
