"""Regenerate the flags and tools tables of each server README from the code, between marker comments.

    uv run python scripts/readme_tables.py                 # every server README that has the markers
    uv run python scripts/readme_tables.py search redis    # some
    uv run python scripts/readme_tables.py --check         # exit 1 when a table is stale; write nothing

A README opts in with two marked sections (anything between the markers is replaced):

    <!-- BEGIN generated:flags -->
    <!-- END generated:flags -->
    <!-- BEGIN generated:tools -->
    <!-- END generated:tools -->

The flags table lists the server's own settings (the common ones are the same everywhere and are described by
`--help`), from the Settings class: flag, environment variable, default, description; then the variables in
`[tool.patchbay.env]`. The tools table lists what `build()` registers in the default configuration and in each
configuration named in `[tool.patchbay.readme.variants]`, with the annotations and the description a model
sees. A README without markers is reported, not changed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_meta import ROOT, build_server, flags, patchbay_table, server_names

SECTIONS = ("flags", "tools")
DESCRIPTION_CHARS = 300


def marker_pattern(section: str) -> re.Pattern[str]:
    """The BEGIN ... END block of one generated section."""
    return re.compile(
        rf"(<!-- BEGIN generated:{section} -->\n)(.*?)(<!-- END generated:{section} -->)", re.DOTALL
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def flags_table(name: str) -> str:
    """The Markdown table of the server's own flags and variables."""
    rows = ["| flag | env | default | what it does |", "| --- | --- | --- | --- |"]
    for flag in flags(name):
        shown = f"`{flag.flag}`" if flag.flag else ("(positional)" if flag.positional else "(none)")
        default = flag.default if flag.default in ("unset", "required") else f"`{flag.default}`"
        description = flag.description + (" Secret: redacted from logs and errors." if flag.secret else "")
        rows.append(f"| {shown} | `{flag.env}` | {_cell(default)} | {_cell(description)} |")
    return "\n".join(rows) + "\n"


def _annotations(tool: Any) -> str:
    hints = tool.annotations
    if hints is None:
        return "none"
    words = ["read-only" if hints.read_only_hint else ("destructive" if hints.destructive_hint else "writes")]
    if hints.idempotent_hint:
        words.append("idempotent")
    if hints.open_world_hint:
        words.append("open-world")
    return ", ".join(words)


def _parameters(schema: dict[str, Any]) -> str:
    names = list((schema or {}).get("properties", {}))
    required = set((schema or {}).get("required", []))
    shown = ", ".join(f"`{n}`" for n in names if n in required)
    optional = ", ".join(f"`{n}`" for n in names if n not in required)
    if optional:
        shown = f"{shown} [{optional}]" if shown else f"[{optional}]"
    return shown or "none"


def _summary(description: str) -> str:
    text = " ".join((description or "").split())
    if len(text) <= DESCRIPTION_CHARS:
        return text
    cut = text[:DESCRIPTION_CHARS]
    end = cut.rfind(". ")
    return cut[: end + 1] if end > 0 else cut.rstrip() + "..."


async def _tools(name: str, args: list[str]) -> list[Any]:
    return list(await build_server(name, args).list_tools())


def tools_table(name: str) -> str:
    """The Markdown table of every tool, the configuration that lists it, its annotations and description."""
    variants = {"default": [], **patchbay_table(name).get("readme", {}).get("variants", {})}
    first_seen: dict[str, tuple[str, Any]] = {}
    for label, args in variants.items():
        for tool in anyio.run(_tools, name, list(args)):
            first_seen.setdefault(tool.name, (label, tool))
    rows = [
        "| tool | parameters ([optional]) | listed | annotations | what it does |",
        "| --- | --- | --- | --- | --- |",
    ]
    for tool_name, (label, tool) in first_seen.items():
        listed = "default" if label == "default" else f"with `{label}`"
        rows.append(
            f"| `{tool_name}` | {_parameters(tool.input_schema)} | {listed} | {_annotations(tool)} "
            f"| {_cell(_summary(tool.description))} |"
        )
    return "\n".join(rows) + "\n"


GENERATORS = {"flags": flags_table, "tools": tools_table}


def regenerate(name: str, text: str) -> tuple[str, list[str]]:
    """The README text with every marked section regenerated, and the sections that had no markers."""
    missing = []
    for section in SECTIONS:
        pattern = marker_pattern(section)
        if not pattern.search(text):
            missing.append(section)
            continue
        table = GENERATORS[section](name)
        text = pattern.sub(lambda m, t=table: m.group(1) + t + m.group(3), text, count=1)
    return text, missing


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or with --check, compare) the tables of the named servers' READMEs, or all."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("servers", nargs="*", help="server names (default: every server)")
    parser.add_argument("--check", action="store_true", help="report stale tables; write nothing")
    options = parser.parse_args(argv)
    stale = []
    for name in options.servers or server_names():
        path = ROOT / "servers" / name / "README.md"
        current = path.read_text()
        updated, missing = regenerate(name, current)
        if missing:
            sys.stdout.write(
                f"{path.relative_to(ROOT)}: no generated:{'/'.join(missing)} markers (skipped)\n"
            )
        if updated == current:
            continue
        if options.check:
            stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(updated)
            sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")
    if stale:
        sys.stderr.write(
            "stale tables in: " + ", ".join(stale) + "\nrun: uv run python scripts/readme_tables.py\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
