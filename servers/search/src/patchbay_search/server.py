"""patchbay-search: web, local, news, image and video search through the Brave Search API.

Every tool is read-only and talks to the open web through one API (`--base-url`, default
https://api.search.brave.com) with one key (BRAVE_API_KEY). The server starts without a key and lists its
tools; each call then answers with an isError text saying how to set one. Requests share one pooled
httpx2 client, a limiter that keeps to the plan's per-second limit (learned from the API's X-RateLimit
headers), a guard that stops at the monthly quota, retries with backoff for 429/5xx/timeouts, and a short
cache of identical requests (brave.py). The tools are declared in tools.py; the searches and the sizing of
each page live in search.py, the parsing of Brave's answers in results.py. The layer frames the results as
untrusted data beside their structuredContent; API failures reach the model as isError texts that say what
to do next, with the key redacted. It serves both protocol eras over stdio, SSE and streamable HTTP.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator

from patchbay_common.app import PatchbayServer, serve
from patchbay_common.egress import ProxySettings
from patchbay_common.errors import register_secret
from patchbay_common.settings import CommonSettings, settings_config
from patchbay_search import __version__
from patchbay_search.brave import DEFAULT_BASE_URL, BraveClient
from patchbay_search.tools import Deps, tools

KEY_VARIABLE = "BRAVE_API_KEY"


class Settings(ProxySettings, CommonSettings):
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
        proxies=settings.proxy_config(),  # --proxy-url/--no-proxy, HTTPS_PROXY/ALL_PROXY/NO_PROXY
    )

    @asynccontextmanager
    async def pooled(_: Any) -> AsyncIterator[dict[str, Any]]:
        client.open()  # one HTTP pool while any connection is open
        try:
            yield {}
        finally:
            await client.close()

    mcp = PatchbayServer("patchbay-search", version=__version__, settings=settings, lifespan=pooled)
    mcp.add_toolset(tools, Deps(client=client, max_chars=settings.max_output_chars))
    return mcp


def preflight(settings: Settings) -> list[str]:
    """Start-up check: an API key is given (a warning, or with --strict a refusal)."""
    from patchbay_common.preflight import missing_env

    if settings.api_key is not None or settings.api_key_file is not None:
        return []
    fix = f"get one at https://api-dashboard.search.brave.com and set {KEY_VARIABLE} in the client's env"
    return missing_env([KEY_VARIABLE], "Brave Search API key", fix)


def main() -> None:
    """Console entry point: `patchbay-search [flags]`."""
    serve(build, Settings, secret_env=[KEY_VARIABLE], preflight=preflight)
