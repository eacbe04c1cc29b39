"""Tool annotations with every hint stated, so clients never fall back to the spec's worst-case defaults."""

from __future__ import annotations

from mcp_types import ToolAnnotations

__all__ = ["hints"]


def hints(
    *,
    read_only: bool,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
    title: str | None = None,
) -> ToolAnnotations:
    """ToolAnnotations with all four hints set explicitly (a read-only tool is never destructive)."""
    return ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=False if read_only else destructive,
        idempotent_hint=True if read_only else idempotent,
        open_world_hint=open_world,
    )
