"""What the browser tools need (`Deps`, built once in server.py), the access tiers, and shared argument types.

Each user gets its own browser session, keyed by `patchbay_common.principals.principal_key(ctx)`: the
authenticated identity when HTTP clients authenticate, else the client's connection in the handshake era;
unauthenticated 2026-era requests carry nothing that tells clients apart and share one session (which is why
the server refuses unauthenticated streamable HTTP unless the operator passes --single-user).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from patchbay_browser.browser import Browser, Session
from patchbay_common.errors import UserError
from patchbay_common.principals import principal_key, principal_owner
from patchbay_common.untrusted import wrap_untrusted

__all__ = ["DOWNLOAD", "EVAL", "INTERACT", "UPLOAD", "Deps", "OptionalRef", "Ref", "client_key"]

INTERACT = "interact"
"""Tools that change what a tab shows (navigate, click, type, tabs): always granted, never read-only."""
UPLOAD = "upload"
"""upload_file: granted with --upload-dir."""
DOWNLOAD = "download"
"""save_pdf: granted with --downloads-dir (list_downloads is a read tool listed with it)."""
EVAL = "eval"
"""evaluate: granted with --allow-eval."""

NOTE_RESERVE = 400
"""Characters kept free in an answer for our own note after the framed content (markers, counts, hints)."""

Ref = Annotated[
    str, Field(min_length=1, max_length=40, description="An element ref from the latest snapshot, e.g. e12.")
]
OptionalRef = Annotated[str | None, Field(max_length=40, description="Element to focus first.")]


@dataclass(frozen=True)
class Deps:
    """The one lazily started browser, the character budget of one answer, and the operator's limits."""

    browser: Browser
    max_chars: int
    snapshot_text_chars: int
    max_image_bytes: int

    def room(self, label: str, used: int = 0) -> int:
        """Characters framed content may take so that it, its frame (labelled `label`) and our note fit."""
        frame = len(wrap_untrusted("", label))  # measured, not framed: the layer frames the reply
        return max(200, self.max_chars - frame - NOTE_RESERVE - used)

    @asynccontextmanager
    async def session(self, ctx: Context[Any, Any]) -> AsyncIterator[Session]:
        """This user's session for the duration of a call (the idle timers wait for the call)."""
        async with self.browser.use():
            key, owner = client_key(ctx)
            try:
                async with self.browser.using(key, owner) as session:
                    yield session
            # Playwright is imported lazily, so its closed-target error is recognised by name.
            except Exception as exc:
                if type(exc).__name__ == "TargetClosedError" or "has been closed" in str(exc):
                    raise UserError(
                        "The browser closed while this call ran (its process ended or the tab was closed).",
                        hint="Call the tool again: a new browser is started when the old one is gone.",
                    ) from exc
                raise


def client_key(ctx: Context[Any, Any]) -> tuple[Any, Any]:
    """The key of this user's session, and the connection that bounds it (None: bounded by idle time)."""
    return principal_key(ctx), principal_owner(ctx)
