"""Write servers/<name>/server.json in the official MCP registry format, from pyproject.toml and Settings.

    uv run python scripts/gen_server_json.py              # every server
    uv run python scripts/gen_server_json.py search redis # some
    uv run python scripts/gen_server_json.py --check      # exit 1 when a file is missing or stale

The package is the PyPI distribution `patchbay-<name>` run with `uvx`, over stdio. Every server-specific
setting becomes an environment variable entry (description, default, format, secret flag); positional
settings become positional arguments; variables read outside Settings come from `[tool.patchbay.env]`.
The schema (deploy/registry/server.schema.json) is the registry's published 2025-12-11 one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_meta import REGISTRY_SCHEMA, REPOSITORY, ROOT, flags, pyproject, server_names

DESCRIPTION_LIMIT = 100  # the registry schema's maxLength


def server_json(name: str) -> dict[str, Any]:
    """The server.json document of server `name`."""
    project = pyproject(name)["project"]
    description = project["description"]
    if len(description) > DESCRIPTION_LIMIT:
        raise ValueError(
            f"servers/{name}/pyproject.toml: description is {len(description)} characters; the MCP registry "
            f"allows {DESCRIPTION_LIMIT}. Shorten it."
        )
    version = project["version"]
    arguments: list[dict[str, Any]] = []
    variables: list[dict[str, Any]] = []
    for flag in flags(name):
        formats = {"boolean": "boolean", "number": "number", "filepath": "filepath"}
        entry: dict[str, Any] = {"description": flag.description or flag.env}
        if flag.kind in formats:
            entry["format"] = formats[flag.kind]
        if flag.default not in ("unset", "required", "(secret)"):
            entry["default"] = flag.default
        if flag.required:
            entry["isRequired"] = True
        if flag.secret:
            entry["isSecret"] = True
        if flag.positional:
            arguments.append(
                {"type": "positional", "valueHint": flag.env.split("_", 2)[-1].lower(), **entry}
                | ({"isRepeated": True} if flag.kind == "list" else {})
            )
        else:
            variables.append({"name": flag.env, **entry})
    package: dict[str, Any] = {
        "registryType": "pypi",
        "registryBaseUrl": "https://pypi.org",
        "identifier": project["name"],
        "version": version,
        "runtimeHint": "uvx",
        "transport": {"type": "stdio"},
    }
    if arguments:
        package["packageArguments"] = arguments
    if variables:
        package["environmentVariables"] = variables
    urls = project.get("urls", {})
    document: dict[str, Any] = {
        "$schema": REGISTRY_SCHEMA,
        "name": f"io.github.patchbay-mcp/{project['name']}",
        "title": project["name"],
        "description": description,
        "version": version,
        "repository": {"url": REPOSITORY, "source": "github", "subfolder": f"servers/{name}"},
        "websiteUrl": urls.get("Documentation")
        or urls.get("Homepage")
        or f"{REPOSITORY}/tree/main/servers/{name}",
        "packages": [package],
    }
    return document


def render(name: str) -> str:
    """server.json as written to disk."""
    return json.dumps(server_json(name), indent=2, ensure_ascii=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) server.json for the named servers, or all."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("servers", nargs="*", help="server names (default: every server)")
    parser.add_argument("--check", action="store_true", help="report missing or stale files; write nothing")
    options = parser.parse_args(argv)
    stale = []
    for name in options.servers or server_names():
        path = ROOT / "servers" / name / "server.json"
        try:
            text = render(name)
        except ValueError as exc:
            sys.stderr.write(f"{exc}\n")
            stale.append(str(path.relative_to(ROOT)))
            continue
        if options.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        elif not path.exists() or path.read_text() != text:
            path.write_text(text)
            sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")
    if stale:
        sys.stderr.write(
            "stale or missing: " + ", ".join(stale) + "\nrun: uv run python scripts/gen_server_json.py\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
