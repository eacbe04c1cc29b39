"""The Brave Search API over HTTP: one pooled client, the plan's rate limit, retries, a cache, clear errors.

Every request goes through `BraveClient.get`, which (in this order) refuses at once when no key is set or
the monthly quota is known to be used up, answers from the cache when the same request was made in the last
few minutes, waits for a slot under the plan's per-second limit, sends the GET, and retries transient
failures (429 within the per-second window, 5xx, timeouts, dropped connections) with backoff that honours
`Retry-After` and `X-RateLimit-Reset`. Any other failure becomes a `BraveError` whose text says what to do.
The API key travels only in the `X-Subscription-Token` header and is never part of an error or log line.

A search that has to wait (a rate-limit slot a second or more away, or a retry after a failed attempt)
reports progress from then on (attempts finished of those allowed, the message saying what it waits for)
and tells the client about a long rate-limit wait with `log_to_client` (the retries themselves are logged by
the common retry helper). A quick search sends no progress at all.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from patchbay_common.errors import UserError
from patchbay_common.logs import get_logger
from patchbay_common.notify import Progress, log_to_client
from patchbay_common.retry import RetryableError, parse_retry_after, retry_async
from patchbay_common.untrusted import sanitize
from patchbay_search.cache import TtlCache
from patchbay_search.ratelimit import Quota, RateHeaders, RateLimiter, parse_rate_headers

if TYPE_CHECKING:
    import httpx2

    from patchbay_common.egress import ProxyConfig

__all__ = [
    "DEFAULT_BASE_URL",
    "PATHS",
    "BraveClient",
    "BraveError",
    "NotInPlan",
    "Params",
]

DEFAULT_BASE_URL = "https://api.search.brave.com"
MAX_ANSWER_BYTES = 2 * 1024 * 1024
"""Largest answer read (after decompression): Brave's largest pages (100 images, 20 web results with extra
snippets) are a few hundred KB, so a larger answer is not one to use, and decoding it would stall the loop."""
PATHS = {
    "web": "/res/v1/web/search",
    "news": "/res/v1/news/search",
    "images": "/res/v1/images/search",
    "videos": "/res/v1/videos/search",
    "pois": "/res/v1/local/pois",
    "descriptions": "/res/v1/local/descriptions",
}
KEY_HELP = (
    "Ask the user to set BRAVE_API_KEY in this server's environment (a key from "
    "https://api-dashboard.search.brave.com; the Free plan is enough for web search) and restart the server."
)

Params = Sequence[tuple[str, str]]

log = get_logger("patchbay.search")


class BraveError(UserError):
    """The Brave Search API refused a request; `code` is Brave's error code (e.g. `RATE_LIMITED`)."""

    def __init__(self, message: str, *, hint: str | None = None, code: str = "", status: int = 0) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status


class NotInPlan(BraveError):
    """The key's plan does not include this endpoint (local search needs a paid plan)."""


class _Transient(RetryableError):
    """A failure worth another try; `final` is the text the model reads if every try fails."""

    def __init__(self, final: str, *, retry_after: float | None = None, hint: str = "") -> None:
        super().__init__(final, retry_after=retry_after)
        self.final = final
        self.hint = hint


@asynccontextmanager
async def reporting(**options: Any) -> AsyncIterator[Progress]:
    """`Progress(**options)`, but an error raised inside comes out as itself.

    `Progress` runs its sender in a task group, which wraps whatever the body raises in an
    `ExceptionGroup`; callers here catch specific errors (a layer gap, worked around here).
    """
    try:
        async with Progress(**options) as progress:
            yield progress
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


LONG_WAIT = 1.0
"""Seconds of waiting from which a search reports progress and logs the wait to the client."""


class _Waits:
    """The progress of one search, opened only once it has to wait."""

    def __init__(self, stack: AsyncExitStack, attempts: int, what: str) -> None:
        self._stack = stack
        self.attempts = attempts
        self.what = what
        self.finished = 0
        self.progress: Progress | None = None

    async def report(self, message: str) -> None:
        if self.progress is None:
            progress = reporting(total=self.attempts, unit="attempts", message=message)
            self.progress = await self._stack.enter_async_context(progress)
        self.progress.update(self.finished, message=f"{self.what}: {message}")


class BraveClient:
    """All requests to one Brave Search API base URL with one key, shared by every tool call."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        rate_limit: float | None = None,
        cache_size: int = 256,
        cache_ttl: float = 300.0,
        attempts: int = 3,
        user_agent: str = "patchbay-search",
        proxies: ProxyConfig | None = None,
    ) -> None:
        self.api_key = api_key or None
        self.proxies = proxies
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.user_agent = user_agent
        self.limiter = RateLimiter(rate_limit or None)
        self.quota = Quota()
        self.cache = TtlCache(cache_size, cache_ttl)
        self.requests_sent = 0
        self._http: httpx2.AsyncClient | None = None
        self._users = 0

    # --- lifecycle: one pool while any connection is open ---------------------------------------------

    def open(self) -> None:
        """A connection starts using the client."""
        self._users += 1

    async def close(self) -> None:
        """A connection stops using the client; the pool closes when none is left."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._http is not None:
            http, self._http = self._http, None
            with anyio.CancelScope(shield=True):  # also on shutdown, when the caller is being cancelled
                await http.aclose()

    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            import httpx2  # the SDK brings it; imported on first search, not at start-up

            from patchbay_common.egress import proxied_client

            assert self.api_key is not None
            self._http = proxied_client(  # the operator's proxy (if any) decides the route, as for fetch
                self.proxies,
                base_url=self.base_url,
                headers={
                    "Accept": "application/json",
                    "Accept-Encoding": "gzip",
                    "User-Agent": self.user_agent,
                    "X-Subscription-Token": self.api_key,
                },
                timeout=httpx2.Timeout(self.timeout),
                transport_options={"limits": httpx2.Limits(max_connections=10, max_keepalive_connections=5)},
                follow_redirects=False,
            )
        return self._http

    # --- requests --------------------------------------------------------------------------------------

    async def get(self, endpoint: str, params: Params) -> dict[str, Any]:
        """GET one endpoint (a key of `PATHS`) and return its JSON object.

        Raises:
            BraveError: no key, quota used up, key rejected, plan lacks the endpoint, bad parameters, or
                the API kept failing after the retries.
        """
        if not self.api_key:
            raise BraveError("No Brave Search API key is configured, so no search can run.", hint=KEY_HELP)
        path = PATHS[endpoint]
        key = (path, tuple(params))
        cached = self.cache.get(key)
        if cached is not None:
            log.debug("cache hit", endpoint=endpoint)
            return cached  # type: ignore[no-any-return]
        self._check_quota()

        async with AsyncExitStack() as stack:
            waits = _Waits(stack, self.attempts, f"Brave {endpoint} search")

            async def attempt() -> dict[str, Any]:
                # a coroutine function, not a lambda: tenacity would not await a lambda's coroutine
                try:
                    return await self._send(path, params, waits)
                except _Transient as exc:
                    waits.finished += 1
                    if waits.finished < self.attempts:
                        await waits.report(f"attempt {waits.finished} failed ({exc.final}); waiting to retry")
                    raise

            try:
                data = await retry_async(
                    attempt,
                    idempotent=True,
                    attempts=self.attempts,
                    initial_wait=0.25,
                    max_wait=4.0,
                    total_timeout=None,  # the tool call's own deadline bounds the whole call
                )
            except _Transient as exc:
                raise BraveError(exc.final, hint=exc.hint or "Try again in a minute.") from None
            if waits.progress is not None:
                waits.progress.update(self.attempts, message=f"{waits.what}: answered")
        self.cache.put(key, data)
        return data

    def _check_quota(self) -> None:
        left = self.quota.exhausted_for()
        if left is not None:
            raise BraveError(
                f"The Brave Search API quota of this key is used up for this month "
                f"(resets in {_duration(left)}).",
                hint="Ask the user to raise the plan's quota in the Brave Search API dashboard, "
                "or wait for the reset.",
                code="QUOTA_EXHAUSTED",
                status=429,
            )

    async def _send(self, path: str, params: Params, waits: _Waits | None = None) -> dict[str, Any]:
        import httpx2

        self._check_quota()
        wait = self.limiter.reserve()
        if wait >= LONG_WAIT and waits is not None:
            said = f"waiting {wait:.1f} s for a slot under the rate limit ({self.limiter.rate:g} per second)"
            await waits.report(said)
            await log_to_client("info", f"{waits.what}: {said}", wait_seconds=round(wait, 2))
        if wait > 0:
            await anyio.sleep(wait)
        self.requests_sent += 1
        try:
            async with self._client().stream("GET", path, params=list(params)) as response:
                body = await _read_bounded(response)
        except httpx2.TimeoutException:
            raise _Transient(
                f"The Brave Search API at {self.base_url} did not answer within {self.timeout:g} s.",
                hint="Try again later, or with a narrower query.",
            ) from None
        except httpx2.TransportError as exc:
            raise _Transient(
                f"Could not reach the Brave Search API at {self.base_url} ({type(exc).__name__}: {exc}).",
                hint="Check the network or the server's --base-url, then try again.",
            ) from None
        rate = parse_rate_headers(response.headers)
        self.limiter.learn(rate)
        self.quota.record(rate)
        data = _decode(body)
        if response.status_code == 200:
            return _json_object(data)
        error = _error_body(data)
        if response.status_code == 429:
            self._rate_limited(response, rate, error)
        if response.status_code >= 500:
            detail = _said(error.get("detail")) or "no detail"
            raise _Transient(
                f"The Brave Search API failed with HTTP {response.status_code} ({detail}).",
                hint="It is likely a temporary outage: try again in a minute.",
            )
        raise _client_error(response.status_code, error)

    def _rate_limited(self, response: httpx2.Response, rate: RateHeaders, body: dict[str, Any]) -> None:
        meta = body.get("meta") or {}
        quota_used = (
            isinstance(meta.get("quota_limit"), int)
            and isinstance(meta.get("quota_current"), int)
            and meta["quota_current"] >= meta["quota_limit"]
        )
        if rate.monthly_remaining == 0 or quota_used:
            if self.quota.exhausted_until is None:
                self.quota.record(
                    RateHeaders(monthly_remaining=0, monthly_reset=rate.monthly_reset or 24 * 3600.0)
                )
            self._check_quota()
        wait = parse_retry_after(response.headers.get("retry-after"))
        if wait is None:
            wait = rate.per_second_reset if rate.per_second_reset is not None else 1.0
        self.limiter.pause(wait)
        log.warning("rate limited by the API", wait_seconds=wait)
        raise _Transient(
            f"The Brave Search API kept answering 429 (rate limited) after {self.attempts} tries; "
            f"the plan allows {self.limiter.rate:g} requests per second.",
            retry_after=wait,
            hint="Wait a few seconds and try again, or set a lower --rate-limit on the server.",
        )


async def _read_bounded(response: httpx2.Response) -> bytes:
    """The answer's body, read up to `MAX_ANSWER_BYTES` (after decompression), else a `BraveError`."""
    declared = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity") and declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise _too_large()
    return bytes(body)


def _too_large() -> BraveError:
    return BraveError(
        f"The Brave Search API answered with more than {MAX_ANSWER_BYTES // (1024 * 1024)} MB, which is not "
        "read.",
        hint="Ask for fewer results (a smaller count); check the server's --base-url.",
    )


def _decode(body: bytes) -> Any:
    """The JSON value of `body`, or None when it is not JSON.

    Decoded on the event loop: json's C decoder holds the interpreter lock throughout, so a worker thread
    would not let the loop run meanwhile. `MAX_ANSWER_BYTES` is what keeps this short (about 30 ms).
    """
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None


def _json_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BraveError(
            "The Brave Search API answered with something other than a JSON object.",
            hint="Check the server's --base-url: it must point at the Brave Search API.",
        )
    return data


def _error_body(data: Any) -> dict[str, Any]:
    """The `error` object of Brave's `ErrorResponse`, or {} when the body is something else."""
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _client_error(status: int, error: dict[str, Any]) -> BraveError:
    code = str(error.get("code") or "")
    shown, detail = _said(code, 60), _said(error.get("detail"))
    said = f"{shown}: {detail}" if shown and detail else (shown or detail or f"HTTP {status}")
    if code == "SUBSCRIPTION_TOKEN_INVALID" or status in (401, 403):
        return BraveError(
            f"The Brave Search API rejected the configured API key ({said}).",
            hint=KEY_HELP,
            code=code,
            status=status,
        )
    if code == "OPTION_NOT_IN_PLAN":
        return NotInPlan(
            f"The Brave Search plan of this API key does not include this search ({said}).",
            hint="Use brave_web_search instead, or ask the user to move the key to a plan that includes it.",
            code=code,
            status=status,
        )
    if code == "VALIDATION" or status == 422:
        problems = _validation_problems(error)
        return BraveError(
            f"The Brave Search API rejected the request parameters ({problems or said}).",
            hint="Change the parameter it names and call again.",
            code=code,
            status=status,
        )
    return BraveError(
        f"The Brave Search API refused the request with HTTP {status} ({said}).",
        hint="Check the parameters and try again.",
        code=code,
        status=status,
    )


def _validation_problems(error: dict[str, Any]) -> str:
    problems = []
    for item in (error.get("meta") or {}).get("errors") or []:
        if isinstance(item, dict):
            where = [str(p) for p in item.get("loc") or [] if p != "query"]
            problems.append(
                f"{_said('.'.join(where), 100) or 'request'}: {_said(item.get('msg', 'invalid'), 200)}"
            )
    return "; ".join(problems)[:400]


def _said(value: object, limit: int = 300) -> str:
    """What the API said, as an error text may quote it: one line, cut, no invisible or forged-frame text.

    Error texts are not framed as data, so the API's words in them are kept short and made visible.
    """
    text = " ".join(sanitize(str(value or "")).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{max(1, round(seconds))} s"
