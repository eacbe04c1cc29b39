"""Per-client state needs a key that lives as long as the client's connection; this module gives it.

The SDK builds a new `ServerSession` for every request, so a session is no key for subscriptions, caches or
browser contexts. The per-client object is private to the SDK: `patchbay_common.sdk` is the one place that
reads it, and this module re-exports it under the name servers already use.
"""

from __future__ import annotations

from patchbay_common.sdk import connection_of

__all__ = ["connection_of"]
