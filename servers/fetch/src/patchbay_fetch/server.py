"""patchbay-fetch: web pages as clean Markdown (or text, HTML, JSON, links) for a model, over MCP.

Every request goes through the shared egress guard (`patchbay_common.egress`): only http/https, every
connection (redirect hops and robots.txt included) resolved once, every address checked, and the checked
address dialled, so internal and cloud-metadata addresses are unreachable unless the operator allows them.
Bodies are capped while streaming (decompression included), each fetch has one total deadline, GETs are
retried on 429/503 and connection errors. robots.txt is honoured for tool calls and skipped for the
user-initiated `fetch` prompt. Extraction is lxml in-process (no Node). Page text reaches the model wrapped
as untrusted data; anticipated failures are `isError` text saying what to try next. Read-only; stdio, SSE
and streamable HTTP, both protocol eras.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from mcp.server.mcpserver import Image
from pydantic import Field

from patchbay_common.annotations import hints
from patchbay_common.app import PatchbayServer, serve
from patchbay_common.egress import EgressSettings
from patchbay_common.errors import UserError
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_common.untrusted import wrap_untrusted
from patchbay_fetch import __version__
from patchbay_fetch.render import Format, RenderCache, Rendered, describe, render, window
from patchbay_fetch.web import Fetcher, FetchOptions, Response

PROJECT_URL = "https://github.com/patchbay-mcp/patchbay"
DEFAULT_USER_AGENT = f"ModelContextProtocol/1.0 (Autonomous; +{PROJECT_URL}) patchbay-fetch/{__version__}"
PROMPT_USER_AGENT = f"ModelContextProtocol/1.0 (User-Specified; +{PROJECT_URL}) patchbay-fetch/{__version__}"
FETCH_DESCRIPTION = (
    "Fetch a URL and return its content as Markdown, text, HTML, JSON or a list of links. The result starts "
    "with the final URL, status, title, description, canonical URL and language, then the requested window "
    "of the content; a longer content ends with the start_index to read on from."
)


class Settings(EgressSettings, CommonSettings):
    """Flags of patchbay-fetch: the common ones, the egress guard's, and these."""

    model_config = settings_config("fetch")

    user_agent: str = Field(DEFAULT_USER_AGENT, description="User-Agent sent by the fetch tool.")
    ignore_robots_txt: bool = Field(False, description="Do not check robots.txt before tool fetches.")
    proxy_url: str | None = Field(
        None, description="Send every request through this HTTP proxy (http:// or https://)."
    )
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


def build(settings: Settings) -> PatchbayServer:
    """The fetch server: one `fetch` tool and one `fetch` prompt over one guarded, pooled client."""

    @asynccontextmanager
    async def close_connections(_: object) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await fetcher.aclose()  # the client is made again on first use if the server runs again

    if settings.proxy_url is not None and not settings.proxy_url.startswith(("http://", "https://")):
        raise ValueError(f"--proxy-url must be an http:// or https:// URL, got {settings.proxy_url!r}")
    mcp = PatchbayServer("patchbay-fetch", version=__version__, settings=settings, lifespan=close_connections)
    fetcher = Fetcher(
        settings.egress_policy(),
        FetchOptions(
            user_agent=settings.user_agent,
            max_bytes=settings.max_response_bytes,
            deadline=settings.fetch_timeout,
            max_redirects=settings.max_redirects,
            proxy=settings.proxy_url,
            cache_bytes=settings.cache_mb * 1024 * 1024,
            robots_ttl=settings.robots_ttl,
        ),
    )
    renderings = RenderCache()

    async def rendered(
        url: str, fmt: Format, selector: str | None, raw: bool, start: int, robots: bool
    ) -> Rendered:
        # Tool calls (robots.txt checked) and the prompt (not checked) keep separate renderings.
        key = (("tool " if robots else "prompt ") + url, fmt, selector or "", raw)
        if start > 0 and (kept := renderings.get(key)) is not None:
            return kept  # the same text the earlier pages came from
        agent = settings.user_agent if robots else PROMPT_USER_AGENT
        response: Response = await fetcher.fetch(url, user_agent=agent, check_robots=robots)
        if response.status >= 400:
            raise UserError(
                f"{response.final_url} answered HTTP {response.status}.",
                hint="Check the URL; if the page exists the site may be refusing automated clients.",
            )
        result = render(
            response,
            fmt,
            selector=selector,
            raw=raw,
            allow_pdf=settings.allow_pdf,
            allow_images=settings.allow_images,
        )
        renderings.put(key, result)
        return result

    @mcp.tool(
        annotations=hints(read_only=True, open_world=True, title="Fetch a web page"),
        description=FETCH_DESCRIPTION,
        structured_output=False,
    )
    async def fetch(
        url: Annotated[str, Field(min_length=1, description="The http or https URL to fetch.")],
        max_length: Annotated[
            int, Field(ge=1, le=1_000_000, description="Most characters to return in this call.")
        ] = 5000,
        start_index: Annotated[
            int,
            Field(ge=0, description="Character offset to start from, to read on after a truncated result."),
        ] = 0,
        raw: Annotated[bool, Field(description="Return the body as sent, without conversion.")] = False,
        format: Annotated[
            Format,
            Field(
                description="markdown (main content), text (main content, no markup), html (main content, "
                "cleaned), json (pretty-printed), or links (every link on the page with its text)."
            ),
        ] = "markdown",
        selector: Annotated[
            str | None,
            Field(
                description="A CSS selector taking only part of an HTML page (e.g. 'article', '#content'); "
                "for JSON, a path such as $.items[0].name."
            ),
        ] = None,
    ) -> str | Image:
        """Fetch `url` and return one window of its content (the description the model reads is above)."""
        result = await rendered(url, format, selector, raw, start_index, not settings.ignore_robots_txt)
        if result.image is not None:
            data, kind = result.image
            return Image(data=data, format=kind)
        limit = min(max_length, settings.max_output_chars)
        page = window(result.text, start_index, limit)
        text = f"{describe(result.meta, page)}\n{wrap_untrusted(page.text, result.meta.get('url', url))}"
        if page.next_index is not None:
            text += (
                f"\n[truncated: {page.total - page.end} more characters; "
                f"call fetch again with start_index={page.next_index} to read on]"
            )
        return text

    @mcp.prompt(name="fetch", title="Fetch a web page")
    async def fetch_prompt(url: Annotated[str, Field(description="The URL to fetch.")]) -> str:
        """Fetch a URL (as the user, without robots.txt) and return its content as Markdown."""
        try:
            result = await rendered(url, "markdown", None, False, 0, False)
        except UserError as exc:
            return f"Failed to fetch {url}: {exc}"
        text = result.text[: settings.max_output_chars * 4]
        return f"Contents of {result.meta.get('url', url)}:\n{wrap_untrusted(text, url)}"

    return mcp


def main() -> None:
    """Console entry point: `patchbay-fetch [flags]`."""
    serve(build, Settings)
