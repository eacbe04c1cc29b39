"""Who is calling: the one key every piece of per-user state is stored under.

State a server keeps between calls (browser contexts, result cursors, memos, enabled toolsets, caches with
user data) is keyed by `principal_key(ctx)`:

- with authentication on (OAuth access token or the static bearer token), the authenticated identity
  (client, issuer, subject), so two users never share state, in either protocol era and on any replica;
- without authentication, in the handshake era, the client's connection (one `initialize`, one key);
- without authentication, in the 2026-07-28 era, one shared key: stateless requests carry nothing that
  tells two clients apart, so such a server serves one user by definition (`SINGLE_USER`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import principal_components
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from patchbay_common import sdk

__all__ = ["SINGLE_USER", "authenticated_subject", "principal_key", "principal_owner"]

SINGLE_USER = "single-user"
"""The key of every unauthenticated 2026-era request: such a server cannot tell its clients apart."""


def authenticated_subject(ctx: Any = None) -> tuple[str, str | None, str | None] | None:
    """The (client_id, issuer, subject) of this request's access token, or None without authentication."""
    token = get_access_token()
    return principal_components(token) if token is not None else None


def principal_key(ctx: Any) -> Hashable:
    """The key this request's per-user state lives under (see the module docstring for the three cases)."""
    subject = authenticated_subject(ctx)
    if subject is not None:
        return ("principal", *subject)
    if getattr(ctx, "protocol_version", None) in HANDSHAKE_PROTOCOL_VERSIONS:
        return ("connection", id(sdk.connection_of(ctx)))
    return SINGLE_USER


def principal_owner(ctx: Any) -> Any | None:
    """The object whose lifetime bounds this request's state: the connection when keyed by it, else None.

    State keyed by an authenticated principal or `SINGLE_USER` outlives any one connection; the server
    bounds it by idle time or count instead.
    """
    if authenticated_subject(ctx) is None and getattr(ctx, "protocol_version", None) in (
        HANDSHAKE_PROTOCOL_VERSIONS
    ):
        return sdk.connection_of(ctx)
    return None
