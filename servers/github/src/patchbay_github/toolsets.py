"""Toolsets: named groups of tools, which of them are listed, and which are enabled at run time.

The operator picks toolsets (`--toolsets`) and refines them (`--tools`, `--exclude-tools`); with
`--dynamic-toolsets` the server lists only a search/enable pair at first and the model enables a toolset
when it needs one. Enabling is server-wide (one stdio client per process; on HTTP every session shares it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["DEFAULT_TOOLSETS", "TOOLSETS", "Catalog"]

TOOLSETS: dict[str, str] = {
    "context": "The authenticated user and the API rate limit.",
    "repos": "Repositories, files, branches and commits; code search.",
    "issues": "Issues and their comments; issue search.",
    "pull_requests": "Pull requests: details, files, status, comments, reviews; merge, review when writable.",
    "users": "User search and profiles.",
    "actions": "GitHub Actions workflow runs, jobs and job logs.",
    "releases": "Releases and their assets.",
    "notifications": "The authenticated user's notifications.",
    "code_security": "Code scanning and Dependabot alerts (read).",
}
DEFAULT_TOOLSETS = ("context", "repos", "issues", "pull_requests", "users")


@dataclass
class Catalog:
    """Which toolset each registered tool belongs to, and which toolsets are enabled now."""

    dynamic: bool = False
    members: dict[str, str] = field(default_factory=dict)  # tool name -> toolset
    descriptions: dict[str, str] = field(default_factory=dict)  # tool name -> description
    enabled: set[str] = field(default_factory=set)

    def add(self, tool: str, toolset: str, description: str) -> None:
        """Record a registered tool."""
        self.members[tool] = toolset
        self.descriptions[tool] = description

    def visible(self, tool: str) -> bool:
        """Whether `tool` is listed and callable now (tools outside every toolset always are)."""
        toolset = self.members.get(tool)
        return toolset is None or not self.dynamic or toolset in self.enabled

    def toolset_of(self, tool: str) -> str | None:
        """The toolset of a registered tool."""
        return self.members.get(tool)

    def tools_in(self, toolset: str) -> list[str]:
        """Registered tool names of a toolset."""
        return [name for name, ts in self.members.items() if ts == toolset]

    def toolsets(self) -> list[str]:
        """Toolsets that have at least one registered tool, in catalogue order."""
        present = set(self.members.values())
        return [name for name in TOOLSETS if name in present]

    def search(self, query: str) -> list[dict[str, object]]:
        """Toolsets whose name, description or tools match every word of `query` (all when it is empty)."""
        words = [w for w in re.split(r"\W+", query.lower()) if w]
        found = []
        for toolset in self.toolsets():
            tools = self.tools_in(toolset)
            haystack = " ".join(
                [toolset, TOOLSETS[toolset], *tools, *(self.descriptions[t] for t in tools)]
            ).lower()
            if all(word in haystack or word.rstrip("s") in haystack for word in words):
                matching = [
                    t for t in tools if any(w in f"{t} {self.descriptions[t]}".lower() for w in words)
                ]
                found.append(
                    {
                        "toolset": toolset,
                        "description": TOOLSETS[toolset],
                        "enabled": toolset in self.enabled,
                        "tools": matching or tools,
                    }
                )
        return found

    def enable(self, names: Iterable[str]) -> list[str]:
        """Enable toolsets; return the names newly enabled."""
        new = [n for n in names if n not in self.enabled]
        self.enabled.update(new)
        return new


def compact_schema(schema: dict[str, object], drop: Iterable[str] = ()) -> dict[str, object]:
    """A smaller but equivalent input schema: no generated titles, `X | None = None` shown as optional `X`.

    `drop` names properties to remove (the `account` argument when only one account exists). The arguments
    are still validated by the tool's own signature, which accepts null wherever None is a default.
    """
    dropped = set(drop)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name in list(properties):
            if name in dropped:
                del properties[name]
                continue
            prop = properties[name]
            prop.pop("title", None)
            options = prop.get("anyOf")
            if isinstance(options, list) and prop.get("default", 0) is None:
                kept = [o for o in options if o != {"type": "null"}]
                if len(kept) == 1:
                    del prop["anyOf"]
                    prop.pop("default")
                    prop.update(kept[0])
        required = schema.get("required")
        if isinstance(required, list):
            schema["required"] = [r for r in required if r not in dropped]
    schema.pop("title", None)
    definitions = schema.get("$defs")
    if isinstance(definitions, dict):
        for definition in definitions.values():
            if isinstance(definition, dict):
                compact_schema(definition)
    return schema
