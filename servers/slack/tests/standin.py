"""A local stand-in of the Slack Web API, for tests and benchmarks (stdlib only, one background thread).

Its workspace comes from the JSON fixtures beside it, each shaped after the example response in Slack's
method documentation (no official examples are packaged anywhere, so they were written after the docs):
channels from conversations_list.json, members from users_list.json, messages from
conversations_history*.json and a thread from conversations_replies.json. Answers are built the way the
docs describe: `{"ok": true, ...}` with `response_metadata.next_cursor` for cursor pagination (opaque
base64 cursors like Slack's), or `{"ok": false, "error": "..."}` (HTTP 200) for invalid_auth, not_authed,
channel_not_found, not_in_channel, thread_not_found, not_allowed_token_type (search with a bot token), and
HTTP 429 + `Retry-After` + `ratelimited`.

Methods: auth.test, conversations.list/info/history/replies, users.conversations, users.list/info,
users.profile.get, search.messages, chat.postMessage/getPermalink/scheduleMessage/scheduledMessages.list/
deleteScheduledMessage, reactions.add/get, files.getUploadURLExternal/completeUploadExternal (and the
upload URL itself). Posts, reactions and uploads change the state, so a later read sees them.

Requests are read from the query string, a form body or a JSON body, as slack-sdk sends them; every one is
recorded (`requests`, `calls(method)`), and a test can inject failures (`fail`, `rate_limit`) or slow a
method down (`delay`).

    with SlackStandIn() as api:
        ... point the server at api.base_url with token BOT_TOKEN ...
        assert api.calls("chat.postMessage")[0].params["text"] == "hi"

`start_in_background()` starts one for the rest of the process and returns its base URL.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).with_name("fixtures")
BOT_TOKEN = "xoxb-1111-2222-standinbottoken"
USER_TOKEN = "xoxp-1111-2222-standinusertoken"
ORG_TOKEN = "xoxb-1111-3333-standinorgwidetoken"  # an Enterprise Grid org-wide app's bot token
TEAM_ID = "T012AB3C4"
OTHER_TEAM_ID = "T0OTH3RWS"
DM_CHANNEL = "D0DMVENKM"  # the bot's direct message with venkman (U123ABC456)
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
"""Slack's method docs list `team_id` on these, "required if org token is used"."""
BOT_USER = "U0B0TPATC"


def load_fixture(name: str) -> Any:
    """A fixture's parsed JSON (a fresh copy each time)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class Recorded:
    """One request the stand-in received."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    body: bytes = b""


@dataclass
class Injected:
    """An answer given instead of the normal one, `times` times, for `method`."""

    method: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    when: dict[str, str] = field(default_factory=dict)

    def applies(self, method: str, params: dict[str, Any]) -> bool:
        """Whether this answer is for a call of `method` with `params`."""
        return method == self.method and all(str(params.get(k)) == v for k, v in self.when.items())


def _cursor(kind: str, offset: int) -> str:
    return base64.b64encode(f"{kind}:{offset}".encode()).decode()


def _offset(cursor: str | None, kind: str) -> int | None:
    if not cursor:
        return 0
    try:
        found_kind, _, offset = base64.b64decode(cursor).decode().partition(":")
        return int(offset) if found_kind == kind else None
    except ValueError:
        return None


class SlackStandIn:
    """The stand-in server; use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        *,
        tokens: tuple[str, ...] = (BOT_TOKEN, USER_TOKEN, ORG_TOKEN),
        org_grants: dict[str, set[str]] | None = None,
    ) -> None:
        self.tokens = set(tokens)
        self.org_grants = {ORG_TOKEN: {TEAM_ID}} if org_grants is None else org_grants
        """Org-wide tokens and the workspaces (team IDs) each is granted."""
        self.requests: list[Recorded] = []
        self.delay: dict[str, float] = {}
        self.uploads: dict[str, bytes] = {}
        self._injected: list[Injected] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.channels: list[dict[str, Any]] = load_fixture("conversations_list.json")["channels"]
        self.users: list[dict[str, Any]] = load_fixture("users_list.json")["members"]
        self.channels.append(
            {
                "id": DM_CHANNEL,
                "created": 1518201000,
                "is_im": True,
                "is_org_shared": False,
                "user": "U123ABC456",
                "is_user_deleted": False,
                "priority": 0,
                "is_member": True,
                "is_private": True,
                "is_archived": False,
            }
        )
        self.messages: dict[str, list[dict[str, Any]]] = {c["id"]: [] for c in self.channels}
        for name in ("conversations_history.json", "conversations_history_random.json"):
            page = load_fixture(name)
            self.messages[page["channel"]] = sorted(page["messages"], key=lambda m: float(m["ts"]))
        self.replies: dict[str, list[dict[str, Any]]] = {}
        thread = load_fixture("conversations_replies.json")["messages"]
        self.replies[thread[0]["ts"]] = thread
        self.last_read: dict[str, str] = {"C012AB3CD": "1512104434.000490", "C061EG9T2": "1512300000.000200"}
        self.scheduled: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True

    # --- life cycle ------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/api/`, the value for `--base-url`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> SlackStandIn:
        """Serve in a daemon thread."""
        threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="slack-standin", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls ---------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        error: str,
        *,
        times: int = 1,
        status: int = 200,
        headers: dict[str, str] | None = None,
        when: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        """Answer the next `times` calls of `method` (with params `when`) with `ok: false` and `error`."""
        with self._lock:
            body = {"ok": False, "error": error, **extra}
            self._injected.append(
                Injected(method, status, body, dict(headers or {}), times, dict(when or {}))
            )

    def inject(self, method: str, body: dict[str, Any], *, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `ok: true` and `body` (a stand-in answer)."""
        with self._lock:
            self._injected.append(Injected(method, 200, {"ok": True, **body}, {}, times))

    def rate_limit(self, method: str, *, retry_after: int = 0, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429, `Retry-After` and `ratelimited`."""
        self.fail(method, "ratelimited", times=times, status=429, headers={"Retry-After": str(retry_after)})

    def calls(self, method: str) -> list[Recorded]:
        """The recorded requests to `method`."""
        return [r for r in self.requests if r.method == method]

    def add_messages(
        self, channel_id: str, count: int, *, start: float = 1_700_000_000.0, step: float = 60
    ) -> None:
        """Append `count` generated messages (authors and mentions from the fixture users) to a channel."""
        users = [u["id"] for u in self.users if not u["is_bot"]]
        with self._lock:
            for i in range(count):
                author, mentioned = users[i % len(users)], users[(i + 1) % len(users)]
                self.messages[channel_id].append(
                    {
                        "type": "message",
                        "user": author,
                        "text": f"Update {i}: <@{mentioned}> see <https://example.com/{i}|#{i}> &amp; go",
                        "ts": f"{start + i * step:.6f}",
                    }
                )
            self.messages[channel_id].sort(key=lambda m: float(m["ts"]))

    # --- answering -------------------------------------------------------------------------------------

    def answer(
        self, method: str, params: dict[str, Any], token: str | None, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Status, JSON body and extra headers for one call."""
        with self._lock:
            self.requests.append(Recorded(method, params, token, time.monotonic(), body))
            injected = next((i for i in self._injected if i.applies(method, params)), None)
            if injected is not None:
                injected.times -= 1
                if injected.times <= 0:
                    self._injected.remove(injected)
                return injected.status, injected.body, injected.headers
            if token is None:
                return 200, {"ok": False, "error": "not_authed"}, {}
            if token not in self.tokens:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            if token in self.org_grants and method in TEAM_ID_METHODS:
                team = str(params.get("team_id") or "")
                if not team:
                    return 200, {"ok": False, "error": "missing_argument"}, {}
                if team not in self.org_grants[token]:
                    return 200, {"ok": False, "error": "team_access_not_granted"}, {}
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is None:
                return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
            try:
                return 200, {"ok": True, **handler(params, token)}, {}
            except _Fail as exc:
                return 200, {"ok": False, "error": exc.code, **exc.extra}, {}

    def _channel(self, params: dict[str, Any], *, member: bool = True) -> dict[str, Any]:
        wanted = str(params.get("channel", ""))
        for channel in self.channels:
            if channel["id"] == wanted:
                if member and not channel["is_member"]:
                    raise _Fail("not_in_channel")
                return channel
        raise _Fail("channel_not_found")

    def _page(
        self, items: list[Any], params: dict[str, Any], kind: str, key: str, default: int = 100
    ) -> dict[str, Any]:
        start = _offset(params.get("cursor"), kind)
        if start is None:
            raise _Fail("invalid_cursor")
        limit = max(1, min(int(params.get("limit") or default), 1000))
        page = items[start : start + limit]
        more = start + limit < len(items)
        return {
            key: copy.deepcopy(page),
            "response_metadata": {"next_cursor": _cursor(kind, start + limit) if more else ""},
        }

    def _m_auth_test(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        body = load_fixture("auth_test.json")
        body.update(team_id="T012AB3C4", user_id=BOT_USER if token.startswith("xoxb-") else "W012A3CDE")
        del body["ok"]
        return body

    def _visible_channels(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        types = str(params.get("types") or "public_channel").split(",")
        exclude = str(params.get("exclude_archived", "false")).lower() == "true"
        out = []
        for channel in self.channels:
            kind = (
                "im"
                if channel.get("is_im")
                else "private_channel"
                if channel["is_private"]
                else "public_channel"
            )
            if kind in types and not (exclude and channel["is_archived"]):
                out.append(channel)
        return out

    def _m_conversations_list(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return self._page(self._visible_channels(params), params, "team", "channels")

    def _m_users_conversations(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        mine = [c for c in self._visible_channels(params) if c["is_member"]]
        return self._page(mine, params, "member", "channels")

    def _m_conversations_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = copy.deepcopy(self._channel(params, member=False))
        if token.startswith("xoxp-") and channel["id"] in self.last_read:
            channel["last_read"] = self.last_read[channel["id"]]
        return {"channel": channel}

    def _window(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or 1e12)
        inclusive = str(params.get("inclusive", "false")).lower() in ("true", "1")
        if inclusive:
            return [m for m in messages if oldest <= float(m["ts"]) <= latest]
        return [m for m in messages if oldest < float(m["ts"]) < latest]

    def _m_conversations_history(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._channel(params)
        newest_first = self._window(self.messages[channel["id"]], params)[::-1]
        page = self._page(newest_first, params, "next_ts", "messages", default=100)
        return {**page, "has_more": bool(page["response_metadata"]["next_cursor"]), "pin_count": 0}

    def _m_conversations_replies(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._channel(params)
        thread = self.replies.get(str(params.get("ts", "")))
        in_channel = {m["ts"] for m in self.messages[channel["id"]]}
        if thread is None or thread[0]["ts"] not in in_channel:
            raise _Fail("thread_not_found")
        parent, rest = thread[0], self._window(thread[1:], params)
        page = self._page([parent, *rest], params, "next_ts", "messages", default=1000)
        return {**page, "has_more": bool(page["response_metadata"]["next_cursor"])}

    def _m_users_list(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            **self._page(self.users, params, "user", "members", default=1000),
            "cache_ts": int(time.time()),
        }

    def _user(self, user_id: str) -> dict[str, Any]:
        for user in self.users:
            if user["id"] == user_id:
                return user
        raise _Fail("user_not_found")

    def _m_users_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {"user": copy.deepcopy(self._user(str(params.get("user", ""))))}

    def _m_users_profile_get(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        user = self._user(str(params.get("user", "")))
        profile = load_fixture("users_profile_get.json")["profile"]
        profile.update({k: v for k, v in user["profile"].items() if k in profile or k == "title"})
        if str(params.get("include_labels", "false")).lower() != "true":
            for item in profile.get("fields", {}).values():
                item.pop("label", None)
        return {"profile": profile}

    def _m_search_messages(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        if not token.startswith("xoxp-"):
            raise _Fail("not_allowed_token_type")
        query = str(params.get("query", "")).lower()
        count, page = int(params.get("count") or 20), int(params.get("page") or 1)
        template = load_fixture("search_messages.json")["messages"]["matches"][0]
        matches = []
        for channel in self.channels:
            own = self.messages[channel["id"]]
            in_threads = [r for m in own for r in self.replies.get(m["ts"], [])[1:]]
            for message in own + in_threads:
                if query in message.get("text", "").lower():
                    match = copy.deepcopy(template)
                    match.update(
                        channel={
                            **template["channel"],
                            "id": channel["id"],
                            "name": channel.get("name", channel["id"]),
                        },
                        text=message["text"],
                        ts=message["ts"],
                        user=message.get("user"),
                        username=self._user(message["user"])["name"] if message.get("user") else "bot",
                        permalink=self._permalink(channel["id"], message["ts"]),
                        team="T012AB3C4",
                    )
                    matches.append(match)
        matches.sort(key=lambda m: -float(m["ts"]))
        pages = max(1, -(-len(matches) // count))
        shown = matches[(page - 1) * count : page * count]
        return {
            "query": params.get("query", ""),
            "messages": {
                "matches": shown,
                "pagination": {
                    "first": 1,
                    "last": len(shown),
                    "page": page,
                    "page_count": pages,
                    "per_page": count,
                    "total_count": len(matches),
                },
                "paging": {"count": count, "page": page, "pages": pages, "total": len(matches)},
                "total": len(matches),
            },
        }

    @staticmethod
    def _permalink(channel_id: str, ts: str) -> str:
        return f"https://ghostbusters.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"

    def _find(self, channel_id: str, ts: str) -> dict[str, Any]:
        for message in self.messages[channel_id] + [r for t in self.replies.values() for r in t]:
            if message["ts"] == ts:
                return message
        raise _Fail("message_not_found")

    def _m_chat_getPermalink(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._channel(params, member=False)
        self._find(channel["id"], str(params.get("message_ts", "")))
        return {
            "channel": channel["id"],
            "permalink": self._permalink(channel["id"], str(params["message_ts"])),
        }

    def _m_reactions_get(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._channel(params)
        message = copy.deepcopy(self._find(channel["id"], str(params.get("timestamp", ""))))
        message["permalink"] = self._permalink(channel["id"], message["ts"])
        return {"type": "message", "channel": channel["id"], "message": message}

    def _new_ts(self) -> str:
        return f"{time.time():.6f}"

    def _m_chat_postMessage(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._channel(params)
        if channel["is_archived"]:
            raise _Fail("is_archived")
        text = str(params.get("text") or "")
        if not text:
            raise _Fail("no_text")
        ts = self._new_ts()
        message = {"type": "message", "user": BOT_USER, "text": text, "ts": ts, "bot_id": "B123ABC456"}
        thread_ts = params.get("thread_ts")
        if thread_ts:
            parent = self._find(channel["id"], str(thread_ts))
            message.update(thread_ts=thread_ts, parent_user_id=parent.get("user"))
            self.replies.setdefault(str(thread_ts), [parent]).append(message)
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["thread_ts"] = thread_ts
        else:
            self.messages[channel["id"]].append(message)
        answer = load_fixture("chat_postMessage.json")
        answer["message"].update(text=text, ts=ts)
        return {"channel": channel["id"], "ts": ts, "message": answer["message"]}

    def _m_reactions_add(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._channel(params)
        message = self._find(channel["id"], str(params.get("timestamp", "")))
        name = str(params.get("name", ""))
        for reaction in message.setdefault("reactions", []):
            if reaction["name"] == name:
                if BOT_USER in reaction["users"]:
                    raise _Fail("already_reacted")
                reaction["users"].append(BOT_USER)
                reaction["count"] += 1
                return {}
        message["reactions"].append({"name": name, "count": 1, "users": [BOT_USER]})
        return {}

    def _m_chat_scheduleMessage(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._channel(params)
        post_at = int(params.get("post_at") or 0)
        if post_at <= time.time():
            raise _Fail("time_in_past")
        if post_at > time.time() + 120 * 86400:
            raise _Fail("time_too_far")
        scheduled_id = f"Q{next(self._ids):09d}"
        self.scheduled.append(
            {
                "id": scheduled_id,
                "channel_id": channel["id"],
                "post_at": post_at,
                "date_created": int(time.time()),
                "text": params.get("text", ""),
            }
        )
        answer = load_fixture("chat_scheduleMessage.json")
        answer["message"]["text"] = params.get("text", "")
        return {
            "channel": channel["id"],
            "scheduled_message_id": scheduled_id,
            "post_at": str(post_at),
            "message": answer["message"],
        }

    def _m_chat_scheduledMessages_list(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        items = [
            s for s in self.scheduled if not params.get("channel") or s["channel_id"] == params["channel"]
        ]
        return self._page(items, params, "scheduled", "scheduled_messages")

    def _m_chat_deleteScheduledMessage(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._channel(params)
        for item in self.scheduled:
            if item["id"] == params.get("scheduled_message_id") and item["channel_id"] == channel["id"]:
                self.scheduled.remove(item)
                return {}
        raise _Fail("invalid_scheduled_message_id")

    def _m_files_getUploadURLExternal(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        host = self.base_url.rsplit("/api/", 1)[0]
        return {"upload_url": f"{host}/upload/v1/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        files = params.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        channel_id = params.get("channel_id")
        if channel_id:
            self._channel({"channel": channel_id})
        done = []
        for item in files:
            if item["id"] not in self.uploads:
                raise _Fail("file_not_found")
            done.append(
                {"id": item["id"], "title": item.get("title", ""), "size": len(self.uploads[item["id"]])}
            )
            if channel_id:
                self.messages[channel_id].append(
                    {
                        "type": "message",
                        "user": BOT_USER,
                        "text": params.get("initial_comment") or "",
                        "ts": self._new_ts(),
                        "files": [
                            {"id": item["id"], "name": item.get("title", ""), "title": item.get("title", "")}
                        ],
                    }
                )
        return {"files": done}

    def receive_upload(self, file_id: str, data: bytes) -> None:
        """Keep the bytes sent to an upload URL."""
        with self._lock:
            self.requests.append(Recorded("upload", {"file_id": file_id}, None, time.monotonic(), data))
            self.uploads[file_id] = data


class _Fail(Exception):
    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def _params(handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
    query = {k: v[-1] for k, v in parse_qs(urlsplit(handler.path).query, keep_blank_values=True).items()}
    kind = handler.headers.get("Content-Type", "")
    if body and "json" in kind:
        query.update(json.loads(body))
    elif body and "form" in kind:
        query.update({k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()})
    return query


def _handler_for(api: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            if path.startswith("/upload/v1/"):
                api.receive_upload(path.rsplit("/", 1)[1], body)
                self._send(200, f"OK - {len(body)}".encode(), "text/plain")
                return
            if not path.startswith("/api/"):
                self._send(404, b'{"ok":false,"error":"unknown_method"}', "application/json")
                return
            method = path[len("/api/") :]
            auth = self.headers.get("Authorization", "")
            params = _params(self, body)
            token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else params.get("token")
            wait = api.delay.get(method, 0.0)
            if wait:
                time.sleep(wait)
            status, answer, headers = api.answer(method, params, token, body)
            self._send(status, json.dumps(answer).encode(), "application/json; charset=utf-8", headers)

        do_GET = _answer
        do_POST = _answer

        def _send(self, status: int, raw: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests assert on `requests`

    return Handler


_background: SlackStandIn | None = None


def start_in_background() -> str:
    """Start one stand-in for the rest of the process (idempotent) and return its base URL."""
    global _background
    if _background is None:
        _background = SlackStandIn().start()
    return _background.base_url
