"""One user never sees another's state (issue 21, item 3): two principals over streamable HTTP, both eras.

Real servers as subprocesses, real tokens from a real authorization server (oidc-provider, as in
test_oauth.py), a real Chromium and a real SQLite file. Alice and Bob are two OAuth clients, so two
principals; each check is what Bob would notice: the cookie the site sees, the tabs he lists, the memo he
reads, the cursor of Alice's he tries. Without authentication the browser refuses streamable HTTP unless
the operator says it serves one user, and every HTTP server says in its start-up line whom it can tell apart.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from authorization_server import AuthorizationServer, OAuthClient, authorization_server, signing_key
from mcp.shared.exceptions import MCPError

from patchbay_common.testing import components
from patchbay_common.testing.clients import ERAS, Era, HttpServer, Launch, connect, http_server
from patchbay_common.testing.modules import import_file
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
site_module = import_file(ROOT / "servers" / "browser" / "tests" / "site.py", "patchbay_isolation_site")
SCOPES = "mcp:read mcp:write"
ANOTHER_USER = "That cursor was given to another user"


@pytest.fixture(scope="module")
def provider() -> Iterator[AuthorizationServer]:
    clients = [OAuthClient("alice"), OAuthClient("bob")]
    with authorization_server([signing_key("EC", "ec-1")], clients) as server:
        yield server


@pytest.fixture(scope="module")
def site() -> Iterator[Any]:
    running = site_module.start_site("127.0.0.1")
    yield running
    running.stop()


def as_user(provider: AuthorizationServer, server: HttpServer, who: str, era: Era) -> Any:
    bearer = provider.token(who, resource=server.url, scope=SCOPES)
    return connect(server, era=era, headers={"Authorization": f"Bearer {bearer}"})


async def ok(client: Any, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    return text(result)


async def refused(client: Any, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, text(result)
    return text(result)


# --- the browser: cookies, tabs, snapshot cursors ----------------------------------------------------------


async def test_browser_users_keep_their_cookies_and_tabs(provider: AuthorizationServer, site: Any) -> None:
    flags = ["--allow-host", "127.0.0.1", "--executable-path", components.chromium_executable()]
    launch = Launch("patchbay-browser", [*flags, "--oauth-issuer", provider.issuer])
    with http_server(launch) as server:
        async with as_user(provider, server, "alice", "legacy") as alice:
            await ok(alice, "navigate", url=site.url("/cookie?v=alice-session"))
        for era in ERAS:
            async with as_user(provider, server, "bob", era) as bob:
                await ok(bob, "navigate", url=site.url("/whoami"))
                seen = await ok(bob, "snapshot")
                assert "no cookie" in seen and "alice" not in seen  # the site got none of alice's cookies
                tabs = await ok(bob, "list_tabs")
                assert "cookie?v=" not in tabs and "alice" not in tabs, tabs
        # Alice's own context is hers in the other era too: her cookie is sent, her tab is listed.
        async with as_user(provider, server, "alice", "modern") as alice:
            assert "cookie?v=alice-session" in await ok(alice, "list_tabs")
            await ok(alice, "navigate", url=site.url("/whoami"))
            assert "v=alice-session" in await ok(alice, "snapshot")


# --- sqlite: the insights memo, open results and their cursors ---------------------------------------------


@pytest.fixture(scope="module")
def shop() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="patchbay-isolation-"))
    path = folder / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT)")
        db.executemany("INSERT INTO orders (customer) VALUES (?)", [(f"customer {i}",) for i in range(60)])
    yield path
    path.unlink()
    folder.rmdir()


async def test_sqlite_users_keep_their_memo_and_results(provider: AuthorizationServer, shop: Path) -> None:
    launch = Launch("patchbay-sqlite", ["--db", f"shop={shop}", "--oauth-issuer", provider.issuer])
    with http_server(launch) as server:
        for era in ERAS:
            async with as_user(provider, server, "alice", era) as alice:
                await ok(alice, "append_insight", insight=f"Alice found this in the {era} era.")
                first = await alice.call_tool("read_query", {"query": "SELECT * FROM orders", "max_rows": 5})
                assert not first.is_error, text(first)
                page = first.structured_content or {}
                cursor, uri = page["next_cursor"], page["result_uri"]
                assert cursor and uri
            async with as_user(provider, server, "bob", era) as bob:
                memo = text(await bob.read_resource("memo://insights"))
                assert "Alice found" not in memo and "No insights recorded yet" in memo
                stolen = await refused(bob, "read_more_rows", cursor=cursor)
                assert ANOTHER_USER in stolen and "customer 5" not in stolen
                with pytest.raises(MCPError, match="another user or connection opened it"):
                    await bob.read_resource(uri)
            async with as_user(provider, server, "alice", era) as alice:
                assert f"Alice found this in the {era} era." in text(
                    await alice.read_resource("memo://insights")
                )
                assert "customer 5" in await ok(alice, "read_more_rows", cursor=cursor)


async def test_without_authentication_sessions_are_apart_and_2026_era_clients_one_user(shop: Path) -> None:
    """No token: two handshake-era connections are two users; 2026-era requests are one, as the log says."""
    with http_server(Launch("patchbay-sqlite", ["--db", f"shop={shop}"])) as server:
        async with connect(server, era="legacy") as first, connect(server, era="legacy") as second:
            await ok(first, "append_insight", insight="Only the first session wrote this.")
            assert "Only the first" not in text(await second.read_resource("memo://insights"))
            assert "Only the first" in text(await first.read_resource("memo://insights"))
        async with connect(server, era="modern") as one, connect(server, era="modern") as two:
            await ok(one, "append_insight", insight="Any 2026-era client sees this.")
            assert "Any 2026-era client sees this." in text(await two.read_resource("memo://insights"))
        log = server_log(server)
    starting = [json.loads(line) for line in log if '"server starting"' in line]
    said = starting[0].get("clients", "") if starting else ""
    assert "2026-era requests carry nothing that tells two clients apart" in said, log


def server_log(server: HttpServer) -> list[str]:
    """The lines a running server logged so far (http_server sends them to /proc/PID/fd/2's file)."""
    return Path(f"/proc/{server.process.pid}/fd/2").read_text(errors="replace").splitlines()


def test_browser_refuses_unauthenticated_streamable_http_unless_one_user() -> None:
    argv = [sys.executable, "-m", "patchbay_browser", "--transport", "streamable-http"]
    port = str(components.free_port())
    done = subprocess.run([*argv, "--port", port], capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("patchbay-browser: error: refusing to serve streamable HTTP without auth")
    assert "--single-user" in lines[0] and "--auth-token" in lines[0]
