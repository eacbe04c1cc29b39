"""One GitHub account's REST client: PyGithub's requester in a worker thread.

Deadlines, rate-limit backoff, errors a model can act on, and pagination tokens.

PyGithub is synchronous and heavy, so it is imported on the first request and every call runs in a worker
thread under a deadline. PyGithub's own retries are off (`retry=None`): its retry sleeps through rate limits
for up to an hour, while a tool call has a deadline; here a wait the headers ask for is honoured only when it
fits, and otherwise the model is told when to try again. Requests go only to the configured API host with
paths built from validated parts. Only a 2xx JSON answer comes back: a 3xx (other than PyGithub's same-host
301), an HTML page or a body of the wrong shape becomes a UserError, and no redirect is followed with the
token. Page tokens are re-checked against the listing they are used with before anything is sent.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

import anyio.to_thread

from patchbay_common.errors import AccessDenied, NotFound, UserError, register_secret
from patchbay_common.limits import decode_cursor, encode_cursor, human_size
from patchbay_common.logs import get_logger
from patchbay_common.retry import RetryableError, parse_retry_after, retry_async, with_deadline

if TYPE_CHECKING:
    from patchbay_common.egress import ProxyConfig

__all__ = ["Api", "ApiOptions", "Page", "check_owner", "check_repo", "enc_path", "enc_ref"]

log = get_logger("patchbay.github.api")

_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="([^"]+)"')


def check_owner(owner: str) -> str:
    """A GitHub user or organization login, or a UserError."""
    if not _OWNER.match(owner or ""):
        raise UserError(
            f"owner {owner!r} is not a GitHub login.",
            hint="Pass the user or organization name alone, e.g. owner='octocat' (letters, digits, dashes).",
        )
    return owner


def check_repo(repo: str) -> str:
    """A repository name, or a UserError."""
    if not _REPO.match(repo or "") or repo in (".", ".."):
        raise UserError(
            f"repo {repo!r} is not a repository name.",
            hint="Pass the name alone, e.g. repo='hello-world' (letters, digits, '.', '-', '_').",
        )
    return repo


def enc_path(path: str) -> str:
    """A file path inside a repository, percent-encoded, with no way out of the contents route."""
    cleaned = path.strip().strip("/")
    parts = cleaned.split("/") if cleaned else []
    if any(part in ("", ".", "..") for part in parts) or any(c in path for c in "\x00\\?#"):
        raise UserError(
            f"path {path!r} is not a plain repository path.",
            hint="Pass a path relative to the repository root, e.g. 'src/main.py' (no '..', '?', '#').",
        )
    return quote(cleaned, safe="/")


def enc_ref(ref: str) -> str:
    """A branch, tag or commit name, percent-encoded as one path segment (slashes kept for refs/heads/x)."""
    if not ref or ".." in ref or any(c in ref for c in "\x00\\?# ~^:"):
        raise UserError(
            f"ref {ref!r} is not a valid branch, tag or commit name.",
            hint="Pass a branch name such as 'main', a tag, or a commit SHA.",
        )
    return quote(ref, safe="/")


@dataclass(frozen=True)
class ApiOptions:
    """How to reach GitHub."""

    base_url: str = "https://api.github.com"
    request_timeout: float = 15.0
    seconds_between_writes: float = 1.0
    max_rate_limit_wait: float = 20.0
    user_agent: str = "patchbay-github"
    proxies: ProxyConfig | None = None  # the operator's proxies (--proxy-url, HTTPS_PROXY...), None: direct


@dataclass(frozen=True)
class Page:
    """One page of a listing and the token for the next one, if any."""

    items: list[Any]
    next_token: str | None
    total: int | None = None


class Api:
    """REST calls for one account (one token) against one API base URL."""

    def __init__(self, account: str, token: str | None, token_source: str, options: ApiOptions) -> None:
        self.account = account
        self.token = token
        self.token_source = token_source
        self.options = options
        self._github: Any = None
        register_secret(token)

    def _requester(self) -> Any:
        if self.token is None:
            raise UserError(
                f"No GitHub token is configured for account '{self.account}'.",
                hint=f"Set the environment variable {self.token_source} to a personal access token "
                "and restart the server.",
            )
        if self._github is None:
            import github  # lazy: PyGithub and requests cost ~0.3 s to import
            from github import Auth

            self._github = github.Github(
                auth=Auth.Token(self.token),
                base_url=self.options.base_url,
                timeout=int(self.options.request_timeout),
                user_agent=self.options.user_agent,
                retry=None,
                seconds_between_requests=None,
                seconds_between_writes=self.options.seconds_between_writes or None,
            )
            if self.options.proxies is not None:
                _route_through(self._github.requester, self.options.proxies)
        return self._github.requester

    # --- requests -----------------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], Any]:
        """Send one request (path relative to the API base); return (headers, JSON). Retries only GETs.

        Only a 2xx answer with a JSON body (or none) comes back; anything else (an error status, a
        redirect, an HTML page) becomes a UserError that says what happened. Redirects are not followed,
        so the token never leaves the configured host.
        """
        requester = self._requester()
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        idempotent = method in ("GET", "HEAD") or (method == "POST" and path == _GRAPHQL_READ)
        if path == _GRAPHQL_READ:
            path = requester.graphql_url  # the same host: /graphql, or /api/graphql on GitHub Enterprise

        def call() -> tuple[int, dict[str, Any], str]:
            return requester.requestJson(  # type: ignore[no-any-return]
                method, path, parameters=query or None, input=body, headers=dict(headers or {}) or None
            )

        async def attempt() -> tuple[dict[str, Any], Any]:
            try:
                status, answer_headers, output = await with_deadline(
                    anyio.to_thread.run_sync(call, abandon_on_cancel=True),
                    self.options.request_timeout + 5,
                    "GitHub",
                )
            except Exception as exc:  # translated into UserError / RetryableError below
                raise self._translate(exc, method, path, idempotent) from exc
            return self._answer(status, answer_headers, output, method, path, idempotent)

        try:
            return await retry_async(
                attempt,
                idempotent=idempotent,
                attempts=3,
                total_timeout=self.options.max_rate_limit_wait * 2,
                max_retry_after=self.options.max_rate_limit_wait,
            )
        except RetryableError as exc:
            raise UserError(str(exc), hint=_retry_hint(exc.retry_after)) from None

    async def graphql(self, query: str, variables: Mapping[str, Any], what: str) -> dict[str, Any]:
        """Run one GraphQL read (`what` names it in errors); return its `data`.

        It goes through `request` like every REST call (same host and token, deadline, egress route,
        retries, and HTTP 403/429 secondary limits with Retry-After). GraphQL's own refusals come as a 200
        with `errors`: RATE_LIMITED (the points budget; `rateLimit` in the query reports cost and
        remaining) says when to retry, NOT_FOUND becomes NotFound, anything else a UserError quoting
        GitHub's first messages.
        """
        headers, body = await self.request(
            "POST", _GRAPHQL_READ, body={"query": query, "variables": variables}
        )
        if not isinstance(body, dict):
            raise _shape_error(body, f"GraphQL {what}", "an object")
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        if errors:
            kinds = {str(e.get("type") or "") for e in errors}
            said = "; ".join(str(e.get("message") or "")[:200] for e in errors[:3])
            if "RATE_LIMITED" in kinds:
                wait = _rate_limit_wait(403, "rate limit", headers) or 60.0
                raise UserError(
                    f"GitHub's GraphQL rate limit was reached for account '{self.account}' ({said}).",
                    hint=_retry_hint(wait),
                )
            if "NOT_FOUND" in kinds:
                raise NotFound(
                    f"GitHub found nothing for {what}: {said}",
                    hint="Check owner, repo and number; a private repository the token cannot see also "
                    "looks like this.",
                )
            raise UserError(
                f"GitHub refused the GraphQL query for {what}: {said}", hint="Check the arguments."
            )
        data = body.get("data")
        if not isinstance(data, dict):
            raise _shape_error(data, f"GraphQL {what}", "an object")
        limit = data.get("rateLimit")
        if isinstance(limit, dict):
            log.debug("graphql cost", what=what, cost=limit.get("cost"), remaining=limit.get("remaining"))
        return data

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        """GET one resource (a JSON object); return it."""
        data = (await self.request("GET", path, params=params))[1]
        return _expect_object(data, f"GET {path}")

    async def get_json(self, path: str, **params: Any) -> Any:
        """GET a resource that may be an object or a list (contents: a file or a directory)."""
        data = (await self.request("GET", path, params=params))[1]
        if not isinstance(data, dict | list):
            raise _shape_error(data, f"GET {path}", "an object or a list")
        return data

    async def write(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """Send a write; return the JSON object GitHub answered with ({} when it answered without one)."""
        data = (await self.request(method, path, body=body))[1]
        return data if isinstance(data, dict) else {}

    async def page(self, path: str, page_token: str | None, per_page: int, /, **params: Any) -> Page:
        """GET one page of a listing; the next page's token comes from the Link header.

        A token is re-checked against the listing it is used with: it must belong to this path, name only
        the parameters this listing sends (plus page/cursor fields), and keep page and per_page within
        GitHub's limits. The request always goes to this path on the configured host.
        """
        if page_token:
            query: dict[str, Any] = _token_query(page_token, path, {*params, "per_page"})
        else:
            query = {**params, "per_page": per_page}
        headers, data = await self.request("GET", path, params=query)
        where = f"GET {path}"
        total = None
        if isinstance(data, dict):  # search results and a few wrapped listings
            total = data.get("total_count")
            items = next((v for v in data.values() if isinstance(v, list)), [])
            if not isinstance(total, int) or isinstance(total, bool):
                total = None
        elif isinstance(data, list):
            items = data
        elif data is None:
            items = []
        else:
            raise _shape_error(data, where, "a list")
        if any(not isinstance(item, dict) for item in items):
            raise _shape_error(items, where, "a list of objects")
        return Page(items, self._next_token(headers, path), total)

    def _next_token(self, headers: Mapping[str, Any], path: str) -> str | None:
        for url, rel in _LINK.findall(str(headers.get("link") or "")):
            if rel == "next":
                return encode_cursor({"p": path, "q": dict(parse_qsl(urlsplit(url).query))})
        return None

    async def blob(
        self,
        path: str,
        *,
        keep_bytes: int = 1_000_000,
        on_bytes: Callable[[int, int | None], None] | None = None,
    ) -> tuple[str, str, int]:
        """Follow a download redirect (job logs) without the token; return (tail, host, total bytes).

        The download is streamed: only its last `keep_bytes` bytes are kept, and it must finish within the
        request timeout, so a huge or endless log costs neither memory nor more than the deadline.
        `on_bytes(received, declared length or None)` follows it chunk by chunk; cancelling the call
        closes the download's connection (it is read in the call's task).
        """
        requester = self._requester()

        def locate() -> tuple[int, dict[str, Any], str]:
            return requester.requestBlob("GET", path)  # type: ignore[no-any-return]

        try:
            status, headers, output = await with_deadline(
                anyio.to_thread.run_sync(locate, abandon_on_cancel=True),
                self.options.request_timeout,
                "GitHub",
            )
        except UserError:
            raise
        except Exception as exc:
            raise self._translate(exc, "GET", path, False) from exc
        headers = {str(k).lower(): v for k, v in (headers or {}).items()}
        if status >= 400 or status < 200:
            data, _ = _parse_body(output)
            raise self._error(status, headers, data, f"GET {path}", False, output)
        location = str(headers.get("location") or "") if 300 <= status < 400 else ""
        if not location.startswith(("https://", "http://")):
            raise UserError(f"GitHub gave no download location for {path}.", hint="Try again later.")
        import httpx2

        from patchbay_common.egress import proxied_client

        tail = bytearray()
        total = 0

        async def download() -> int:
            nonlocal total
            timeout = httpx2.Timeout(self.options.request_timeout)
            async with (
                proxied_client(self.options.proxies, timeout=timeout, follow_redirects=True) as client,
                client.stream("GET", location) as response,  # a signed URL: no Authorization header
            ):
                if response.status_code >= 400:
                    return response.status_code
                declared = str(response.headers.get("content-length") or "")
                length = int(declared) if declared.isdigit() else None
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if on_bytes is not None:
                        on_bytes(total, length)
                    tail.extend(chunk)
                    if len(tail) > 2 * keep_bytes:
                        del tail[: len(tail) - keep_bytes]
                return response.status_code

        try:
            with anyio.fail_after(self.options.request_timeout):
                code = await download()
        except TimeoutError:
            raise UserError(
                f"Downloading {path} took longer than {self.options.request_timeout:g} s "
                f"({human_size(total)} received); nothing is shown.",
                hint="The log is very large or the download is slow; try again later, or read the run's "
                "jobs with list_workflow_jobs.",
            ) from None
        except Exception as exc:
            if _is_connection_error(exc) or type(exc).__module__.startswith("httpx"):
                raise UserError(
                    f"Downloading {path} failed ({type(exc).__name__}).", hint="Try again later."
                ) from None
            raise
        if code >= 400:
            raise UserError(
                f"Downloading {path} failed with HTTP {code}.",
                hint="The logs may have expired or the run may still be going; try again later.",
            )
        kept = bytes(tail[-keep_bytes:])
        return kept.decode("utf-8", "replace"), urlsplit(location).netloc, total

    # --- errors -------------------------------------------------------------------------------------------

    def _translate(self, exc: Exception, method: str, path: str, idempotent: bool) -> Exception:
        from github import GithubException

        where = f"{method} {path}"
        if isinstance(exc, UserError):
            return exc
        if not isinstance(exc, GithubException):
            if idempotent and _is_connection_error(exc):
                return RetryableError(f"GitHub could not be reached ({type(exc).__name__}) for {where}.")
            if _is_connection_error(exc):
                return UserError(
                    f"GitHub could not be reached for {where}; the change may or may not have been made.",
                    hint="Check the result with a read tool before trying again.",
                )
            if isinstance(exc, RuntimeError) and "redirected" in str(exc):
                return AccessDenied(
                    f"GitHub redirected {where} to another host; the request was not followed.",
                    hint="Check --api-url.",
                )
            return exc
        return self._error(exc.status, exc.headers or {}, exc.data, where, idempotent)

    def _answer(
        self, status: int, headers: Mapping[str, Any], output: Any, method: str, path: str, idempotent: bool
    ) -> tuple[dict[str, Any], Any]:
        """(headers, JSON) of a 2xx answer with a JSON body or none; any other answer raised as text."""
        where = f"{method} {path}"
        lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
        data, is_json = _parse_body(output)
        if status >= 400 or status < 200:
            raise self._error(status, lowered, data, where, idempotent, output)
        if 300 <= status < 400:
            host = urlsplit(str(lowered.get("location") or "")).hostname
            raise UserError(
                f"GitHub answered {where} with a redirect (HTTP {status}"
                f"{f' to {host}' if host else ', no location'}); it was not followed, and the token was "
                "not sent anywhere else.",
                hint="Check --api-url (GitHub Enterprise Server: https://HOST/api/v3); if the repository "
                "was renamed or transferred, call again with its new owner/name.",
            )
        if not is_json:
            raise UserError(
                f"GitHub answered {where} with HTTP {status} but the body is not JSON "
                f"({_content_type(lowered)}).",
                hint="Check that --api-url points at the GitHub REST API; if it does, try again later.",
            )
        return lowered, data

    def _error(
        self,
        status: int,
        headers: Mapping[str, Any],
        data: Any,
        where: str,
        idempotent: bool,
        raw: Any = None,
    ) -> Exception:
        """The UserError (or RetryableError) for a non-2xx answer, whatever shape its body has."""
        headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        body = data if isinstance(data, dict) else {}
        message = body.get("message")
        if not isinstance(message, str):
            message = "" if message is None else json.dumps(message)[:200]
        if not message and raw and not isinstance(data, dict | list):
            message = f"a non-JSON answer ({_content_type(headers)})"
        wait = _rate_limit_wait(status, message, headers)
        if wait is not None:
            return RetryableError(
                f"GitHub's rate limit was reached for account '{self.account}' ({status}: {message}).",
                retry_after=wait,
            )
        if status >= 500 and idempotent:
            return RetryableError(f"GitHub answered {status} for {where}.")
        if status == 401:
            return AccessDenied(
                f"GitHub rejected the token of account '{self.account}' (401 {message}).",
                hint=f"Check or renew the token in {self.token_source}.",
            )
        if status == 403:
            return AccessDenied(
                f"GitHub refused {where} (403: {message}).",
                hint="The token may lack a scope or repository permission for this; ask the user.",
            )
        if status == 404:
            return NotFound(
                f"GitHub found nothing at {where}.",
                hint="Check owner, repo, number or path; a private repository the token cannot see also "
                "looks like this.",
            )
        if status == 409:
            return UserError(f"GitHub reported a conflict for {where}: {message}.", hint="Refresh and retry.")
        if status == 422:
            errors = body.get("errors")
            details = "; ".join(_error_detail(e) for e in errors if e) if isinstance(errors, list) else ""
            return UserError(
                f"GitHub rejected the request {where} (422 {message}): {details or message}.",
                hint="Correct the arguments named and call again.",
            )
        return UserError(
            f"GitHub answered {status} for {where}{f': {message}' if message else ''}.",
            hint="Try again later.",
        )


def _route_through(requester: Any, proxies: ProxyConfig) -> None:
    """Send this requester's requests by the operator's proxy settings (`ProxyConfig`), per request URL.

    PyGithub makes its own requests sessions and offers no proxy option; requests would read the proxy
    variables itself (with its own NO_PROXY reading, and no --proxy-url). Each session it makes here is given
    the route `proxies` chooses as the request's `proxies` argument, which wins over the environment
    (requests keeps reading REQUESTS_CA_BUNDLE and the like). SOCKS needs PySocks (a dependency).
    """

    def proxied(base: type) -> type:
        class Proxied(base):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                send = self.session.request

                def request(method: str, url: str, **options: Any) -> Any:
                    route = proxies.route_for_url(url)
                    chosen = route.url if route is not None else None  # None: direct, whatever the env says
                    options.setdefault("proxies", {"http": chosen, "https": chosen})
                    return send(method, url, **options)

                self.session.request = request

        return Proxied

    # PyGithub keeps its connection classes in name-mangled attributes; these instance attributes shadow
    # the class-wide ones for this requester only (Requester.injectConnectionClasses would change them for
    # every requester and turn persistent connections off).
    for name in (
        "_Requester__connectionClass",
        "_Requester__httpConnectionClass",
        "_Requester__httpsConnectionClass",
    ):
        setattr(requester, name, proxied(getattr(requester, name)))


def _parse_body(output: Any) -> tuple[Any, bool]:
    """(JSON value, True) for a JSON or empty body; (None, False) for anything else (an HTML page)."""
    if output is None:
        return None, True
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)
    if not text.strip():
        return None, True
    try:
        return json.loads(text), True
    except ValueError:
        return None, False


def _content_type(headers: Mapping[str, Any]) -> str:
    return str(headers.get("content-type") or "no content type").split(";")[0].strip()[:60]


def _kind(data: Any) -> str:
    if data is None:
        return "no content"
    if isinstance(data, list):
        return "a list"
    if isinstance(data, dict):
        return "an object"
    return f"a {type(data).__name__}"


def _shape_error(data: Any, where: str, expected: str) -> UserError:
    return UserError(
        f"GitHub answered {where} with {_kind(data)} where {expected} was expected.",
        hint="Check that --api-url points at the GitHub REST API; if it does, try again later.",
    )


def _expect_object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _shape_error(data, where, "an object")
    return data


_TOKEN_FIELDS = frozenset({"page", "per_page", "after", "before", "cursor"})
MAX_PAGE = 100_000
"""Highest page number a token may ask for (GitHub's own listings stop far earlier)."""


def _token_query(token: str, path: str, allowed: set[str]) -> dict[str, str]:
    """The query a page token holds, each field re-checked against this listing and GitHub's limits."""
    state = decode_cursor(token)
    if state.get("p") != path:
        raise UserError(
            "page_token belongs to another listing.",
            hint="Pass the token from the previous page of this listing, or omit it to start over.",
        )

    def bad(why: str) -> UserError:
        return UserError(
            f"page_token is not valid: {why}; nothing was sent to GitHub.",
            hint="Pass next_page_token exactly as the previous page gave it, or omit it to start over.",
        )

    if set(state) - {"p", "q"}:
        raise bad("it holds fields this server does not make")
    query = state.get("q") or {}
    if not isinstance(query, dict):
        raise bad("its query is not a set of parameters")
    for name, value in query.items():
        if name not in allowed and name not in _TOKEN_FIELDS:
            raise bad(f"it names the parameter {json.dumps(name)[:40]}, which this listing does not send")
        if not isinstance(value, str) or len(value) > 1000 or any(ord(c) < 32 for c in value):
            raise bad(f"its {name} is not a plain text value")
    for name, high in (("page", MAX_PAGE), ("per_page", 100)):
        if name in query and not (query[name].isdigit() and 1 <= int(query[name]) <= high):
            raise bad(f"its {name} {json.dumps(query[name])[:40]} is outside 1-{high}")
    return query


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def _is_connection_error(exc: Exception) -> bool:
    name = type(exc).__name__
    return isinstance(exc, OSError | TimeoutError) or name in ("ConnectionError", "Timeout", "ReadTimeout")


def _rate_limit_wait(status: int, message: str, headers: Mapping[str, str]) -> float | None:
    """Seconds to wait when this is a rate-limit answer (primary or secondary), else None."""
    if status not in (403, 429):
        return None
    retry_after = parse_retry_after(headers.get("retry-after"))
    if retry_after is not None:
        return retry_after
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
        return max(0.0, int(headers["x-ratelimit-reset"]) - time.time())
    if status == 429 or "rate limit" in message.lower():
        return 60.0  # GitHub's documented fallback for secondary limits
    return None


_GRAPHQL_READ = "/graphql"
"""The path `request` maps to the API's GraphQL endpoint, retried like a GET (every query here reads)."""


def _retry_hint(wait: float | None) -> str:
    if wait is None:
        return "Try again in a minute."
    when = datetime.fromtimestamp(time.time() + wait, UTC).strftime("%H:%M:%S UTC")
    return f"Try again in {int(wait + 0.999)} s (after {when})."


def _error_detail(error: Any) -> str:
    if isinstance(error, dict):
        if error.get("message"):
            return str(error["message"])
        return " ".join(f"{k}={v}" for k, v in error.items() if k in ("resource", "field", "code"))
    return str(error)
