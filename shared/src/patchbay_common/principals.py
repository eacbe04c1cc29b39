"""Who is calling: the one key every piece of per-user state is stored under.

State a server keeps between calls (browser contexts, result cursors, memos, enabled toolsets, caches with
user data) is keyed by `principal_key(ctx)`:

- with OAuth, the authenticated identity (client, issuer, subject), so two users never share state, in
  either protocol era and on any replica;
- with the static bearer token, which every holder shares and which so names no one: the connection in the
  handshake era (as without authentication), else the token's one principal;
- without authentication, in the handshake era, the client's connection (one `initialize`, one key);
- without authentication, in the 2026-07-28 era, one shared key: stateless requests carry nothing that
  tells two clients apart, so such a server serves one user by definition (`SINGLE_USER`). Handshake-era
  requests to a `--stateless` server are the same: each arrives on a connection made for it alone.

`PerPrincipal` holds one value per key and bounds what no connection end cleans up: a value keyed by a
principal or `SINGLE_USER` is dropped after an idle time or when too many are held (least recently used
first); a value keyed by a connection is dropped when the connection goes.
"""

from __future__ import annotations

import hashlib
import json
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import principal_components
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from patchbay_common import sdk

__all__ = [
    "SINGLE_USER",
    "PerPrincipal",
    "authenticated_subject",
    "principal_digest",
    "principal_key",
    "principal_owner",
]

T = TypeVar("T")

SINGLE_USER = "single-user"
"""The key of every unauthenticated 2026-era request: such a server cannot tell its clients apart."""


def authenticated_subject(ctx: Any = None) -> tuple[str, str | None, str | None] | None:
    """The (client_id, issuer, subject) of this request's access token, or None without authentication."""
    token = get_access_token()
    return principal_components(token) if token is not None else None


def _own_connection(ctx: Any) -> Any | None:
    """The handshake-era connection of `ctx` when it lives across requests, else None.

    A `--stateless` server (and every 2026-era request) gets a connection made for one request, without a
    standalone channel; keying by it would find nothing on the next call.
    """
    if getattr(ctx, "protocol_version", None) not in HANDSHAKE_PROTOCOL_VERSIONS:
        return None
    connection = sdk.connection_of(ctx)
    if getattr(connection, "has_standalone_channel", True) is False:
        return None
    return connection


STATIC_TOKEN_CLIENT = "static-token"  # noqa: S105 - a client id, not a secret
"""The client id `auth` gives every holder of the static `--auth-token`: a shared secret, not a person."""


def _identity(ctx: Any) -> tuple[str, str | None, str | None] | None:
    """The identity state is keyed by: the OAuth subject; the static token only where no connection is."""
    subject = authenticated_subject(ctx)
    if subject is not None and subject[0] == STATIC_TOKEN_CLIENT and _own_connection(ctx) is not None:
        return None
    return subject


def principal_key(ctx: Any) -> Hashable:
    """The key this request's per-user state lives under (see the module docstring for the cases)."""
    subject = _identity(ctx)
    if subject is not None:
        return ("principal", *subject)
    connection = _own_connection(ctx)
    if connection is not None:
        return ("connection", id(connection))
    return SINGLE_USER


def principal_owner(ctx: Any) -> Any | None:
    """The object whose lifetime bounds this request's state: the connection when keyed by it, else None.

    State keyed by an authenticated principal or `SINGLE_USER` outlives any one connection; the server
    bounds it by idle time or count instead.
    """
    if _identity(ctx) is not None:
        return None
    return _own_connection(ctx)


def principal_digest() -> str:
    """A short digest of the authenticated identity of this request ("" without authentication).

    Cursors carry it (`limits.encode_cursor`) so a cursor made for one user is refused for another; it is a
    one-way digest, so a cursor shows nothing about who made it.
    """
    subject = authenticated_subject()
    if subject is None:
        return ""
    raw = json.dumps(list(subject), separators=(",", ":")).encode()
    return hashlib.sha256(b"patchbay principal\0" + raw).hexdigest()[:16]


class PerPrincipal(Generic[T]):
    """One value per principal (`principal_key`), made on first use and bounded.

    Values keyed by a connection go when the connection goes. The others (an authenticated principal,
    `SINGLE_USER`) go after `idle_seconds` without use, and the least recently used go first beyond
    `max_entries`; `on_drop(value)` runs for each value dropped either way (close what it holds).
    """

    def __init__(
        self,
        make: Callable[[], T],
        *,
        max_entries: int = 64,
        idle_seconds: float = 3600.0,
        on_drop: Callable[[T], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make = make
        self._max = max_entries
        self._idle = idle_seconds
        self._on_drop = on_drop
        self._clock = clock
        self._values: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, ctx: Any) -> T:
        """The value of the caller of `ctx`, made now if it has none (or its old one expired)."""
        self.expire()
        key = principal_key(ctx)
        found = self._values.get(key)
        if found is not None:
            value = found[1]
        else:
            value = self._make()
            owner = principal_owner(ctx)
            if owner is not None:
                weakref.finalize(owner, self._drop, key)
        self._values[key] = (self._clock(), value)
        self._values.move_to_end(key)
        while len(self._values) > self._max:
            self._drop(next(iter(self._values)))
        return value

    def peek(self, ctx: Any) -> T | None:
        """The caller's value if it has one, without making one or marking it used."""
        found = self._values.get(principal_key(ctx))
        return None if found is None else found[1]

    def expire(self) -> None:
        """Drop the values unused for `idle_seconds` (connection-keyed ones too: a client that went quiet)."""
        limit = self._clock() - self._idle
        for key in [key for key, (used, _) in self._values.items() if used < limit]:
            self._drop(key)

    def _drop(self, key: Hashable) -> None:
        found = self._values.pop(key, None)
        if found is not None and self._on_drop is not None:
            self._on_drop(found[1])
