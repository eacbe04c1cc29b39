"""A local stand-in of the GitHub REST API, answering from the official OpenAPI description's examples.

Each operation in `fixtures/examples.json.gz` (made by `fixtures/make_examples.py` from `@octokit/openapi`)
is answered with its documented 2xx example, with `https://api.github.com` rewritten to the stand-in's own
base URL (GitHub Enterprise style, `http://127.0.0.1:PORT/api/v3`), because PyGithub follows URLs found in
responses. Every request is recorded. A test overrides a route (status, body, headers) to get 404, 403,
422, 429 with Retry-After, or pagination with Link headers. An operation documented only as a redirect
(job logs) answers 302 to `/_blob/...` on the stand-in, which serves plain text.

    standin = start()                      # background thread, free port
    standin.override("GET", "/repos/o/r/issues/1", status=404, body={"message": "Not Found"})
    ... PyGithub(base_url=standin.base_url) ...
    assert standin.calls() == [("GET", "/repos/o/r/issues/1")]
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

EXAMPLES = Path(__file__).parent / "fixtures" / "examples.json.gz"
PREFIX = "/api/v3"
BLOB = "/_blob"
GRAPHQL = "/api/graphql"  # GitHub Enterprise's GraphQL endpoint beside /api/v3 (graphql_standin.py)


def _graphql_data() -> Any:
    """Fresh GraphQL fixture data: discussions of octocat/Hello-World (see graphql_standin.Discussions)."""
    import graphql_standin

    author = {"login": "octocat", "__typename": "User"}
    category = {"id": "DIC_kwDOA", "name": "Q&A", "slug": "q-a", "emoji": ":pray:", "isAnswerable": True}
    general = {
        "id": "DIC_kwDOB",
        "name": "General",
        "slug": "general",
        "emoji": ":speech_balloon:",
        "isAnswerable": False,
    }
    discussions = [
        {
            "id": f"D_kwDO{n}",
            "number": n,
            "title": f"How do I do thing {n}?",
            "body": f"Question {n} body.",
            "url": f"https://github.com/octocat/Hello-World/discussions/{n}",
            "createdAt": f"2024-01-0{n % 9 + 1}T10:00:00Z",
            "updatedAt": "2024-02-01T10:00:00Z",
            "closed": False,
            "isAnswered": n == 1,
            "upvoteCount": n,
            "author": author,
            "authorAssociation": "OWNER",
            "category": category if n % 2 else general,
            "_comments": [
                {
                    "id": f"DC_{n}_{i}",
                    "body": f"Answer {i} to {n}.",
                    "createdAt": "2024-01-10T10:00:00Z",
                    "author": {"login": f"helper{i}"},
                    "authorAssociation": "CONTRIBUTOR",
                    "isAnswer": i == 0 and n == 1,
                    "upvoteCount": i,
                    "_replies": [],
                }
                for i in range(3)
            ],
        }
        for n in range(1, 8)
    ]
    status = {
        "__typename": "ProjectV2SingleSelectField",
        "id": "PVTSSF_1",
        "name": "Status",
        "dataType": "SINGLE_SELECT",
        "options": [{"name": "Todo"}, {"name": "Done"}],
    }
    notes = {"__typename": "ProjectV2Field", "id": "PVTF_2", "name": "Notes", "dataType": "TEXT"}
    items = [
        {
            "id": f"PVTI_{n}",
            "type": "ISSUE" if n % 2 else "DRAFT_ISSUE",
            "isArchived": False,
            "content": (
                {
                    "__typename": "Issue",
                    "number": n,
                    "title": f"Issue {n}",
                    "state": "OPEN",
                    "url": f"https://github.com/octo-org/app/issues/{n}",
                    "repository": {"nameWithOwner": "octo-org/app"},
                }
                if n % 2
                else {"__typename": "DraftIssue", "title": f"Draft {n}"}
            ),
            "_values": [
                {"__typename": "ProjectV2ItemFieldSingleSelectValue", "name": "Todo", "field": status},
                {"__typename": "ProjectV2ItemFieldTextValue", "text": f"note {n}", "field": notes},
            ],
        }
        for n in range(1, 6)
    ]
    roadmap = {
        "number": 1,
        "title": "Roadmap",
        "shortDescription": "What ships when",
        "readme": "Read me.",
        "url": "https://github.com/orgs/octo-org/projects/1",
        "closed": False,
        "public": True,
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2024-03-01T00:00:00Z",
        "_fields": [status, notes],
        "_items": items,
    }
    backlog = {**roadmap, "number": 2, "title": "Backlog", "_items": [], "readme": None}
    return graphql_standin.Discussions(
        discussions={"octocat/Hello-World": discussions},
        categories={"octocat/Hello-World": [category, general]},
        owners={
            "octo-org": {"kind": "org", "projects": [roadmap, backlog]},
            "octocat": {"kind": "user", "projects": []},
        },
    )


@dataclass
class Recorded:
    """One request the stand-in received."""

    method: str
    path: str  # without the /api/v3 prefix
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Override:
    """A canned answer for one method and path (exact, or a regex when `pattern` is set)."""

    method: str
    path: str
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None  # answer this many times, then fall back to the next match
    query: dict[str, str] | None = None  # only when these query parameters match


@dataclass
class Stream:
    """A body sent in chunks as they are made (no Content-Length; the connection closes at the end).

    `chunks` makes the chunks for one answer; `delay` is slept between chunks (a slow or endless log).
    """

    chunks: Callable[[], Iterable[bytes]]
    delay: float = 0.0
    content_type: str = "text/plain"


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    status: int
    body: Any
    content_type: str


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    pattern = "".join(
        (".+" if part in ("{path}", "{ref}") else "[^/]+") if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(f"^{pattern}$")


class StandIn:
    """The stand-in server: routes from the examples, overrides, and the record of requests."""

    def __init__(self) -> None:
        data = json.loads(gzip.decompress(EXAMPLES.read_bytes()))
        routes = [
            _Route(
                op["method"], op["path"], _compile(op["path"]), op["status"], op["body"], op["content_type"]
            )
            for op in data["operations"]
        ]
        # More literal text first, so /releases/latest wins over /releases/{release_id}.
        self.routes = sorted(routes, key=lambda r: -len(re.sub(r"\{[^}]+\}", "", r.template)))
        self.requests: list[Recorded] = []
        self.overrides: list[Override] = []
        self.graphql_data = _graphql_data()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The API base URL to give PyGithub (GitHub Enterprise style)."""
        return f"{self.origin}{PREFIX}"

    def override(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int | None = None,
        query: dict[str, str] | None = None,
    ) -> None:
        """Answer `method path` (path without /api/v3) with this status, JSON body and headers."""
        with self.lock:
            self.overrides.insert(0, Override(method, path, status, body, dict(headers or {}), times, query))

    def reset(self) -> None:
        """Forget overrides and recorded requests."""
        with self.lock:
            self.overrides.clear()
            self.requests.clear()
            self.graphql_data = _graphql_data()

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request so far, in order."""
        with self.lock:
            return [(r.method, r.path) for r in self.requests]

    def example(self, method: str, template: str) -> Any:
        """The documented example body of an operation, rewritten to this base URL."""
        route = next(r for r in self.routes if r.method == method and r.template == template)
        return self._rewrite(route.body)

    def _rewrite(self, body: Any) -> Any:
        text = json.dumps(body).replace("https://api.github.com", self.base_url)
        return json.loads(text)

    def answer(self, record: Recorded) -> tuple[int, dict[str, str], Any]:
        """Status, headers and body for one request."""
        with self.lock:
            self.requests.append(record)
            for item in self.overrides:
                if item.method != record.method or item.path != record.path:
                    continue
                if item.query and any(record.query.get(k, [None])[0] != v for k, v in item.query.items()):
                    continue
                if item.times is not None:
                    if item.times <= 0:
                        continue
                    item.times -= 1
                return self._encode(item.status, item.body, item.headers)
        if record.method == "POST" and record.path == GRAPHQL:
            import graphql_standin

            request = record.body if isinstance(record.body, dict) else {}
            answer = graphql_standin.execute(
                str(request.get("query") or ""), request.get("variables"), self.graphql_data
            )
            return self._encode(200, answer, {})
        if record.path.startswith(BLOB):
            return 200, {"Content-Type": "text/plain"}, b"2024-01-01T00:00:00Z example log line\n"
        for route in self.routes:
            if route.method == record.method and route.regex.match(record.path):
                if 300 <= route.status < 400:
                    return route.status, {"Location": f"{self.origin}{BLOB}{record.path}"}, b""
                return self._encode(route.status, self._rewrite(route.body), {})
        return self._encode(
            404,
            {"message": "Not Found", "documentation_url": "stand-in: no example for this operation"},
            {},
        )

    def _encode(self, status: int, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if isinstance(body, Stream):
            return status, {"Content-Type": body.content_type, **headers}, body
        if status in (204, 304) or 100 <= status < 200:
            return status, dict(headers), b""  # these answers never carry a body
        if isinstance(body, bytes | str):
            raw = body.encode() if isinstance(body, str) else body
            return status, {"Content-Type": "text/plain", **headers}, raw
        raw = b"" if body is None and status in (204, 205) else json.dumps(body).encode()
        return status, {"Content-Type": "application/json; charset=utf-8", **headers}, raw

    def start(self) -> StandIn:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: the record of requests is the log."""

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path[len(PREFIX) :] if parts.path.startswith(PREFIX) else parts.path
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            record = Recorded(
                self.command,
                path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            status, headers, payload = standin.answer(record)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if isinstance(payload, Stream):
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for chunk in payload.chunks():
                        self.wfile.write(chunk)
                        if payload.delay:
                            time.sleep(payload.delay)
                except OSError:  # the client stopped reading (its deadline or byte cap)
                    pass
                return
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


def start() -> StandIn:
    """Start a stand-in on a free loopback port in a background thread and return it."""
    return StandIn().start()


def start_in_background() -> str:
    """Start a stand-in for a whole test session and return its base URL (for TestEnv.urls["github"])."""
    return start().base_url


@contextmanager
def running() -> Iterator[StandIn]:
    """A stand-in for the length of a `with` block."""
    standin = start()
    try:
        yield standin
    finally:
        standin.stop()
