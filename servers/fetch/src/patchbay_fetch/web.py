"""Fetching one URL safely: the egress guard, robots.txt, redirects, a byte cap, a deadline, retries, a cache.

`Fetcher.fetch()` follows redirects itself (so each hop is checked against robots.txt and counted against the
cap), reads bodies as raw bytes and decompresses them here with a hard output limit (a gzip bomb stops at the
cap, not in zlib), bounds the whole fetch by one deadline (a server that trickles a byte every few seconds is
cut off even though no single read times out), and keeps an in-memory cache that honours `Cache-Control`,
`ETag` and `Last-Modified`. Nothing here knows about MCP.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import anyio
import httpx2

from patchbay_common.egress import EgressPolicy
from patchbay_common.errors import UserError
from patchbay_common.limits import human_size
from patchbay_common.logs import get_logger
from patchbay_common.retry import RetryableError, parse_retry_after, retry_async
from patchbay_fetch.sanitize import clean_url

__all__ = ["FetchOptions", "Fetcher", "Response"]

log = get_logger("patchbay.fetch")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024

OnBytes = Callable[[int, int | None], None]
"""Told the bytes of a body read so far (as sent, before decompression) and the declared length, if any."""


@dataclass(frozen=True)
class FetchOptions:
    """How the fetcher behaves (all from the operator's flags)."""

    user_agent: str
    max_bytes: int = 5 * 1024 * 1024
    deadline: float = 30.0
    max_redirects: int = 5
    proxy: str | None = None
    retries: int = 3
    max_retry_wait: float = 10.0
    cache_bytes: int = 64 * 1024 * 1024
    robots_ttl: float = 3600.0


@dataclass
class Response:
    """A fetched body and what is known about it."""

    url: str
    final_url: str
    status: int
    content_type: str
    charset: str | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    redirects: list[str] = field(default_factory=list)
    from_cache: bool = False
    etag: str | None = None
    last_modified: str | None = None
    expires: float = 0.0  # monotonic time until which it is fresh

    @property
    def mime(self) -> str:
        """The media type without parameters, lower case ("" when none was sent)."""
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def version(self) -> str:
        """A short tag of this body's identity (validator or length), so a reader can tell pages apart."""
        return self.etag or self.last_modified or f"{len(self.body)}b"


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _freshness(headers: Mapping[str, str]) -> float | None:
    """Seconds the response stays fresh, 0 to revalidate every time, None when it must not be stored.

    `headers` has lower-case names (as `Response.headers` keeps them). Not rebuilt as `httpx2.Headers`:
    that re-encodes values as ASCII, and a site may send any byte in a header.
    """
    control = {
        part.split("=", 1)[0].strip().lower(): part.split("=", 1)[1].strip().strip('"') if "=" in part else ""
        for part in headers.get("cache-control", "").split(",")
        if part.strip()
    }
    if "no-store" in control:
        return None
    if "no-cache" in control:
        return 0.0
    if "max-age" in control:
        try:
            return max(0.0, float(control["max-age"]) - float(headers.get("age", "0") or 0))
        except ValueError:
            return 0.0
    expires = headers.get("expires")
    if expires:
        try:
            return max(0.0, parsedate_to_datetime(expires).timestamp() - time.time())
        except (TypeError, ValueError):
            return 0.0
    return 0.0


class _BodyTooLarge(Exception):
    pass


async def _read_capped(response: httpx2.Response, max_bytes: int, on_bytes: OnBytes | None = None) -> bytes:
    """Read and decode a body, stopping once the decoded size passes `max_bytes`.

    Decompression happens here, one bounded step at a time, so the cap holds for what comes out of zlib.
    `on_bytes` is told after each chunk how many bytes came over the wire of how many were declared.
    """
    declared = response.headers.get("content-length", "")
    total = int(declared) if declared.isdigit() else None
    received = 0
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity") and declared.isdigit() and int(declared) > max_bytes:
        raise _BodyTooLarge(f"declares {human_size(int(declared))}")
    decoder: zlib._Decompress | None = None
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding not in ("", "identity"):
        raise UserError(
            f"The server sent the body with content encoding {encoding!r}, which is not decoded here.",
            hint="Try again later or fetch another URL.",
        )
    out = bytearray()
    async for chunk in response.aiter_raw(_CHUNK):
        received += len(chunk)
        if on_bytes is not None:
            on_bytes(received, total)
        if decoder is None:
            out += chunk
        else:
            data = chunk
            while data:
                out += decoder.decompress(data, max_bytes + 1 - len(out))
                if len(out) > max_bytes:
                    break
                data = decoder.unconsumed_tail
        if len(out) > max_bytes:
            raise _BodyTooLarge(f"is more than {human_size(max_bytes)}")
    if decoder is not None:
        with contextlib.suppress(zlib.error):
            out += decoder.flush()
    if len(out) > max_bytes:
        raise _BodyTooLarge(f"is more than {human_size(max_bytes)}")
    return bytes(out)


class Fetcher:
    """One pooled, guarded HTTP client, a response cache, and a robots.txt cache, for a server's lifetime."""

    def __init__(self, policy: EgressPolicy, options: FetchOptions) -> None:
        self.policy = policy
        self.options = options
        self._client: httpx2.AsyncClient | None = None
        self._cache: OrderedDict[str, Response] = OrderedDict()
        self._cache_size = 0
        from patchbay_fetch.robots import RobotsCache

        self.robots = RobotsCache(self, options.robots_ttl)

    @property
    def client(self) -> httpx2.AsyncClient:
        """The shared client, made on first use (connection pooling across tool calls)."""
        if self._client is None:
            self._client = self.policy.client(
                proxy=self.options.proxy,
                follow_redirects=False,
                timeout=httpx2.Timeout(15.0, connect=10.0),
                headers={"Accept-Encoding": "gzip, deflate"},
                transport_options={"limits": httpx2.Limits(max_connections=20, max_keepalive_connections=10)},
            )
        return self._client

    async def aclose(self) -> None:
        """Close pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- public --

    async def fetch(
        self,
        url: str,
        *,
        user_agent: str | None = None,
        check_robots: bool = True,
        accept: str | None = None,
        on_bytes: OnBytes | None = None,
    ) -> Response:
        """GET `url` following redirects, within the deadline; `UserError` for every anticipated failure.

        `on_bytes` follows the reading of each body (redirect hops read none). Cancelling the call closes
        the connection at once: the body is streamed inside the call's task.
        """
        agent = user_agent or self.options.user_agent
        deadline = self.options.deadline
        try:
            with anyio.fail_after(deadline):
                return await self._fetch(url, agent, check_robots, accept, on_bytes)
        except TimeoutError:
            raise UserError(
                f"Fetching {url} did not finish within {deadline:g} s (the total time limit per fetch).",
                hint="The site is slow or sends its page very slowly; try again later or fetch another URL.",
            ) from None

    def cached(self, url: str) -> Response | None:
        """The cached response for `url`, fresh or not."""
        return self._cache.get(url)

    # -- internals --

    async def _fetch(
        self, url: str, agent: str, check_robots: bool, accept: str | None, on_bytes: OnBytes | None = None
    ) -> Response:
        try:
            current = httpx2.URL(url)
        except (httpx2.InvalidURL, TypeError) as exc:
            raise UserError(
                f"The URL {url!r} is not valid ({exc}).", hint="Give a full http(s) URL."
            ) from None
        self.policy.check_scheme(current.scheme, url)
        entry = self._cache.get(url)
        if entry is not None and entry.expires > time.monotonic():
            if check_robots:  # the entry may come from a fetch that skipped robots.txt (the prompt)
                for hop in (*entry.redirects, entry.final_url):
                    await self.robots.require_allowed(httpx2.URL(hop), agent)
            self._cache.move_to_end(url)
            return _copy(entry, from_cache=True)
        redirects: list[str] = []
        while True:
            if check_robots:
                await self.robots.require_allowed(current, agent)
            conditional = entry if entry is not None and entry.final_url == str(current) else None
            response = await self._get(current, agent, conditional, accept, on_bytes)
            if response.status in _REDIRECTS and "location" in response.headers:
                if len(redirects) >= self.options.max_redirects:
                    raise UserError(
                        f"{url} redirected more than {self.options.max_redirects} times "
                        f"(last to {response.final_url}).",
                        hint="The site has a redirect loop; fetch the final address directly if it is known.",
                    )
                redirects.append(str(current))
                try:
                    current = current.join(response.headers["location"])
                except (httpx2.InvalidURL, TypeError):
                    shown = clean_url(response.headers["location"], 200)
                    raise UserError(f"{current} redirected to an invalid address '{shown}'.") from None
                self.policy.check_scheme(current.scheme, str(current))
                continue
            if response.status == 304 and conditional is not None:
                conditional.expires = time.monotonic() + (_freshness(response.headers) or 0.0)
                self._cache.move_to_end(url)
                return _copy(conditional, from_cache=True, redirects=redirects)
            response.url = url
            response.redirects = redirects
            self._store(url, response)
            return response

    async def _get(
        self,
        url: httpx2.URL,
        agent: str,
        cached: Response | None,
        accept: str | None,
        on_bytes: OnBytes | None = None,
    ) -> Response:
        headers = {"User-Agent": agent}
        if accept:
            headers["Accept"] = accept
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                headers["If-Modified-Since"] = cached.last_modified

        async def attempt() -> Response:
            try:
                async with self.client.stream("GET", url, headers=headers) as raw:
                    if raw.status_code in (429, 503):
                        wait = parse_retry_after(raw.headers.get("retry-after"))
                        if wait is not None and wait > self.options.max_retry_wait:
                            raise UserError(
                                f"{url} answered {raw.status_code} and asked to wait {wait:g} s.",
                                hint="Try again after that time.",
                            )
                        raise RetryableError(f"{url} answered {raw.status_code}", retry_after=wait)
                    try:
                        body = (
                            b""
                            if raw.status_code in _REDIRECTS | {304}
                            else await _read_capped(raw, self.options.max_bytes, on_bytes)
                        )
                    except _BodyTooLarge as exc:
                        raise UserError(
                            f"The response from {url} {exc}; this server reads at most "
                            f"{human_size(self.options.max_bytes)} per response.",
                            hint="Fetch a smaller page, or ask the operator to raise --max-response-bytes.",
                        ) from None
                    return _response(url, raw, body)
            except (
                httpx2.ConnectError,
                httpx2.ConnectTimeout,
                httpx2.ReadError,
                httpx2.RemoteProtocolError,
            ) as exc:
                raise RetryableError(f"{url}: {type(exc).__name__}: {exc or 'connection failed'}") from exc
            except httpx2.TimeoutException as exc:
                raise RetryableError(f"{url}: no data for 15 s ({type(exc).__name__})") from exc

        try:
            return await retry_async(
                attempt,
                idempotent=True,
                attempts=self.options.retries,
                initial_wait=0.2,
                max_wait=self.options.max_retry_wait / 4,
                total_timeout=None,
            )
        except RetryableError as exc:
            raise UserError(
                f"Could not fetch {url} after {self.options.retries} attempts: {exc}.",
                hint="The site may be down or overloaded; try again later.",
            ) from None
        except httpx2.HTTPError as exc:
            raise UserError(f"Could not fetch {url}: {type(exc).__name__}: {exc}.") from None

    def _store(self, url: str, response: Response) -> None:
        fresh = _freshness(response.headers)
        if response.status != 200 or fresh is None or len(response.body) > self.options.cache_bytes // 4:
            return
        response.expires = time.monotonic() + fresh
        old = self._cache.pop(url, None)
        if old is not None:
            self._cache_size -= len(old.body)
        self._cache[url] = response
        self._cache_size += len(response.body)
        while self._cache_size > self.options.cache_bytes and self._cache:
            _, dropped = self._cache.popitem(last=False)
            self._cache_size -= len(dropped.body)


def _response(url: httpx2.URL, raw: httpx2.Response, body: bytes) -> Response:
    content_type = raw.headers.get("content-type", "")
    return Response(
        url=str(url),
        final_url=str(url),
        status=raw.status_code,
        content_type=content_type,
        charset=_charset(content_type),
        body=body,
        headers=dict(raw.headers.items()),
        etag=raw.headers.get("etag"),
        last_modified=raw.headers.get("last-modified"),
    )


def _copy(entry: Response, *, from_cache: bool, redirects: list[str] | None = None) -> Response:
    return Response(
        url=entry.url,
        final_url=entry.final_url,
        status=entry.status,
        content_type=entry.content_type,
        charset=entry.charset,
        body=entry.body,
        headers=entry.headers,
        redirects=list(entry.redirects if redirects is None else redirects),
        from_cache=from_cache,
        etag=entry.etag,
        last_modified=entry.last_modified,
        expires=entry.expires,
    )
