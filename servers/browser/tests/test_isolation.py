"""Browser contexts per user are bounded: beyond --max-contexts the least recently used closes, and so does
one idle for --idle-timeout; a user whose context closed starts afresh (no cookie, no tabs).

Users are access tokens set as the SDK's auth middleware sets them (`auth_context_var`) around calls made
through an in-process client, with a real Chromium; tests/test_isolation.py runs two users over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from patchbay_browser.server import build
from patchbay_common.testing.clients import connect
from patchbay_common.testing.results import text

from .conftest import settings_for

pytestmark = pytest.mark.anyio


@contextmanager
def signed_in(subject: str) -> Iterator[None]:
    """Calls in this block carry `subject`'s access token."""
    token = AccessToken(token=f"t-{subject}", client_id=subject, subject=subject, scopes=[])
    reset = auth_context_var.set(AuthenticatedUser(token))
    try:
        yield
    finally:
        auth_context_var.reset(reset)


async def as_user(client: Any, subject: str, tool: str, **arguments: Any) -> str:
    with signed_in(subject):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    return text(result)


async def test_least_recently_used_and_idle_contexts_close(chromium_path: str, site: Any) -> None:
    server = build(
        settings_for("--allow-host", "127.0.0.1", "--executable-path", chromium_path, "--max-contexts", "2")
    )
    browser = server.browser  # type: ignore[attr-defined]
    try:
        async with connect(server, era="modern") as client:
            await as_user(client, "alice", "navigate", url=site.url("/cookie?v=alice"))
            await as_user(client, "bob", "navigate", url=site.url("/cookie?v=bob"))
            assert "cookie?v=alice" in await as_user(client, "alice", "list_tabs")  # alice used last now
            await as_user(client, "carol", "navigate", url=site.url("/two"))
            assert browser.context_closes == 1 and len(browser.sessions()) == 2
            assert browser.launches == 1  # one Chromium for all: only bob's context closed
            assert "cookie?v=bob" not in await as_user(client, "bob", "list_tabs")  # bob starts afresh
            assert browser.context_closes == 2  # and alice's context, now the least recently used, made room
            await as_user(client, "bob", "navigate", url=site.url("/cookie?v=bob-again"))

            for session in browser.sessions():  # an hour without a call, as far as the timers can tell
                session.last_used -= 3600
            await as_user(client, "dave", "navigate", url=site.url("/two"))
            assert browser.context_closes == 4 and len(browser.sessions()) == 1  # carol's and bob's
            await as_user(client, "bob", "navigate", url=site.url("/whoami"))
            assert "no cookie" in await as_user(client, "bob", "snapshot")  # idle: his cookie went with it
    finally:
        await browser.close()
