"""patchbay-search: web, local, news, image and video search through the Brave Search API.

Every tool is read-only and talks to the open web through one API (`--base-url`, default
https://api.search.brave.com) with one key (BRAVE_API_KEY). The server starts without a key and lists its
tools; each call then answers with an isError text saying how to set one. Requests share one pooled
httpx2 client, a limiter that keeps to the plan's per-second limit (learned from the API's X-RateLimit
headers), a guard that stops at the monthly quota, retries with backoff for 429/5xx/timeouts, and a short
cache of identical requests (brave.py). Results are compact text wrapped as untrusted data plus
structuredContent (results.py, search.py); API failures reach the model as isError texts that say what to
do next, with the key redacted. It serves both protocol eras over stdio, SSE and streamable HTTP.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp_types import CallToolResult, TextContent
from pydantic import Field, SecretStr, field_validator

from patchbay_common.annotations import hints
from patchbay_common.app import PatchbayServer, serve
from patchbay_common.errors import register_secret
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_search import __version__, search
from patchbay_search.brave import DEFAULT_BASE_URL, BraveClient
from patchbay_search.params import SearchOptions
from patchbay_search.results import ImageSearch, LocalSearch, NewsSearch, VideoSearch, WebSearch

KEY_VARIABLE = "BRAVE_API_KEY"


class Settings(CommonSettings):
    """Flags of patchbay-search (each also PATCHBAY_SEARCH_<FLAG>); the key comes from BRAVE_API_KEY."""

    model_config = settings_config("search")

    api_key: SecretStr | None = Field(
        None, description="Brave Search API key; the BRAVE_API_KEY variable is preferred (flags show in ps)."
    )
    api_key_file: Path | None = Field(None, description="Read the Brave Search API key from this file.")
    base_url: str = Field(DEFAULT_BASE_URL, description="Base URL of the Brave Search API.")
    rate_limit: float = Field(
        0,
        ge=0,
        description="Requests per second sent to the API; 0 follows the plan's limit from the API's "
        "X-RateLimit headers (1 per second until the first answer).",
    )
    cache_ttl: float = Field(
        300, ge=0, description="Seconds an identical request is answered from memory (0: off)."
    )
    cache_size: int = Field(256, ge=0, description="Most requests kept in the cache (0: off).")
    request_timeout: float = Field(10, gt=0, description="Seconds one HTTP request to the API may take.")
    retries: int = Field(
        2, ge=0, le=10, description="Extra tries after a 429, 5xx, timeout or dropped connection."
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def brave_api_key(self) -> str | None:
        """The key from --api-key, --api-key-file or BRAVE_API_KEY (in that order), or None."""
        if self.api_key is not None:
            key = self.api_key.get_secret_value()
        elif self.api_key_file is not None:
            try:
                key = self.api_key_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(
                    f"--api-key-file: cannot read {self.api_key_file} ({exc.strerror})"
                ) from None
        else:
            key = os.environ.get(KEY_VARIABLE, "")
        return key.strip() or None


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
SEARCH = hints(read_only=True, open_world=True)


def _result(text: str, structured: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def build(settings: Settings) -> PatchbayServer:
    """The server with its five search tools; one `BraveClient` shared by all calls and connections."""
    key = settings.brave_api_key()
    register_secret(key)
    client = BraveClient(
        api_key=key,
        base_url=settings.base_url,
        timeout=settings.request_timeout,
        rate_limit=settings.rate_limit or None,
        cache_size=settings.cache_size,
        cache_ttl=settings.cache_ttl,
        attempts=settings.retries + 1,
        user_agent=f"patchbay-search/{__version__}",
    )
    limit = settings.max_output_chars

    @asynccontextmanager
    async def pooled(_: Any) -> AsyncIterator[dict[str, Any]]:
        client.open()
        try:
            yield {}
        finally:
            await client.close()

    mcp = PatchbayServer("patchbay-search", version=__version__, settings=settings, lifespan=pooled)
    mcp.brave = client  # type: ignore[attr-defined]  # for tests and forks: the shared API client

    @mcp.tool(annotations=SEARCH)
    async def brave_web_search(
        query: Query,
        count: Annotated[int, Field(ge=1, le=20, description="Number of results, 1-20.")] = 10,
        offset: Offset = 0,
        country: Country = None,
        search_lang: Lang = None,
        safesearch: SafeSearch = "moderate",
        freshness: Freshness = None,
    ) -> Annotated[CallToolResult, WebSearch]:
        """Search the web with Brave Search.

        Returns one page of results, each with title, URL, snippet
        and age; repeated pages are shown once.
        """
        options = SearchOptions(country, search_lang, safesearch, freshness)
        return _result(
            *await search.web(client, query, count=count, offset=offset, options=options, max_chars=limit)
        )

    @mcp.tool(annotations=SEARCH)
    async def brave_local_search(
        query: Annotated[
            str, Field(description="A place and what to find there, e.g. 'pizza near Central Park'.")
        ],
        count: Annotated[int, Field(ge=1, le=20, description="Number of places, 1-20.")] = 5,
        country: Country = None,
        search_lang: Lang = None,
    ) -> Annotated[CallToolResult, LocalSearch]:
        """Find businesses and places with Brave Search.

        Returns each place's name, address, phone,
        rating and review count, price range, opening hours and description. When no place matches,
        returns web results instead. Place details need a Brave plan that includes local search;
        without it, names, addresses and map positions are returned.
        """
        options = SearchOptions(country, search_lang)
        return _result(*await search.local(client, query, count=count, options=options, max_chars=limit))

    @mcp.tool(annotations=SEARCH)
    async def brave_news_search(
        query: Query,
        count: Annotated[int, Field(ge=1, le=50, description="Number of articles, 1-50.")] = 10,
        offset: Offset = 0,
        country: Country = None,
        search_lang: Lang = None,
        safesearch: SafeSearch = "moderate",
        freshness: Freshness = None,
    ) -> Annotated[CallToolResult, NewsSearch]:
        """Search news articles with Brave Search.

        Returns one page of articles, each with title, URL,
        snippet, source site and age, breaking news marked.
        """
        options = SearchOptions(country, search_lang, safesearch, freshness)
        return _result(
            *await search.news(client, query, count=count, offset=offset, options=options, max_chars=limit)
        )

    @mcp.tool(annotations=SEARCH)
    async def brave_image_search(
        query: Query,
        count: Annotated[int, Field(ge=1, le=100, description="Number of images, 1-100.")] = 20,
        country: Country = None,
        search_lang: Lang = None,
        safesearch: Annotated[
            Literal["off", "strict"], Field(description="Filtering of adult images.")
        ] = "strict",
    ) -> Annotated[CallToolResult, ImageSearch]:
        """Search images with Brave Search.

        Returns each image's title, page URL, image URL, size and
        site (links only, no image data).
        """
        options = SearchOptions(country, search_lang, safesearch)
        return _result(*await search.images(client, query, count=count, options=options, max_chars=limit))

    @mcp.tool(annotations=SEARCH)
    async def brave_video_search(
        query: Query,
        count: Annotated[int, Field(ge=1, le=50, description="Number of videos, 1-50.")] = 10,
        offset: Offset = 0,
        country: Country = None,
        search_lang: Lang = None,
        safesearch: SafeSearch = "moderate",
        freshness: Freshness = None,
    ) -> Annotated[CallToolResult, VideoSearch]:
        """Search videos with Brave Search.

        Returns one page of videos, each with title, URL, duration,
        publisher, creator, views, age and description.
        """
        options = SearchOptions(country, search_lang, safesearch, freshness)
        return _result(
            *await search.videos(client, query, count=count, offset=offset, options=options, max_chars=limit)
        )

    return mcp


def main() -> None:
    """Console entry point: `patchbay-search [flags]`."""
    serve(build, Settings, secret_env=[KEY_VARIABLE])
