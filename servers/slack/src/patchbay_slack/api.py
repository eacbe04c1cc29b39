"""One Slack workspace's Web API client: slack-sdk's async client, retries, and errors a model can act on.

slack-sdk (and aiohttp under it) is imported on the first call, not at start-up. Reads go through a client
that retries dropped connections and 429s; writes through one that retries only 429s (a 429 means nothing
was done), because after a dropped connection a post may or may not have gone out. A 429 whose
`Retry-After` is longer than `max_wait` is not waited for: the call fails at once with "retry after N s".
Every `ok:false` answer becomes a `UserError` whose text says what to do next, with the token redacted.
An answer is read up to `MAX_ANSWER_BYTES` (a larger one fails the call with a clear text), so memory and
the time spent decoding it stay bounded whatever a workspace holds.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from patchbay_common.errors import AccessDenied, NotFound, UserError, register_secret
from patchbay_common.logs import get_logger

if TYPE_CHECKING:
    from patchbay_common.egress import ProxyConfig

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_ANSWER_BYTES",
    "TEAM_ID_METHODS",
    "AnswerTooLarge",
    "NoToken",
    "SlackApi",
    "slack_error",
]

DEFAULT_BASE_URL = "https://slack.com/api/"
MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""Largest Web API answer read: a page of 200 messages with blocks and files is a few megabytes. (json's
C decoder holds the interpreter lock, so decoding is bounded by this cap, not moved to a thread.)"""

TEAM_ID_METHODS = frozenset(
    {
        "conversations.list",
        "users.conversations",
        "users.list",
        "search.messages",
        "search.all",
        "search.files",
        "chat.scheduledMessages.list",
    }
)
"""Methods whose documentation takes `team_id`, "required if org token is used" (Enterprise Grid org-wide
apps). conversations.history, .info and .replies and chat.postMessage take none: a channel ID already
names its workspace."""

log = get_logger("patchbay.slack.api")


class NoToken(UserError):
    """The workspace has no token configured."""


class AnswerTooLarge(Exception):
    """Slack's answer was larger than `MAX_ANSWER_BYTES` (raised while reading it)."""


@dataclass
class SlackApi:
    """The Web API of one workspace, reached with one token.

    Args:
        workspace: the name tools address it by.
        token: a bot (`xoxb-`) or user (`xoxp-`) token, or None when none is configured.
        token_source: where the token comes from (an environment variable name), for messages.
        base_url: the Web API base URL (`https://slack.com/api/` or a stand-in).
        timeout: seconds one HTTP request may take.
        max_wait: the longest `Retry-After` waited for before failing with "retry after N s".
        proxies: the operator's proxies (--proxy-url, HTTPS_PROXY...); None connects directly.
        team_id: the workspace's team ID, sent as `team_id` on `TEAM_ID_METHODS` (org-wide tokens).
    """

    workspace: str
    token: str | None
    token_source: str
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 15.0
    max_wait: float = 20.0
    proxies: ProxyConfig | None = field(default=None, repr=False)
    team_id: str | None = None
    _reader: Any = field(default=None, init=False, repr=False)
    _writer: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        register_secret(self.token)
        if not self.base_url.endswith("/"):
            self.base_url += "/"

    @property
    def is_user_token(self) -> bool:
        """Whether the token acts as a person (`xoxp-`), which search and read markers need."""
        return bool(self.token and self.token.startswith("xoxp-"))

    def require_token(self) -> str:
        """The token, or a `NoToken` error saying how to configure one."""
        if not self.token:
            raise NoToken(
                f"No Slack token is configured for workspace '{self.workspace}'.",
                hint=f"The operator must set the environment variable {self.token_source} to a bot token "
                "(xoxb-...) or user token (xoxp-...) and restart the server.",
            )
        return self.token

    async def preload(self) -> None:
        """Import slack-sdk and aiohttp in a worker thread, so the import never stalls the event loop."""
        await anyio.to_thread.run_sync(_import_sdk)

    def _client(self, write: bool) -> Any:
        token = self.require_token()
        current = self._writer if write else self._reader
        if current is not None:
            return current
        from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler

        handlers: list[Any] = [_bounded_rate_limit_handler(self.max_wait)]
        if not write:
            handlers.append(AsyncConnectionErrorRetryHandler(max_retry_count=2))
        client = _bounded_client_class()(
            token=token,
            base_url=self.base_url,
            timeout=max(1, math.ceil(self.timeout)),
            retry_handlers=handlers,
            user_agent_prefix="patchbay-slack",
        )
        client.proxy = None  # slack-sdk read HTTPS_PROXY itself; the route is chosen per request instead
        client.patchbay_proxies = self.proxies
        if write:
            self._writer = client
        else:
            self._reader = client
        return client

    async def call(self, method: str, *, write: bool = False, **params: Any) -> dict[str, Any]:
        """Call `method` with `params` (None values dropped); return the answer's data.

        Reads are sent as GET with query parameters, writes as POST with a JSON body, as slack-sdk does.
        """
        if "slack_sdk.web.async_client" not in sys.modules:
            await self.preload()  # the first call imports slack-sdk and aiohttp off the event loop
        client = self._client(write)
        args = {k: v for k, v in params.items() if v is not None}
        if self.team_id and method in TEAM_ID_METHODS:
            args.setdefault("team_id", self.team_id)
        try:
            if write:
                response = await client.api_call(method, json=args)
            else:
                response = await client.api_call(method, http_verb="GET", params=_form(args))
        except Exception as exc:
            raise self._translate(method, exc) from None
        return dict(response.data)

    async def upload(self, **params: Any) -> dict[str, Any]:
        """Upload one file with `files_upload_v2` (get URL, send bytes, complete); return the answer."""
        if "slack_sdk.web.async_client" not in sys.modules:
            await self.preload()
        client = self._client(True)
        try:
            response = await client.files_upload_v2(**{k: v for k, v in params.items() if v is not None})
        except Exception as exc:
            raise self._translate("files.upload", exc) from None
        return dict(response.data)

    async def pages(
        self, method: str, key: str, *, limit: int = 200, max_items: int | None = None, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of list `key` across all cursor pages (`response_metadata.next_cursor`)."""
        cursor: str | None = None
        seen = 0
        while True:
            data = await self.call(method, limit=limit, cursor=cursor, **params)
            for item in data.get(key) or []:
                yield item
                seen += 1
                if max_items is not None and seen >= max_items:
                    return
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return

    def _translate(self, method: str, exc: Exception) -> Exception:
        from slack_sdk.errors import SlackApiError, SlackRequestError

        if isinstance(exc, SlackApiError):
            response = exc.response
            data = response.data if isinstance(getattr(response, "data", None), dict) else {}
            headers = getattr(response, "headers", None) or {}
            return slack_error(
                method,
                str(data.get("error") or f"HTTP {response.status_code}"),
                data,
                workspace=self.workspace,
                token_source=self.token_source,
                retry_after=_header(headers, "retry-after"),
                team=self.team_id if method in TEAM_ID_METHODS else None,
            )
        if isinstance(exc, SlackRequestError):
            return UserError(f"Slack {method} was not sent: {exc}.")
        if isinstance(exc, AnswerTooLarge):
            return UserError(
                f"Slack's answer to {method} was larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MB and was "
                "not read.",
                hint="Ask for fewer items (a smaller limit, or a narrower time window).",
            )
        if isinstance(exc, TimeoutError) or type(exc).__module__.startswith("aiohttp"):
            log.warning("slack unreachable", method=method, error=repr(exc))
            return UserError(
                f"Could not reach the Slack API at {self.base_url} for {method} "
                f"({type(exc).__name__}: {exc or 'no answer'}).",
                hint="Check the network or try again in a moment.",
            )
        return exc


def _import_sdk() -> None:
    import slack_sdk.web.async_client  # noqa: F401  (aiohttp comes with it)


_client_class: Any = None


def _bounded_client_class() -> Any:
    """slack-sdk's `AsyncWebClient`, whose answers are read up to `MAX_ANSWER_BYTES`.

    slack-sdk opens one aiohttp session per request when it is given none, and reads the whole body with
    `response.json()`. This client does the same with a session whose responses stop reading past the
    cap. (It overrides `_request`, slack-sdk's one place that sends an API request; uploads of file bytes
    use another path and are bounded by --max-upload-bytes.)
    """
    global _client_class
    if _client_class is not None:
        return _client_class
    import aiohttp
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_sdk.web.async_internal_utils import _request_with_session

    class BoundedResponse(aiohttp.ClientResponse):
        async def read(self) -> bytes:
            if self._body is None:
                declared = self.content_length
                if declared is not None and declared > MAX_ANSWER_BYTES:
                    self.close()
                    raise AnswerTooLarge(declared)
                body = bytearray()
                async for chunk in self.content.iter_any():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        self.close()
                        raise AnswerTooLarge(len(body))
                self._body = bytes(body)
            return await super().read()

    class BoundedWebClient(AsyncWebClient):
        patchbay_proxies: Any = None  # a ProxyConfig, set per client by SlackApi

        def _routed(self, url: str, req_args: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            """The connector (SOCKS) or proxy arguments (HTTP) the operator's proxies choose for `url`."""
            route = self.patchbay_proxies.route_for_url(url) if self.patchbay_proxies is not None else None
            req_args = {**req_args, "proxy": None}
            if route is None:
                return None, req_args
            if route.scheme in ("socks5", "socks5h"):
                from aiohttp_socks import ProxyConnector

                connector = ProxyConnector(
                    host=route.host,
                    port=route.port,
                    username=route.username,
                    password=route.password,
                    rdns=route.remote_dns,  # socks5h: the proxy resolves; socks5: resolved here
                )
                return connector, req_args
            req_args["proxy"] = route.url_without_credentials  # slack-sdk logs this one at DEBUG
            auth = route.basic_auth()
            if (
                auth is not None
            ):  # for the proxy only: the CONNECT request, or the plain-HTTP request it forwards
                if url.startswith("https:"):
                    req_args["proxy_headers"] = {"Proxy-Authorization": auth}
                else:
                    req_args["headers"] = {**(req_args.get("headers") or {}), "Proxy-Authorization": auth}
            return None, req_args

        async def _routed_request(
            self, http_verb: str, api_url: str, req_args: dict[str, Any], seconds: float
        ) -> dict[str, Any]:
            connector, req_args = self._routed(api_url, req_args)
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=seconds),
                response_class=BoundedResponse,
                connector=connector,
            ) as session:
                result: dict[str, Any] = await _request_with_session(
                    current_session=session,
                    timeout=int(seconds),
                    logger=self._logger,
                    http_verb=http_verb,
                    api_url=api_url,
                    req_args=req_args,
                    retry_handlers=self.retry_handlers,
                )
                return result

        async def _request(self, *, http_verb: str, api_url: str, req_args: dict[str, Any]) -> dict[str, Any]:
            return await self._routed_request(http_verb, api_url, req_args, self.timeout)

        async def _upload_file(
            self,
            *,
            url: str,
            data: bytes,
            logger: Any,
            timeout: int,  # noqa: ASYNC109 - the signature slack-sdk calls
            proxy: str | None,
            ssl: Any,
        ) -> Any:
            """The file bytes go to the upload URL Slack issued by the same route as every API call."""
            from slack_sdk.web.file_upload_v2_result import FileUploadV2Result

            result = await self._routed_request("POST", url, {"data": data, "ssl": ssl}, timeout)
            return FileUploadV2Result(status=result.get("status_code"), body=result.get("data"))  # type: ignore[arg-type]

    _client_class = BoundedWebClient
    return _client_class


def _form(args: dict[str, Any]) -> dict[str, Any]:
    """Query parameters as Slack reads them: booleans as true/false, lists comma-joined."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = value
    return out


def _header(headers: Any, name: str) -> str | None:
    for key in headers:
        if key.lower() == name:
            value = headers[key]
            return str(value[0] if isinstance(value, list) else value)
    return None


def _retry_after(headers: Any) -> float:
    value = _header(headers, "retry-after")
    return float(value) if value and value.strip().isdigit() else 1.0


def _bounded_rate_limit_handler(max_wait: float) -> Any:
    """slack-sdk's 429 handler, except that a `Retry-After` above `max_wait` fails the call instead."""
    from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

    class BoundedRateLimitHandler(AsyncRateLimitErrorRetryHandler):
        async def _can_retry_async(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> bool:
            if response is None or response.status_code != 429:
                return False
            seconds = _retry_after(response.headers)
            if seconds > max_wait:
                return False
            log.info("slack rate limited; waiting", seconds=seconds, url=request.url)
            return True

        async def prepare_for_next_attempt_async(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> None:
            # slack-sdk adds up to a whole second of jitter; a tenth of the wait (0.1-1 s) spreads retries
            # as well without making a Retry-After of 0 cost a second.
            seconds = _retry_after(response.headers) if response is not None else 1.0
            state.next_attempt_requested = True
            await anyio.sleep(seconds + random.uniform(0, min(1.0, max(0.1, seconds / 10))))  # noqa: S311
            state.increment_current_attempt()

    return BoundedRateLimitHandler(max_retry_count=3)


_SCOPE_HINT = "The operator must add the scope to the Slack app, reinstall it, and update the token."


def slack_error(
    method: str,
    code: str,
    data: dict[str, Any],
    *,
    workspace: str,
    token_source: str,
    retry_after: str | None = None,
    team: str | None = None,
) -> UserError:
    """The `UserError` for Slack's `ok:false` answer `code` to `method`."""
    where = f"Slack ({workspace}) {method}"
    if code in ("invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"):
        return AccessDenied(
            f"{where}: Slack rejected the token ({code}).",
            hint=f"The operator must put a valid token in {token_source} and restart the server.",
        )
    if code == "missing_scope":
        needed = data.get("needed") or "unknown"
        return AccessDenied(f"{where}: the token lacks the scope {needed} ({code}).", hint=_SCOPE_HINT)
    if code == "not_allowed_token_type":
        return AccessDenied(
            f"{where}: this token type cannot call {method} (not_allowed_token_type).",
            hint="Searching messages needs a user token (xoxp-...); the operator can set SLACK_USER_TOKEN "
            "(or give the workspace a user token). slack_get_channel_history with since/until reads by "
            "time instead.",
        )
    if code == "team_access_not_granted" or (code == "missing_argument" and method in TEAM_ID_METHODS):
        return UserError(
            f"{where}: {code}; an org-wide (Enterprise Grid) token needs the workspace's team ID"
            + (f" ({team} was sent)." if team else "."),
            hint="The operator can give it as --workspace NAME=ENV_VAR@T0123ABC (the team ID of a "
            "workspace the org-wide app is granted) and restart the server.",
        )
    if code == "ratelimited":
        after = f"retry after {retry_after} s" if retry_after else "retry in a minute"
        return UserError(
            f"{where}: rate limited by Slack; {after}.",
            hint="Ask for fewer items (a smaller limit or a narrower time window) in the meantime.",
        )
    if code == "not_in_channel":
        return AccessDenied(
            f"{where}: the app is not a member of this channel (not_in_channel).",
            hint="Someone in the channel can add it with /invite, or pick a channel it belongs to "
            "(slack_list_channels marks those with 'member').",
        )
    if code == "channel_not_found":
        return NotFound(
            f"{where}: channel not found, or the token cannot see it (channel_not_found).",
            hint="slack_list_channels lists the channels by name and ID.",
        )
    if code in ("user_not_found", "users_not_found"):
        return NotFound(
            f"{where}: user not found ({code}).", hint="slack_get_users or slack_search_users find IDs."
        )
    if code in ("thread_not_found", "message_not_found", "no_item_specified"):
        return NotFound(
            f"{where}: no message with that timestamp in this channel ({code}).",
            hint="Timestamps (ts) are shown with each message by slack_get_channel_history.",
        )
    if code == "is_archived":
        return UserError(f"{where}: the channel is archived ({code}).", hint="Pick an active channel.")
    if code in ("already_reacted", "invalid_name", "too_many_reactions"):
        return UserError(
            f"{where}: {code}.", hint="Reaction names are emoji names without colons, e.g. thumbsup."
        )
    if code in ("time_in_past", "time_too_far"):
        return UserError(
            f"{where}: the time is {'in the past' if code == 'time_in_past' else 'over 120 days ahead'}.",
            hint="Give post_at a time between now and 120 days from now.",
        )
    if code in ("msg_too_long", "no_text"):
        return UserError(f"{where}: {code}.", hint="Send between 1 and 40,000 characters of text.")
    if code == "invalid_scheduled_message_id":
        return NotFound(
            f"{where}: no such scheduled message ({code}).", hint="slack_list_scheduled_messages lists them."
        )
    if code == "invalid_cursor":
        return UserError(f"{where}: the cursor is not valid ({code}).", hint="Omit the cursor to start over.")
    return UserError(f"{where} failed: {code}.", hint="Check the arguments, or try again later.")
