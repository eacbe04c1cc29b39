"""Malformed protocol traffic over stdio and streamable HTTP, against every registered server.

Truncated and invalid JSON, wrong types in params, deep nesting, oversized bodies and lines, batch arrays,
unknown and stale session ids, forged Host/Origin, abrupt disconnects mid-request and mid-stream. The
server answers with the JSON-RPC error (and HTTP status) that fits, stays up, and a session opened before
the abuse still works after it.

JSON-RPC 2.0 names the codes: -32700 parse error (not JSON), -32600 invalid request (JSON, but not a
request object: a batch, no "jsonrpc", params not an object), -32602 invalid params. The SDK answers some
invalid requests with -32602 rather than -32600; both are accepted as "the right error" here, since the
client is told at once which request was wrong and why.
"""

from __future__ import annotations

import json
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest
from hardening import HttpPool

from patchbay_common.testing.clients import HttpServer
from registry import SPECS, ServerSpec, TestEnv, spec_id

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
NOT_A_REQUEST = {INVALID_REQUEST, INVALID_PARAMS}
DEEP = 100_000  # nesting depth of the deep-nesting message
BIG = 8 * 1024 * 1024  # bytes of the oversized line / body

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "malformed-traffic", "version": "0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def ping(request_id: int | str) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"}).encode()


# name -> (message, the id the answer carries, the acceptable error codes)
BAD_MESSAGES: dict[str, tuple[bytes, int | None, set[int]]] = {
    "invalid json": (b"{not json}", None, {PARSE_ERROR}),
    "truncated json": (b'{"jsonrpc":"2.0","id":2,"method":"tools/li', None, {PARSE_ERROR}),
    "binary garbage": (b"\xff\xfe\x00garbage", None, {PARSE_ERROR}),
    "params not an object": (
        b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":"x"}',
        3,
        NOT_A_REQUEST,
    ),
    "wrong types in params": (
        b'{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":5,"arguments":[1]}}',
        4,
        {INVALID_PARAMS},
    ),
    "deep nesting": (
        b'{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"x":' + b"[" * DEEP + b"]" * DEEP + b"}}",
        5,
        {PARSE_ERROR, *NOT_A_REQUEST},
    ),
    "batch array": (b"[" + ping(6) + b"," + ping(7) + b"]", None, NOT_A_REQUEST),
    "no jsonrpc member": (b'{"id":8,"method":"ping"}', 8, NOT_A_REQUEST),
    "unknown method": (b'{"jsonrpc":"2.0","id":9,"method":"no/such/method"}', 9, {METHOD_NOT_FOUND}),
}


Message = dict[str, Any]


# --- stdio ------------------------------------------------------------------------------------------------


class RawStdio:
    """A server subprocess spoken to line by line, with no client library in between."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.buffer = b""

    def send(self, *lines: bytes) -> None:
        assert self.process.stdin is not None
        for line in lines:
            self.process.stdin.write(line + b"\n")
        self.process.stdin.flush()

    def read(self, timeout: float) -> dict[str, Any] | None:
        """The next message the server writes, or None after `timeout` seconds of silence."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                return None
            chunk = self.process.stdout.read1(1 << 20)  # type: ignore[attr-defined]
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def until(
        self, request_id: int | str, timeout: float = 30
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Read up to the answer to `request_id`; return it and every message before it."""
        before = []
        deadline = time.monotonic() + timeout
        while True:
            message = self.read(max(deadline - time.monotonic(), 0))
            assert message is not None, f"no answer to request {request_id!r} within {timeout} s"
            if message.get("id") == request_id and ("result" in message or "error" in message):
                return message, before
            before.append(message)

    def handshake(self) -> None:
        self.send(json.dumps(INIT).encode())
        answer, _ = self.until(1)
        assert "result" in answer, answer
        self.send(json.dumps(INITIALIZED).encode())


@contextmanager
def raw_stdio(spec: ServerSpec, env: TestEnv) -> Iterator[RawStdio]:
    launch = spec.launch(env)
    process = subprocess.Popen(
        launch.argv(),
        env=launch.environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield RawStdio(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_stdio_survives_malformed_lines_and_disconnect(
    spec: ServerSpec, server_envs: dict[str, TestEnv]
) -> None:
    """Every malformed line, an oversized line and a mid-request EOF: the server answers on and exits 0."""
    with raw_stdio(spec, server_envs[spec.name]) as server:
        server.handshake()
        server.send(*(message for message, _, _ in BAD_MESSAGES.values()))
        server.send(ping("after-abuse"))
        answer, _ = server.until("after-abuse")
        assert answer["result"] == {}
        huge = {"jsonrpc": "2.0", "id": "huge", "method": "tools/list", "params": {"pad": "a" * BIG}}
        server.send(json.dumps(huge).encode())
        answer, _ = server.until("huge", timeout=60)
        assert "result" in answer or answer["error"]["code"] in {INVALID_REQUEST, INVALID_PARAMS}
        server.send(ping("after-huge"))
        assert server.until("after-huge")[0]["result"] == {}
        # A request in flight, then the client goes away: the server notices EOF and exits cleanly.
        server.send(b'{"jsonrpc":"2.0","id":"gone","method":"tools/list"}')
        assert server.process.stdin is not None
        server.process.stdin.close()
        assert server.process.wait(timeout=15) == 0


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_stdio_answers_malformed_lines_with_json_rpc_errors(
    spec: ServerSpec, server_envs: dict[str, TestEnv]
) -> None:
    """Each malformed line gets its JSON-RPC error, as over HTTP, instead of silence (a client would hang)."""
    with raw_stdio(spec, server_envs[spec.name]) as server:
        server.handshake()
        missing = []
        for name, (message, request_id, codes) in BAD_MESSAGES.items():
            server.send(message, ping(f"after {name}"))
            _, before = server.until(f"after {name}")
            errors = [m for m in before if "error" in m and m.get("id") == request_id]
            if not errors or errors[0]["error"]["code"] not in codes:
                missing.append(f"{name}: expected error {sorted(codes)} for id {request_id}, got {before}")
        assert not missing, f"patchbay-{spec.name} over stdio:\n" + "\n".join(missing)


# --- streamable HTTP --------------------------------------------------------------------------------------

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def sse_or_json(response: httpx2.Response) -> dict[str, Any]:
    """The one JSON-RPC message of a response, whether sent as JSON or as one SSE event."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(next(d for d in data if d))
    return response.json()


def open_session(client: httpx2.Client, url: str) -> dict[str, str]:
    """Initialize a session; the headers its later requests carry."""
    response = client.post(url, json=INIT, headers=HEADERS)
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    headers = {**HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
    assert client.post(url, json=INITIALIZED, headers=headers).status_code == 202
    return headers


def assert_alive(client: httpx2.Client, server: HttpServer, headers: dict[str, str], tag: str) -> None:
    response = client.post(server.url, content=ping(tag), headers=headers)
    assert response.status_code == 200, response.text
    assert sse_or_json(response) == {"jsonrpc": "2.0", "id": tag, "result": {}}
    assert client.get(f"{server.base_url}/healthz").status_code == 200


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_http_malformed_requests_get_the_right_errors(spec: ServerSpec, http_pool: HttpPool) -> None:
    server = http_pool.get(spec)
    url = server.url
    with httpx2.Client(timeout=30) as client:
        bystander = open_session(client, url)  # opened before the abuse, used after it
        headers = open_session(client, url)
        wrong = []
        for name, (message, request_id, codes) in BAD_MESSAGES.items():
            response = client.post(url, content=message, headers=headers)
            if response.status_code not in (200, 400):
                wrong.append(f"{name}: HTTP {response.status_code} {response.text[:200]}")
                continue
            answer = sse_or_json(response)
            if answer.get("error", {}).get("code") not in codes or answer.get("id") not in (request_id, None):
                wrong.append(f"{name}: HTTP {response.status_code} {json.dumps(answer)[:300]}")
        assert not wrong, f"patchbay-{spec.name} over HTTP:\n" + "\n".join(wrong)

        big = b'{"jsonrpc":"2.0","id":"big","method":"ping","params":{"pad":"' + b"a" * BIG + b'"}}'
        assert client.post(url, content=big, headers=headers).status_code == 413
        assert client.post(
            url, content=ping(1), headers={**headers, "Content-Type": "text/plain"}
        ).status_code in (
            400,
            415,
        )
        assert (
            client.post(url, content=ping(1), headers={**headers, "Accept": "text/html"}).status_code == 406
        )

        # Sessions: none, unknown, and one that was closed (a stale or stolen id) are refused.
        assert client.post(url, content=ping(1), headers=HEADERS).status_code == 400
        unknown = {**headers, "mcp-session-id": "0" * 32}
        assert client.post(url, content=ping(1), headers=unknown).status_code == 404
        assert client.get(url, headers=unknown).status_code == 404
        assert client.delete(url, headers=headers).status_code == 200
        assert client.post(url, content=ping(1), headers=headers).status_code == 404

        # DNS rebinding: a foreign Host or Origin never reaches the server.
        assert client.post(url, json=INIT, headers={**HEADERS, "Host": "evil.example"}).status_code == 421
        assert (
            client.post(url, json=INIT, headers={**HEADERS, "Origin": "http://evil.example"}).status_code
            == 403
        )

        assert_alive(client, server, bystander, "bystander")


def raw_http(port: int, payload: bytes, *, read: int = 0) -> None:
    """Send raw bytes on a fresh connection, optionally read a little, then drop the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        if read:
            sock.recv(read)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_http_abrupt_disconnects_leave_other_sessions_working(spec: ServerSpec, http_pool: HttpPool) -> None:
    server = http_pool.get(spec)
    with httpx2.Client(timeout=30) as client:
        bystander = open_session(client, server.url)
        victim = open_session(client, server.url)
        session = victim["mcp-session-id"]
        call = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}).encode()
        head = (
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\nmcp-session-id: {session}\r\n"
            "mcp-protocol-version: 2025-06-18\r\n"
        )
        # 1. the body stops half way (Content-Length promises more), then the connection drops
        raw_http(server.port, f"{head}Content-Length: {len(call) + 100}\r\n\r\n".encode() + call[:20])
        # 2. a request is sent, and the client vanishes before reading the answer stream
        raw_http(server.port, f"{head}Content-Length: {len(call)}\r\n\r\n".encode() + call)
        # 3. the standalone SSE stream (GET) is opened, its headers read, then dropped
        get = (
            f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAccept: text/event-stream\r\n"
            f"mcp-session-id: {session}\r\nmcp-protocol-version: 2025-06-18\r\n\r\n"
        )
        raw_http(server.port, get.encode(), read=64)
        # 4. headers only, then nothing at all
        raw_http(server.port, head.encode())
        time.sleep(0.2)
        assert server.process.poll() is None, "the server exited"
        assert_alive(client, server, bystander, "bystander")
        assert_alive(client, server, victim, "victim")
        fresh = open_session(client, server.url)
        assert_alive(client, server, fresh, "fresh")
