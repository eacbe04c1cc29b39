"""A local stand-in of the Brave Search API, for tests and benchmarks (stdlib only, one background thread).

It answers the endpoints patchbay-search and the official server call, with bodies taken from the JSON
fixtures beside it (shaped after the examples in Brave's API documentation):

    GET /res/v1/web/search          web results; `result_filter=locations` gives the locations fixture
    GET /res/v1/local/pois          points of interest for `ids` (repeatable, at most 20)
    GET /res/v1/local/descriptions  descriptions for `ids`
    GET /res/v1/news/search         news results
    GET /res/v1/images/search       image results
    GET /res/v1/videos/search       video results

Like the real API it checks `X-Subscription-Token` (a wrong or missing key is a 422
`SUBSCRIPTION_TOKEN_INVALID`), applies `count` and `offset` (offset counts pages of `count`), rejects
counts above each endpoint's maximum with a 422 `VALIDATION` error, enforces a per-second rate limit and a
monthly quota (429 `RATE_LIMITED`), and sends the `X-RateLimit-*` headers on every answer. It records every
request, and a test can queue canned answers (`queue`) or turn off locations (`locations = False`).

    with BraveStandIn(api_key="k") as api:
        ... point the server at api.base_url ...
        assert api.requests[0].params["q"] == ["pizza"]

`start_in_background()` starts one for the rest of the process and returns its base URL.
"""

from __future__ import annotations

import copy
import gzip
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).with_name("fixtures")
MONTH_SECONDS = 2_592_000
TEST_KEY = "BSA-standin-key-0123456789"
"""The key the stand-in accepts unless told otherwise."""

_ENDPOINTS = {
    "/res/v1/web/search": ("web_search.json", 20),
    "/res/v1/news/search": ("news_search.json", 50),
    "/res/v1/images/search": ("images_search.json", 200),
    "/res/v1/videos/search": ("videos_search.json", 50),
}


def load_fixture(name: str) -> Any:
    """A fixture's parsed JSON (a fresh copy each time)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class Recorded:
    """One request the stand-in received."""

    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    at: float


@dataclass
class Canned:
    """An answer to give instead of the normal one, `times` times, for requests to `path`."""

    path: str
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay: float = 0.0


class BraveStandIn:
    """The stand-in server; use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        *,
        api_key: str = TEST_KEY,
        per_second: int = 20,
        monthly_limit: int = 20_000_000,
        monthly_used: int = 0,
    ) -> None:
        self.api_key = api_key
        self.per_second = per_second
        self.monthly_limit = monthly_limit
        self.monthly_used = monthly_used
        self.locations = True
        self.requests: list[Recorded] = []
        self._canned: list[Canned] = []
        self._window: deque[float] = deque()
        self._lock = threading.Lock()
        self._fixtures = {name: load_fixture(name) for name in _fixture_names()}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, the value for `--base-url`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> BraveStandIn:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="brave-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> BraveStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def queue(
        self,
        path: str,
        status: int,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` requests to `path` with `status` and `body` (a dict, or a fixture name)."""
        if isinstance(body, str) and body.endswith(".json"):
            body = load_fixture(body)
        with self._lock:
            self._canned.append(Canned(path, status, body, dict(headers or {}), times, delay))

    def calls(self, path: str) -> list[Recorded]:
        """The recorded requests to `path`."""
        return [r for r in self.requests if r.path == path]

    # --- answering ---------------------------------------------------------------------------------------

    def answer(
        self, path: str, params: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str], float]:
        """Status, body, extra headers and delay for one request."""
        with self._lock:
            self.requests.append(Recorded(path, params, headers, time.monotonic()))
            canned = next((c for c in self._canned if c.path == path), None)
            if canned is not None:
                canned.times -= 1
                if canned.times <= 0:
                    self._canned.remove(canned)
                return canned.status, canned.body, {**self._limit_headers(), **canned.headers}, canned.delay
            if headers.get("x-subscription-token") != self.api_key:
                return 422, self._fixtures["error_invalid_token.json"], {}, 0.0
            now = time.monotonic()
            while self._window and now - self._window[0] >= 1.0:
                self._window.popleft()
            if self.monthly_used >= self.monthly_limit or len(self._window) >= self.per_second:
                body = copy.deepcopy(self._fixtures["error_rate_limited.json"])
                body["error"]["meta"].update(
                    rate_limit=self.per_second,
                    rate_current=len(self._window) + 1,
                    quota_limit=self.monthly_limit,
                    quota_current=self.monthly_used,
                )
                return 429, body, self._limit_headers(now), 0.0
            self._window.append(now)
            self.monthly_used += 1
            limit_headers = self._limit_headers(now)
        status, body = self._search(path, params)
        return status, body, limit_headers, 0.0

    def _limit_headers(self, now: float | None = None) -> dict[str, str]:
        now = time.monotonic() if now is None else now
        in_window = sum(1 for t in self._window if now - t < 1.0)
        reset_second = max(1, round(1.0 - (now - self._window[0]))) if self._window else 1
        return {
            "X-RateLimit-Limit": f"{self.per_second}, {self.monthly_limit}",
            "X-RateLimit-Policy": f"{self.per_second};w=1, {self.monthly_limit};w={MONTH_SECONDS}",
            "X-RateLimit-Remaining": (
                f"{max(0, self.per_second - in_window)}, {max(0, self.monthly_limit - self.monthly_used)}"
            ),
            "X-RateLimit-Reset": f"{reset_second}, {MONTH_SECONDS // 2}",
        }

    def _search(self, path: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        if path in ("/res/v1/local/pois", "/res/v1/local/descriptions"):
            return self._local(path, params)
        if path not in _ENDPOINTS:
            return 404, {
                "type": "ErrorResponse",
                "error": {"status": 404, "code": "NOT_FOUND", "detail": path},
            }
        fixture, max_count = _ENDPOINTS[path]
        query = params.get("q", [""])[0]
        if not query:
            return 422, _validation("q", "missing", "Field required", "")
        default_count = {"/res/v1/images/search": 50, "/res/v1/videos/search": 20}.get(path, 10)
        count = _int(params, "count", default_count)
        offset = _int(params, "offset", 0)
        if count > max_count:
            return 422, _validation("count", "less_than_equal", f"Input should be <= {max_count}", count)
        if offset > 9:
            return 422, _validation("offset", "less_than_equal", "Input should be <= 9", offset)
        if path == "/res/v1/web/search" and "locations" in params.get("result_filter", [""])[0]:
            body = copy.deepcopy(self._fixtures["web_search_locations.json"])
            if not self.locations:
                del body["locations"]
            body["query"]["original"] = query
            return 200, body
        body = copy.deepcopy(self._fixtures[fixture])
        body["query"]["original"] = query
        if "country" in params:
            body["query"]["country"] = params["country"][0].lower()
        holder = body["web"] if path == "/res/v1/web/search" else body
        results = holder["results"]
        start = offset * count
        holder["results"] = results[start : start + count]
        body["query"]["more_results_available"] = start + count < len(results)
        return 200, body

    def _local(self, path: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        ids = params.get("ids", [])
        if not ids:
            return 422, _validation("ids", "missing", "Field required", "")
        if len(ids) > 20:
            return 422, _validation("ids", "too_long", "List should have at most 20 items", len(ids))
        name = "local_pois.json" if path.endswith("pois") else "local_descriptions.json"
        body = copy.deepcopy(self._fixtures[name])
        by_id = {item["id"]: item for item in body["results"]}
        body["results"] = [by_id[i] for i in ids if i in by_id]
        return 200, body


def _fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.json"))


def _int(params: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return int(params.get(name, [str(default)])[0])
    except ValueError:
        return 10**6  # fails the range check like any other out-of-range value


def _validation(name: str, kind: str, message: str, given: object) -> dict[str, Any]:
    body = load_fixture("error_validation.json")
    body["error"]["meta"]["errors"] = [
        {"type": kind, "loc": ["query", name], "msg": message, "input": str(given)}
    ]
    return body


def _handler_for(api: BraveStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = parse_qs(parts.query, keep_blank_values=True)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra, delay = api.answer(parts.path, params, headers)
            if delay:
                time.sleep(delay)
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            already = any(key.lower() == "content-encoding" for key in extra)  # a canned, encoded body
            if "gzip" in headers.get("accept-encoding", "") and len(raw) > 200 and not already:
                raw = gzip.compress(raw)
                self.send_header("Content-Encoding", "gzip")
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests assert on `requests`

    return Handler


_background: BraveStandIn | None = None


def start_in_background(api_key: str = TEST_KEY) -> str:
    """Start one stand-in for the rest of the process (idempotent) and return its base URL."""
    global _background
    if _background is None:
        _background = BraveStandIn(api_key=api_key).start()
    return _background.base_url
