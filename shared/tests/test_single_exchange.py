"""Stateless JSON mode answers handshake-era requests in one exchange, exactly as the SDK's session path did.

Two copies of one server run in process: one with `single_exchange` installed (what `http_app` does for
`--stateless --json-response`), one answering through the SDK's own per-request session. Every request
below must get the same status, headers that matter and body from both; the one-exchange copy must build
no SDK transport for the requests it takes, and hand every other request to the SDK untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx2
import pytest
from mcp.server import streamable_http
from pydantic import Field

from patchbay_common import single_exchange
from patchbay_common.app import PatchbayServer, http_app
from patchbay_common.errors import UserError
from patchbay_common.notify import Progress
from patchbay_common.settings import CommonSettings

pytestmark = pytest.mark.anyio

HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
    "Host": "127.0.0.1:8000",
}


def build() -> PatchbayServer:
    settings = CommonSettings(  # type: ignore[call-arg]
        _cli_parse_args=["--transport", "streamable-http", "--stateless", "--json-response"]
    )
    server = PatchbayServer("exchange", version="1.0", settings=settings)

    @server.tool()
    async def echo(text: Annotated[str, Field(max_length=50)]) -> str:
        """Return the text."""
        return text

    @server.tool()
    async def refuse(reason: str) -> str:
        """Fail as a tool fails: a clear error text."""
        raise UserError(f"Refused: {reason}.", hint="Ask for something else.")

    @server.tool()
    async def crash() -> str:
        """Fail as a bug fails."""
        raise RuntimeError("boom")

    @server.tool()
    async def count(to: int) -> str:
        """Count, reporting progress on the way (a JSON answer has no room for it)."""
        async with Progress(total=to) as progress:
            for _ in range(to):
                progress.advance()
        return f"counted to {to}"

    @server.prompt()
    def greet(name: str) -> str:
        """Greet someone."""
        return f"Hello {name}"

    return server


@asynccontextmanager
async def running(one_exchange: bool, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx2.AsyncClient]:
    server = build()
    with monkeypatch.context() as patch:
        if not one_exchange:
            patch.setattr(single_exchange, "install", lambda manager: None)
        app = http_app(server, server.patchbay_settings)
    async with server.session_manager.run():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            yield client


def call(name: str, arguments: dict[str, Any], request_id: Any = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


REQUESTS: dict[str, Any] = {
    "tools/list": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    "tools/list with params": {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
    "call": call("echo", {"text": "hello"}),
    "call with a string id": call("echo", {"text": "hi"}, "req-7"),
    "call with progress token": {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "count", "arguments": {"to": 5}, "_meta": {"progressToken": "p1"}},
    },
    "user error": call("refuse", {"reason": "no"}),
    "crash": call("crash", {}),
    "bad arguments": call("echo", {"text": "x" * 51}),
    "missing arguments": call("echo", {}),
    "unknown tool": call("nope", {}),
    "unknown method": {"jsonrpc": "2.0", "id": 4, "method": "no/such/method"},
    "params not an object": {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": [1, 2]},
    "ping": {"jsonrpc": "2.0", "id": 6, "method": "ping"},
    "prompt": {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "prompts/get",
        "params": {"name": "greet", "arguments": {"name": "Ann"}},
    },
    "initialize": {
        "jsonrpc": "2.0",
        "id": 8,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    },
    "notification": {"jsonrpc": "2.0", "method": "notifications/initialized"},
    "batch": [call("echo", {"text": "a"}), call("echo", {"text": "b"}, 2)],
    "bool id": call("echo", {"text": "a"}, True),
    "null id": call("echo", {"text": "a"}, None),
    "extra member": {**call("echo", {"text": "a"}), "extra": 1},
    "wrong version": {**call("echo", {"text": "a"}), "jsonrpc": "1.0"},
}
RAW: dict[str, bytes] = {
    "not json": b"{not json",
    "empty body": b"",
    "a number": b"42",
}
TAKEN = {
    "tools/list",
    "tools/list with params",
    "call",
    "call with a string id",
    "call with progress token",
    "user error",
    "crash",
    "bad arguments",
    "missing arguments",
    "unknown tool",
    "unknown method",
    "ping",
    "prompt",
}


def _comparable(response: httpx2.Response) -> tuple[int, str | None, Any]:
    """Status, session header and body, with the per-call request id of an internal error's text taken out."""
    body: Any = re.sub(rb"request id [0-9a-f]+", b"request id X", response.content)
    if response.headers.get("content-type", "").startswith("application/json") and body:
        body = json.loads(body)
    return response.status_code, response.headers.get("mcp-session-id"), body


@pytest.mark.parametrize("kind", [*REQUESTS, *RAW])
async def test_both_paths_answer_alike(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    content = RAW[kind] if kind in RAW else json.dumps(REQUESTS[kind]).encode()
    transports: list[object] = []
    original = streamable_http.StreamableHTTPServerTransport.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        transports.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(streamable_http.StreamableHTTPServerTransport, "__init__", counted)
    answers = []
    for one_exchange in (False, True):
        transports.clear()
        async with running(one_exchange, monkeypatch) as client:
            response = await client.post("/mcp", content=content, headers=HEADERS)
        answers.append(_comparable(response))
        if one_exchange:
            assert (transports == []) == (kind in TAKEN), "the one-exchange path took the wrong requests"
    assert answers[0] == answers[1]
    if kind == "call":
        assert answers[1][0] == 200 and answers[1][2]["result"]["content"][0]["text"] == "hello"
    if kind == "user error":
        result = answers[1][2]["result"]
        assert result["isError"] and "Refused: no. Ask for something else." in result["content"][0]["text"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 400),
        ({"Accept": "text/html"}, 406),
        ({"Host": "evil.example"}, 421),
        ({"Origin": "http://evil.example"}, 403),
    ],
)
async def test_refusals_are_the_sdks(
    headers: dict[str, str], status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wrong media types and a foreign Host or Origin are refused the same way, before any tool runs."""
    answers = []
    for one_exchange in (False, True):
        async with running(one_exchange, monkeypatch) as client:
            response = await client.post(
                "/mcp", content=json.dumps(call("echo", {"text": "a"})), headers={**HEADERS, **headers}
            )
        answers.append((response.status_code, response.text))
    assert answers[0] == answers[1]
    assert answers[1][0] == status, answers


async def test_only_stateless_json_mode_is_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server with sessions, or with SSE answers, keeps the SDK's path as it is."""
    for flags in (["--transport", "streamable-http"], ["--transport", "streamable-http", "--stateless"]):
        settings = CommonSettings(_cli_parse_args=flags)  # type: ignore[call-arg]
        server = PatchbayServer("plain", version="1.0", settings=settings)
        http_app(server, settings)
        manager = server.session_manager
        assert manager._handle_stateless_request.__func__ is type(manager)._handle_stateless_request  # type: ignore[attr-defined]
