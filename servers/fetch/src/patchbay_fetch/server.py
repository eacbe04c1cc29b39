"""patchbay-fetch: web pages as clean Markdown (or text, HTML, JSON, links) for a model, over MCP.

Every request goes through the shared egress guard (`patchbay_common.egress`): only http/https, every
connection (redirect hops and robots.txt included) resolved once, every address checked, and the checked
address dialled, so internal and cloud-metadata addresses are unreachable unless the operator allows them.
Bodies are capped while streaming (decompression included), each fetch has one total deadline, GETs are
retried on 429/503 and connection errors. robots.txt is honoured for tool calls and skipped for the
user-initiated `fetch` prompt. Extraction is lxml in-process (no Node), in worker threads with a deadline
and bounded input (tags, nesting), so a hostile page cannot stall other calls. Everything the site wrote
(content, final URL, title, description, content type) reaches the model inside the untrusted-data frame;
what is printed outside it (addresses and headers quoted in errors) is cleaned of invisible characters and
forged frame boundaries. Anticipated failures are `isError` text saying what to try next. Read-only;
stdio, SSE and streamable HTTP, both protocol eras.

Code layout: web.py (the guarded client), robots.py, extract.py and render.py (conversion, windows),
deps.py (what the tool needs), tools.py (the `fetch` tool and the prompt's text); this file reads the
settings, builds the dependencies and registers the tool and the prompt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from pydantic import Field

from patchbay_common.app import PatchbayServer, serve
from patchbay_common.egress import EgressSettings
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_fetch import __version__, tools
from patchbay_fetch.deps import Deps
from patchbay_fetch.render import Converter, RenderCache
from patchbay_fetch.web import Fetcher, FetchOptions

PROJECT_URL = "https://github.com/patchbay-mcp/patchbay"
DEFAULT_USER_AGENT = f"ModelContextProtocol/1.0 (Autonomous; +{PROJECT_URL}) patchbay-fetch/{__version__}"
PROMPT_USER_AGENT = f"ModelContextProtocol/1.0 (User-Specified; +{PROJECT_URL}) patchbay-fetch/{__version__}"


class Settings(EgressSettings, CommonSettings):
    """Flags of patchbay-fetch: the common ones, the egress guard's, and these."""

    model_config = settings_config("fetch")

    user_agent: str = Field(DEFAULT_USER_AGENT, description="User-Agent sent by the fetch tool.")
    ignore_robots_txt: bool = Field(False, description="Do not check robots.txt before tool fetches.")
    max_response_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="Largest response body read, after decompression."
    )
    fetch_timeout: float = Field(
        30.0, gt=0, description="Seconds one fetch may take in total, redirects included."
    )
    max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed per fetch.")
    cache_mb: int = Field(64, ge=0, description="Megabytes of responses kept in memory for revalidation.")
    robots_ttl: float = Field(
        3600.0, ge=0, description="Seconds a site's robots.txt is kept before refetching."
    )
    allow_pdf: bool = Field(
        False, description="Return the text of PDF documents (needs patchbay-fetch[pdf])."
    )
    allow_images: bool = Field(False, description="Return images (PNG, JPEG, GIF, WebP) as image content.")


def fetcher_of(settings: Settings) -> Fetcher:
    """The one guarded, pooled client every fetch goes through.

    It goes through the operator's proxy, if any: --proxy-url/--no-proxy or HTTPS_PROXY/HTTP_PROXY/ALL_PROXY
    and NO_PROXY, read by `EgressSettings` into the policy.
    """
    return Fetcher(
        settings.egress_policy(),
        FetchOptions(
            user_agent=settings.user_agent,
            max_bytes=settings.max_response_bytes,
            deadline=settings.fetch_timeout,
            max_redirects=settings.max_redirects,
            cache_bytes=settings.cache_mb * 1024 * 1024,
            robots_ttl=settings.robots_ttl,
        ),
    )


def build(settings: Settings) -> PatchbayServer:
    """The fetch server: one `fetch` tool and one `fetch` prompt over one guarded, pooled client."""
    deps = Deps(
        fetcher=fetcher_of(settings),
        renderings=RenderCache(),
        converter=Converter(),
        user_agent=settings.user_agent,
        prompt_user_agent=PROMPT_USER_AGENT,
        check_robots=not settings.ignore_robots_txt,
        allow_pdf=settings.allow_pdf,
        allow_images=settings.allow_images,
        fetch_timeout=settings.fetch_timeout,
        max_chars=settings.max_output_chars,
        allow_sampling=settings.allow_sampling,
    )

    @asynccontextmanager
    async def close_connections(_: object) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await deps.fetcher.aclose()  # the client is made again on first use if the server runs again

    mcp = PatchbayServer(
        "patchbay-fetch",
        version=__version__,
        settings=settings,
        lifespan=close_connections,
        # What the first fetch would import (the guarded HTTP client, the HTML parser, robots.txt): imported
        # in the background once a client has connected (patchbay_common.warmup).
        warm_imports=("patchbay_common._egress_http", "lxml.etree", "lxml.html", "protego"),
    )
    mcp.add_toolset(tools.tools, deps)

    @mcp.prompt(name="fetch", title="Fetch a web page")
    async def fetch_prompt(url: Annotated[str, Field(description="The URL to fetch.")]) -> str:
        """Fetch a URL (as the user, without robots.txt) and return its content as Markdown."""
        return await tools.prompt_text(deps, url)

    return mcp


def main() -> None:
    """Console entry point: `patchbay-fetch [flags]`."""
    serve(build, Settings)
