"""The GitHub toolsets, which of them the operator picked, and the schema compaction every tool gets.

Each toolset is a `patchbay_common.toolsets.Toolset` declared in its own module. The operator picks toolsets
(`--toolsets`) and refines them (`--tools`, `--exclude-tools`); write tools need `--allow-write` on top,
which the layer enforces through each tool's declared access.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from patchbay_common.toolsets import Toolset, ToolSpec
from patchbay_github import (
    actions,
    code_security,
    context,
    discussions,
    issues,
    notifications,
    projects,
    pull_requests,
    releases,
    repos,
    users,
)

__all__ = ["DEFAULT_TOOLSETS", "TOOLSETS", "Selection", "compact_schema", "select"]

TOOLSETS: dict[str, Toolset] = {
    ts.name: ts
    for ts in (
        context.tools,
        repos.tools,
        issues.tools,
        pull_requests.tools,
        users.tools,
        actions.tools,
        releases.tools,
        notifications.tools,
        code_security.tools,
        discussions.tools,
        projects.tools,
    )
}
DEFAULT_TOOLSETS = ("context", "repos", "issues", "pull_requests", "users")

Selection = Callable[[ToolSpec], bool]


def select(
    toolsets: Sequence[str], extra_tools: Sequence[str], exclude_tools: Sequence[str], *, everything: bool
) -> tuple[set[str], Selection]:
    """The toolsets chosen by `--toolsets` and the filter `--tools` / `--exclude-tools` make of them.

    `everything` makes "default" mean every toolset (dynamic mode, where toolsets are enabled on demand).

    Raises:
        ValueError: an unknown toolset or tool name.
    """
    chosen: set[str] = set()
    for name in toolsets:
        for part in name.split(","):
            part = part.strip()
            if part == "default":
                chosen.update(TOOLSETS if everything else DEFAULT_TOOLSETS)
            elif part == "all":
                chosen.update(TOOLSETS)
            elif part in TOOLSETS:
                chosen.add(part)
            elif part:
                raise ValueError(
                    f"--toolsets: unknown {part!r} (choose from default, all, {', '.join(TOOLSETS)})"
                )
    known = {name for ts in TOOLSETS.values() for name in ts.names()}
    unknown = sorted((set(extra_tools) | set(exclude_tools)) - known)
    if unknown:
        raise ValueError(f"--tools/--exclude-tools: unknown tool {', '.join(unknown)}")
    extra, excluded = set(extra_tools), set(exclude_tools)

    def wanted(spec: ToolSpec) -> bool:
        return (spec.toolset in chosen or spec.name in extra) and spec.name not in excluded

    return chosen, wanted


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
