"""Per-client state needs a key that lives as long as the client's connection; this module gives it.

The SDK builds a new `ServerSession` for every request, so a session is no key for subscriptions, caches or
browser contexts. Its private `_connection` is the per-client object; this is the one place that reads it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["connection_of"]


def connection_of(ctx_or_session: Any) -> Any:
    """The object that lives as long as the client's connection (a request context or a session may be given).

    Falls back to the session itself when the SDK offers no connection object, so a key is always returned.
    """
    session = getattr(ctx_or_session, "session", ctx_or_session)
    return getattr(session, "_connection", session)
