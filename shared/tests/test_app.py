"""serve() and PatchbayServer as operators and clients see them: flags, errors, transports, auth, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp_types import ListRootsResult, Root

from patchbay_common.app import PatchbayServer
from patchbay_common.client_roots import AllowedRoots
from patchbay_common.errors import UserError
from patchbay_common.roots import Roots
from patchbay_common.settings import CommonSettings
from patchbay_common.testing.clients import Launch, connect, http_server

SERVER_SOURCE = textwrap.dedent(
    '''
    import anyio
    from pydantic import Field
    from patchbay_common.annotations import hints
    from patchbay_common.app import PatchbayServer, serve
    from patchbay_common.errors import UserError
    from patchbay_common.settings import CommonSettings, settings_config


    class Settings(CommonSettings):
        """Echo test server."""

        model_config = settings_config("echo")
        shout: bool = Field(False, description="Upper-case the echo.")
        limit: int = Field(5, ge=1, description="A bounded number.")


    def build(settings: Settings) -> PatchbayServer:
        if settings.limit == 3:
            raise ValueError("limit 3 is reserved; pick another")
        mcp = PatchbayServer("patchbay-echo", version="0.0.1", settings=settings)

        @mcp.tool(annotations=hints(read_only=True))
        async def echo(text: str) -> str:
            """Return the text."""
            if text == "fail":
                raise UserError("cannot echo 'fail'", hint="Send other text.")
            if text == "crash":
                raise RuntimeError("db password=hunter2 exploded")
            if text == "slow":
                await anyio.sleep(30)
            if text == "a while":
                await anyio.sleep(1.5)
            return text.upper() if settings.shout else text

        return mcp


    if __name__ == "__main__":
        serve(build, Settings)
    '''
)


@pytest.fixture(scope="module")
def echo_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("echo") / "echo_server.py"
    path.write_text(SERVER_SOURCE)
    return path


def run(script: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


class TestFlags:
    def test_help_lists_every_flag_with_defaults_and_env(self, echo_script: Path) -> None:
        result = run(echo_script, "--help", env={"COLUMNS": "200"})
        assert result.returncode == 0
        for flag in (
            "--transport",
            "--host",
            "--port",
            "--stateless",
            "--json-response",
            "--auth-token",
            "--auth-token-file",
            "--allowed-host",
            "--allowed-origin",
            "--log-level",
            "--log-format",
            "--tool-timeout",
            "--max-output-chars",
            "--shout",
            "--allow-insecure-bind",
        ):
            assert flag in result.stdout, flag
        assert "(default: 127.0.0.1)" in result.stdout
        assert "PATCHBAY_ECHO_" in result.stdout

    @pytest.mark.parametrize(
        ("args", "env", "needle"),
        [
            (["--port", "abc"], {}, "--port"),
            (["--transport", "carrier-pigeon"], {}, "--transport"),
            (["--limit", "0"], {}, "--limit"),
            ([], {"PATCHBAY_ECHO_PORT": "70000"}, "--port"),
            (["--limit", "3"], {}, "limit 3 is reserved"),
            (["--transport", "sse", "--host", "0.0.0.0"], {}, "without authentication"),
        ],
    )
    def test_bad_values_exit_2_with_one_line(
        self, echo_script: Path, args: list[str], env: dict[str, str], needle: str
    ) -> None:
        result = run(echo_script, *args, env=env)
        assert result.returncode == 2
        assert needle in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""

    def test_env_sets_flags(self, echo_script: Path) -> None:
        settings = CommonSettings(_cli_parse_args=[])  # type: ignore[call-arg]
        assert settings.port == 8000
        os.environ["PATCHBAY_SERVER_PORT"] = "9123"
        try:
            assert CommonSettings(_cli_parse_args=[]).port == 9123  # type: ignore[call-arg]
        finally:
            del os.environ["PATCHBAY_SERVER_PORT"]


@pytest.mark.anyio
class TestErrorsAsText:
    async def test_user_error_hint_and_crash_are_model_readable(self, echo_script: Path) -> None:
        launch = Launch(sys.executable, [str(echo_script)])
        async with connect(launch) as client:
            ok = await client.call_tool("echo", {"text": "hi"})
            assert not ok.is_error and ok.content[0].text == "hi"  # type: ignore[union-attr]
            refused = await client.call_tool("echo", {"text": "fail"})
            assert refused.is_error
            assert "cannot echo 'fail'" in refused.content[0].text  # type: ignore[union-attr]
            assert "Send other text." in refused.content[0].text  # type: ignore[union-attr]
            crashed = await client.call_tool("echo", {"text": "crash"})
            text = crashed.content[0].text  # type: ignore[union-attr]
            assert crashed.is_error and "internal error (request id " in text
            assert "hunter2" not in text and "exploded" not in text
            invalid = await client.call_tool("echo", {"text": 5})
            assert invalid.is_error

    async def test_overall_deadline_stops_a_call(self, echo_script: Path) -> None:
        launch = Launch(sys.executable, [str(echo_script), "--tool-timeout", "0.3"])
        async with connect(launch, era="modern") as client:
            started = time.monotonic()
            result = await client.call_tool("echo", {"text": "slow"})
            assert time.monotonic() - started < 10
            assert result.is_error and "did not finish within 0.3 s" in result.content[0].text  # type: ignore[union-attr]
            assert (await client.call_tool("echo", {"text": "after"})).content[0].text == "after"  # type: ignore[union-attr]


def test_logs_go_to_stderr_as_json_with_request_id_and_no_secret(echo_script: Path) -> None:
    process = subprocess.run(
        [sys.executable, str(echo_script)],
        input=_stdio_session([{"text": "crash"}]),
        capture_output=True,
        text=True,
        timeout=30,
    )
    for line in process.stdout.splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0"  # stdout carries protocol messages only
    records = [json.loads(line) for line in process.stderr.splitlines() if line.startswith("{")]
    calls = [r for r in records if r["event"] == "tool call"]  # one line per call
    crashed = [r for r in records if r["event"] == "tool call crashed"]
    assert len(calls) == 1 and crashed and calls[0]["request_id"] == crashed[0]["request_id"]
    assert calls[0]["outcome"] == "refused" and "ms" in calls[0]
    assert "exploded" in crashed[0]["exception"]  # the traceback is in the log ...
    assert "hunter2" not in process.stderr  # ... with the secret redacted


def _stdio_session(calls: list[dict[str, str]]) -> str:
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]
    for index, arguments in enumerate(calls, start=1):
        messages.append(
            {
                "jsonrpc": "2.0",
                "id": index,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": arguments},
            }
        )
    return "".join(json.dumps(m) + "\n" for m in messages)


@pytest.fixture
def http_echo(echo_script: Path) -> Iterator[Launch]:
    yield Launch(sys.executable, [str(echo_script)])


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_http_transports_both_eras(http_echo: Launch, transport: str) -> None:
    with http_server(http_echo, transport) as server:  # type: ignore[arg-type]
        for era in ("legacy", "modern"):
            async with connect(server, era=era) as client:  # type: ignore[arg-type]
                result = await client.call_tool("echo", {"text": era})
                assert result.content[0].text == era  # type: ignore[union-attr]
        assert httpx2.get(f"{server.base_url}/healthz").json()["server"] == "patchbay-echo"


def test_host_and_origin_checks_on_a_non_loopback_bind(http_echo: Launch) -> None:
    """The SDK checks Host/Origin only on loopback binds by default; we check on every bind."""
    with http_server(
        http_echo,
        "streamable-http",
        "--host",
        "0.0.0.0",
        "--auth-token",
        "tok-123456",
        "--allowed-host",
        "mcp.example:*",
    ) as server:
        url = f"{server.base_url}/mcp"
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        auth = {"Authorization": "Bearer tok-123456", "Accept": "application/json, text/event-stream"}
        assert httpx2.post(url, json=body, headers={**auth, "Host": "evil.example"}).status_code == 421
        bad_origin = {**auth, "Origin": "https://evil.example"}
        assert httpx2.post(url, json=body, headers=bad_origin).status_code == 403
        good = httpx2.post(url, json=body, headers={**auth, "Host": "mcp.example:80"})
        assert good.status_code not in (401, 403, 421)


def test_bearer_auth(http_echo: Launch, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-value\n")
    with http_server(http_echo, "streamable-http", "--auth-token-file", str(token_file)) as server:
        url = f"{server.base_url}/mcp"
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        accept = {"Accept": "application/json, text/event-stream"}
        missing = httpx2.post(url, json=body, headers=accept)
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        wrong = httpx2.post(url, json=body, headers={**accept, "Authorization": "Bearer s3cret-token-valuX"})
        assert wrong.status_code == 401
        right = httpx2.post(url, json=body, headers={**accept, "Authorization": "Bearer s3cret-token-value"})
        assert right.status_code != 401
        assert httpx2.get(f"{server.base_url}/healthz").status_code == 200  # health needs no token


@pytest.mark.anyio
async def test_bearer_auth_through_the_sdk_client(http_echo: Launch) -> None:
    with http_server(http_echo, "streamable-http", "--auth-token", "abc12345678") as server:
        async with connect(server, headers={"Authorization": "Bearer abc12345678"}) as client:
            assert (await client.call_tool("echo", {"text": "x"})).content[0].text == "x"  # type: ignore[union-attr]


def test_sigterm_stops_stdio_cleanly(echo_script: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, str(echo_script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    assert process.stderr is not None
    while b"server starting" not in process.stderr.readline():
        assert time.monotonic() < deadline
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert b"signal received; shutting down" in err


@pytest.mark.anyio
@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_client_roots_narrow_in_both_eras(tmp_path: Path, era: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "f.txt").write_text("in a")
    (tmp_path / "b" / "g.txt").write_text("in b")
    server = PatchbayServer("t", version="0", roots=Roots([tmp_path]))

    @server.tool()
    async def read(path: str, roots: AllowedRoots) -> str:
        """Read a file."""
        return roots.read_bytes(path).decode()

    listings = 0
    current = [Root(uri=f"file://{tmp_path}/a")]  # type: ignore[arg-type]

    async def list_roots(context: object) -> ListRootsResult:
        nonlocal listings
        listings += 1
        return ListRootsResult(roots=current)

    async with connect(server, era=era, list_roots=list_roots) as client:  # type: ignore[arg-type]
        assert (await client.call_tool("read", {"path": str(tmp_path / "a" / "f.txt")})).content[
            0
        ].text == "in a"  # type: ignore[union-attr]
        denied = await client.call_tool("read", {"path": str(tmp_path / "b" / "g.txt")})
        assert denied.is_error and "outside the allowed directories" in denied.content[0].text  # type: ignore[union-attr]
        # the client removes /a and offers /b and something outside the operator's bound
        current[:] = [Root(uri=f"file://{tmp_path}/b"), Root(uri="file:///etc")]  # type: ignore[arg-type]
        if era == "legacy":
            await client.session.send_roots_list_changed()
            await anyio.sleep(0.1)
        gone = await client.call_tool("read", {"path": str(tmp_path / "a" / "f.txt")})
        assert gone.is_error
        assert (await client.call_tool("read", {"path": str(tmp_path / "b" / "g.txt")})).content[
            0
        ].text == "in b"  # type: ignore[union-attr]
        etc = await client.call_tool("read", {"path": "/etc/hostname"})
        assert etc.is_error  # the client cannot widen the operator's bound
    if era == "legacy":
        assert listings == 2  # cached per connection until list_changed


@pytest.mark.anyio
async def test_user_error_in_process_in_both_eras() -> None:
    server = PatchbayServer("t", version="0")

    @server.tool()
    async def fail() -> str:
        """Always refuse."""
        raise UserError("nope", hint="try again")

    for era in ("legacy", "modern"):
        async with connect(server, era=era) as client:  # type: ignore[arg-type]
            result = await client.call_tool("fail", {})
            assert result.is_error and result.content[0].text == "nope try again"  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_multi_line_docstrings_are_dedented() -> None:
    server = PatchbayServer("t", version="0")

    @server.tool()
    async def documented() -> str:
        """First line.

        Second paragraph, indented in the source.
        """
        return ""

    async with connect(server) as client:
        tool = (await client.list_tools()).tools[0]
    assert tool.description == "First line.\n\nSecond paragraph, indented in the source."


def test_sigterm_over_http_lets_the_call_in_flight_answer(http_echo: Launch) -> None:
    """A rolling restart must not drop answers: SIGTERM drains calls in flight before streams close."""
    import threading

    with http_server(http_echo, "streamable-http") as server:
        url = f"{server.base_url}/mcp"
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        }
        with httpx2.Client(timeout=30) as client:
            opened = client.post(url, json=init, headers=headers)
            headers = {
                **headers,
                "mcp-session-id": opened.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-06-18",
            }
            client.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
            answers: list[str] = []
            call = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "a while"}},
            }
            worker = threading.Thread(
                target=lambda: answers.append(client.post(url, json=call, headers=headers).text)
            )
            worker.start()
            time.sleep(0.5)
            server.process.send_signal(signal.SIGTERM)
            worker.join(timeout=20)
        assert answers and '"a while"' in answers[0], answers
        assert server.process.wait(timeout=15) == 0
