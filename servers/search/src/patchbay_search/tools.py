"""The search toolset: five read-only tools that reach the open web through the Brave Search API.

Each tool takes `deps` (the shared API client and the output budget, built once in server.py) as its first
argument, so a test can call it without a server. Every tool is declared read-only and open-world, and its
output as outside-world content (`untrusted=`): the layer frames the results as data and sanitizes the
structured form, while the counts and continuations in `Reply.note` stay outside the frame. The searches
themselves, and the sizing of each page under the budget, live in search.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from patchbay_common.results import Reply
from patchbay_common.toolsets import Toolset
from patchbay_search import search
from patchbay_search.brave import BraveClient
from patchbay_search.params import SearchOptions
from patchbay_search.results import ImageSearch, LocalSearch, NewsSearch, VideoSearch, WebSearch

tools = Toolset("search", "Search the web, places, news, images and videos with Brave Search.")


@dataclass(frozen=True)
class Deps:
    """What the search tools need: one API client shared by every call and connection, and the budget."""

    client: BraveClient
    max_chars: int


Query = Annotated[str, Field(description="What to search for (at most 400 characters and 50 words).")]
Offset = Annotated[int, Field(ge=0, le=9, description="Page of results: 0 for the first, at most 9.")]
Country = Annotated[
    str | None,
    Field(description="Two-letter country code the results come from, e.g. 'us' or 'de'; 'ALL' for any."),
]
Lang = Annotated[str | None, Field(description="Language code of the results, e.g. 'en', 'de' or 'pt-br'.")]
SafeSearch = Annotated[Literal["off", "moderate", "strict"], Field(description="Filtering of adult content.")]
Freshness = Annotated[
    str | None,
    Field(
        description="Age of the results: 'pd', 'pw', 'pm' or 'py' (past day, week, month, year), "
        "or a range 'YYYY-MM-DDtoYYYY-MM-DD'."
    ),
]
FEWER = "ask for fewer results (a smaller count) or a narrower query"


def _reply(page: search.Page) -> Reply:
    return Reply(page.content, note=page.note, structured=page.structured, source=page.source)


@tools.tool(untrusted="Brave Search web results", open_world=True, continuation=FEWER)
async def brave_web_search(
    deps: Deps,
    query: Query,
    count: Annotated[int, Field(ge=1, le=20, description="Number of results, 1-20.")] = 10,
    offset: Offset = 0,
    country: Country = None,
    search_lang: Lang = None,
    safesearch: SafeSearch = "moderate",
    freshness: Freshness = None,
) -> Annotated[Reply, WebSearch]:
    """Search the web with Brave Search.

    Returns one page of results, each with title, URL, snippet
    and age; repeated pages are shown once.
    """
    options = SearchOptions(country, search_lang, safesearch, freshness)
    return _reply(
        await search.web(
            deps.client, query, count=count, offset=offset, options=options, max_chars=deps.max_chars
        )
    )


@tools.tool(untrusted="Brave Search local results", open_world=True, continuation=FEWER)
async def brave_local_search(
    deps: Deps,
    query: Annotated[
        str, Field(description="A place and what to find there, e.g. 'pizza near Central Park'.")
    ],
    count: Annotated[int, Field(ge=1, le=20, description="Number of places, 1-20.")] = 5,
    country: Country = None,
    search_lang: Lang = None,
) -> Annotated[Reply, LocalSearch]:
    """Find businesses and places with Brave Search.

    Returns each place's name, address, phone,
    rating and review count, price range, opening hours and description. When no place matches,
    returns web results instead. Place details need a Brave plan that includes local search;
    without it, names, addresses and map positions are returned.
    """
    options = SearchOptions(country, search_lang)
    return _reply(
        await search.local(deps.client, query, count=count, options=options, max_chars=deps.max_chars)
    )


@tools.tool(untrusted="Brave Search news results", open_world=True, continuation=FEWER)
async def brave_news_search(
    deps: Deps,
    query: Query,
    count: Annotated[int, Field(ge=1, le=50, description="Number of articles, 1-50.")] = 10,
    offset: Offset = 0,
    country: Country = None,
    search_lang: Lang = None,
    safesearch: SafeSearch = "moderate",
    freshness: Freshness = None,
) -> Annotated[Reply, NewsSearch]:
    """Search news articles with Brave Search.

    Returns one page of articles, each with title, URL,
    snippet, source site and age, breaking news marked.
    """
    options = SearchOptions(country, search_lang, safesearch, freshness)
    return _reply(
        await search.news(
            deps.client, query, count=count, offset=offset, options=options, max_chars=deps.max_chars
        )
    )


@tools.tool(untrusted="Brave Search image results", open_world=True, continuation=FEWER)
async def brave_image_search(
    deps: Deps,
    query: Query,
    count: Annotated[int, Field(ge=1, le=100, description="Number of images, 1-100.")] = 20,
    country: Country = None,
    search_lang: Lang = None,
    safesearch: Annotated[
        Literal["off", "strict"], Field(description="Filtering of adult images.")
    ] = "strict",
) -> Annotated[Reply, ImageSearch]:
    """Search images with Brave Search.

    Returns each image's title, page URL, image URL, size and
    site (links only, no image data).
    """
    options = SearchOptions(country, search_lang, safesearch)
    return _reply(
        await search.images(deps.client, query, count=count, options=options, max_chars=deps.max_chars)
    )


@tools.tool(untrusted="Brave Search video results", open_world=True, continuation=FEWER)
async def brave_video_search(
    deps: Deps,
    query: Query,
    count: Annotated[int, Field(ge=1, le=50, description="Number of videos, 1-50.")] = 10,
    offset: Offset = 0,
    country: Country = None,
    search_lang: Lang = None,
    safesearch: SafeSearch = "moderate",
    freshness: Freshness = None,
) -> Annotated[Reply, VideoSearch]:
    """Search videos with Brave Search.

    Returns one page of videos, each with title, URL, duration,
    publisher, creator, views, age and description.
    """
    options = SearchOptions(country, search_lang, safesearch, freshness)
    return _reply(
        await search.videos(
            deps.client, query, count=count, offset=offset, options=options, max_chars=deps.max_chars
        )
    )
