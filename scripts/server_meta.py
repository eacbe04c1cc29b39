"""What the doc and registry generators read about a server: its pyproject.toml and its Settings class.

Shared by scripts/gen_server_json.py and scripts/readme_tables.py. A server describes itself in code (the
`Settings` fields, their descriptions and defaults; the tools `build()` registers) and in pyproject.toml; the
optional `[tool.patchbay]` table adds what code cannot say:

    [tool.patchbay]
    build-args = ["--url", "redis://127.0.0.1:1/0"]        # flags for building it offline (doc generation)
    required = ["directories"]                               # settings the server cannot work without
    secret = ["dsn"]                                         # settings that hold credentials (not SecretStr)
    [tool.patchbay.env.BRAVE_API_KEY]                        # a variable read outside Settings
    description = "Brave Search API key."
    secret = true
    required = true
    [tool.patchbay.readme.variants]                          # extra configurations for the tools table
    write = ["--access", "write"]
"""

from __future__ import annotations

import importlib
import json
import os
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
REPOSITORY = "https://github.com/patchbay-mcp/patchbay"


def server_names() -> list[str]:
    """Every server folder with a pyproject.toml."""
    return sorted(p.parent.name for p in (ROOT / "servers").glob("*/pyproject.toml"))


def pyproject(name: str) -> dict[str, Any]:
    """servers/<name>/pyproject.toml, parsed."""
    return tomllib.loads((ROOT / "servers" / name / "pyproject.toml").read_text())


def patchbay_table(name: str) -> dict[str, Any]:
    """The server's `[tool.patchbay]` table (empty when it has none)."""
    return dict(pyproject(name).get("tool", {}).get("patchbay", {}))


@dataclass(frozen=True)
class Flag:
    """One server-specific setting, as a user sets it."""

    flag: str  # --api-key, or "" for a variable read outside Settings
    env: str  # PATCHBAY_SEARCH_API_KEY
    default: str  # as text; "unset" when there is none
    description: str
    secret: bool
    kind: str  # string, number, boolean, filepath, list
    positional: bool = False
    required: bool = False  # the server cannot do its job without it (registry: isRequired)


def server_module(name: str) -> Any:
    """The server's `patchbay_<name>.server` module."""
    return importlib.import_module(f"patchbay_{name.replace('-', '_')}.server")


def _kind(annotation: Any) -> str:
    text = str(annotation)
    if "list[" in text or "List[" in text:
        return "list"
    if annotation is bool or text == "bool | None":
        return "boolean"
    if annotation in (int, float) or re.fullmatch(r"(int|float)( \| None)?", text):
        return "number"
    if "Path" in text:
        return "filepath"
    return "string"


def _default_text(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None or value == []:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return str(value)


def flags(name: str) -> list[Flag]:
    """The server's own settings (the common ones aside), then the variables `[tool.patchbay.env]` names."""
    from patchbay_common.settings import CommonSettings

    settings = server_module(name).Settings
    prefix = settings.model_config.get("env_prefix", "")
    table = patchbay_table(name)
    required_fields, secret_fields = set(table.get("required", [])), set(table.get("secret", []))
    found = []
    for field_name, field in settings.model_fields.items():
        common = CommonSettings.model_fields.get(field_name)
        if common is not None and common.description == field.description:
            continue  # a shared flag, not redefined by the server
        positional = any("Positional" in type(m).__name__ or "Positional" in str(m) for m in field.metadata)
        found.append(
            Flag(
                flag="" if positional else "--" + field_name.replace("_", "-"),
                env=f"{prefix}{field_name}".upper(),
                default=_default_text(field),
                description=" ".join((field.description or "").split()),
                secret="SecretStr" in str(field.annotation) or field_name in secret_fields,
                kind=_kind(field.annotation),
                positional=positional,
                required=field.is_required() or field_name in required_fields,
            )
        )
    for env, spec in patchbay_table(name).get("env", {}).items():
        found.append(
            Flag(
                flag="",
                env=env,
                default=str(spec.get("default", "unset")),
                description=" ".join(spec["description"].split()),
                secret=bool(spec.get("secret", False)),
                kind="string",
                required=bool(spec.get("required", False)),
            )
        )
    return found


@contextmanager
def scrubbed_environment(name: str) -> Iterator[None]:
    """Hide PATCHBAY_* and the server's extra variables: generated text must not depend on the shell."""
    hidden = {k: v for k, v in os.environ.items() if k.startswith("PATCHBAY_")}
    for env in patchbay_table(name).get("env", {}):
        if env in os.environ:
            hidden[env] = os.environ[env]
    for extra in patchbay_table(name).get("scrub-env", []):
        if extra in os.environ:
            hidden[extra] = os.environ[extra]
    for key in hidden:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(hidden)


def build_server(name: str, extra_args: list[str]) -> Any:
    """The server built in-process from its `build-args` and `extra_args`, quietly, in a clean environment."""
    module = server_module(name)
    args = [*patchbay_table(name).get("build-args", []), *extra_args, "--log-level", "ERROR"]
    with scrubbed_environment(name):
        settings = module.Settings(_cli_parse_args=args)
        return module.build(settings)
