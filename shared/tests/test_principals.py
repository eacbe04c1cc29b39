"""Per-user state: the key (`principal_key`), its bounded store (`PerPrincipal`), and cursors bound to a user.

Two principals are two access tokens set the way the SDK's auth middleware sets them (`auth_context_var`)
around calls made through an in-process client, in both protocol eras; tests/test_isolation.py does the
same over streamable HTTP with tokens from a real authorization server.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context

from patchbay_common.app import PatchbayServer
from patchbay_common.errors import UserError
from patchbay_common.limits import decode_cursor, encode_cursor
from patchbay_common.principals import SINGLE_USER, PerPrincipal, principal_key
from patchbay_common.testing.clients import ERAS, Era, connect
from patchbay_common.testing.results import text

pytestmark = pytest.mark.anyio


@contextmanager
def signed_in(subject: str | None) -> Iterator[None]:
    """Calls in this block carry `subject`'s access token (None: no authentication)."""
    user = None
    if subject is not None:
        token = AccessToken(
            token=f"t-{subject}", client_id="app", subject=subject, scopes=[], claims={"iss": "https://idp"}
        )
        user = AuthenticatedUser(token)
    reset = auth_context_var.set(user)
    try:
        yield
    finally:
        auth_context_var.reset(reset)


def notes_server() -> tuple[PatchbayServer, PerPrincipal[list[str]]]:
    """A server keeping one list of notes per user, with a tool to add one and one to read them."""
    server = PatchbayServer("principals-test", version="0")
    notes: PerPrincipal[list[str]] = PerPrincipal(list, max_entries=8, idle_seconds=60)

    @server.tool()
    async def note(text: str, ctx: Context) -> str:
        notes.get(ctx).append(text)
        return "kept"

    @server.tool()
    async def read(ctx: Context) -> str:
        return f"{principal_key(ctx)!r}: {notes.get(ctx)}"

    return server, notes


async def call(client: Any, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    return text(result)


@pytest.mark.parametrize("era", ERAS)
async def test_two_principals_never_share_state(era: Era) -> None:
    server, notes = notes_server()
    async with connect(server, era=era) as alice_client, connect(server, era=era) as bob_client:
        with signed_in("alice"):
            await call(alice_client, "note", text="alice's secret")
        with signed_in("bob"):
            bob = await call(bob_client, "read")
        with signed_in("alice"):
            alice = await call(bob_client, "read")  # alice's identity on the other connection: her notes
    assert "('principal', 'app', 'https://idp', 'bob'): []" in bob
    assert "'alice'): [\"alice's secret\"]" in alice
    assert len(notes) == 2


async def test_without_authentication_a_connection_or_one_user() -> None:
    server, notes = notes_server()
    async with connect(server, era="legacy") as first, connect(server, era="legacy") as second:
        await call(first, "note", text="first connection")
        assert "[]" in await call(second, "read")  # handshake era: one connection, one key
        assert "('connection'," in await call(first, "read")
    gc.collect()
    assert len(notes) == 0  # the connections went, and their notes with them
    async with connect(server, era="modern") as one, connect(server, era="modern") as two:
        await call(one, "note", text="shared")
        shared = await call(two, "read")  # 2026 era without a token: nothing tells the two apart
    assert shared == f"{SINGLE_USER!r}: ['shared']"


def test_idle_and_least_recently_used_values_are_dropped() -> None:
    now = [0.0]
    dropped: list[list[str]] = []
    notes: PerPrincipal[list[str]] = PerPrincipal(
        list, max_entries=2, idle_seconds=10, on_drop=dropped.append, clock=lambda: now[0]
    )
    for name in ("alice", "bob"):
        with signed_in(name):
            notes.get(None).append(name)
    now[0] = 5
    with signed_in("alice"):
        notes.get(None)  # alice used again: bob is now the least recently used
    with signed_in("carol"):
        notes.get(None).append("carol")
    assert dropped == [["bob"]] and len(notes) == 2
    now[0] = 16  # alice idle 11 s, carol 11 s
    with signed_in("dave"):
        notes.get(None)
    assert dropped == [["bob"], ["alice"], ["carol"]] and len(notes) == 1
    with signed_in("alice"):
        assert notes.peek(None) is None and notes.get(None) == []  # alice starts afresh


def test_a_cursor_works_only_for_the_user_it_was_given_to() -> None:
    with signed_in("alice"):
        cursor = encode_cursor({"o": 25})
        assert decode_cursor(cursor) == {"o": 25}  # the owner field is internal
    for other in ("bob", None):
        with signed_in(other), pytest.raises(UserError) as refused:
            decode_cursor(cursor)
        assert str(refused.value).startswith("That cursor was given to another user")
        assert "make the call again" in str(refused.value)
    with signed_in(None):
        anonymous = encode_cursor({"o": 1})
        assert decode_cursor(anonymous) == {"o": 1}
    with signed_in("alice"), pytest.raises(UserError, match="given to another user"):
        decode_cursor(anonymous)  # made without authentication: not alice's either
    assert "alice" not in cursor and "app" not in cursor.split(".")[0]  # a digest, not the identity


@pytest.mark.parametrize("era", ERAS)
async def test_another_users_cursor_is_a_clear_error_through_a_client(era: Era) -> None:
    server = PatchbayServer("principals-cursor", version="0")

    @server.tool()
    async def page(cursor: str | None = None) -> str:
        offset = decode_cursor(cursor)["o"] if cursor else 0
        return f"page at {offset}; next cursor={encode_cursor({'o': offset + 10})}"

    async with connect(server, era=era) as client:
        with signed_in("alice"):
            first = await call(client, "page")
        cursor = first.split("cursor=")[1]
        with signed_in("bob"):
            result = await client.call_tool("page", {"cursor": cursor})
        with signed_in("alice"):
            assert "page at 10" in await call(client, "page", cursor=cursor)
    assert result.is_error
    assert "That cursor was given to another user" in text(result) and "page at" not in text(result)


def test_a_connection_made_for_one_request_is_one_user() -> None:
    """Handshake-era requests to a `--stateless` server each get a connection of their own, without a
    standalone channel (the SDK's `Connection.from_envelope`): state keyed by it would never be found again.
    """
    from types import SimpleNamespace

    from mcp.server.connection import Connection

    per_request = Connection.from_envelope("2025-11-25", None, None)
    ctx = SimpleNamespace(protocol_version="2025-11-25", session=SimpleNamespace(_connection=per_request))
    assert per_request.has_standalone_channel is False
    assert principal_key(ctx) == SINGLE_USER
    with signed_in("alice"):
        assert principal_key(ctx) == ("principal", "app", "https://idp", "alice")
