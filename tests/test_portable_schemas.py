"""Every tool's input schema, at each server's widest settings, is one every model provider accepts.

Two layers of proof. The shape rules (no `$ref`/`$defs`, no exclusive bounds, typed array items, no
map-shaped open objects, no `additionalProperties` at all) are checked on the schemas as listed. Then each
schema goes through the converters users actually run between an MCP server and a model, installed as test
dependencies: openai-agents (`MCPUtil.to_function_tool` with strict schemas, which falls back to non-strict
when its strict conversion fails), LangChain (`convert_to_openai_tool(strict=True)`), google-genai (the
`mcp_to_gemini_tool` translation it applies to an MCP session's tools, i.e. the `types.Schema` model) and
pydantic-ai (`OpenAIJsonSchemaTransformer(strict=True)`). A conversion passes only if it is strict (no
fallback, no exception), drops no property, empties no open object, keeps every required name, and keeps
every required name.

One conflict no schema can settle: openai-agents falls back to non-strict for a tool without arguments
unless its object says `"additionalProperties": false`, and google-genai's MCP translation raises
(`'bool' object has no attribute 'items'`) on that very keyword, failing every tool of the session. A
non-strict schema for a tool that takes nothing loses nothing, so that fallback is allowed here (and only
for tools without properties); the keyword is not.
"""

from __future__ import annotations

import copy
import importlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mcp.types as mt
import pytest
from test_declarations import widest

from patchbay_common import sdk
from patchbay_common.schemas import portable

SERVERS = ("browser", "fetch", "filesystem", "github", "postgres", "redis", "search", "slack", "sqlite")

# Flags beyond test_declarations.widest that list more tools (write tiers, uploads, module tools).
EXTRA = {
    "postgres": ["--access", "unrestricted"],
    "redis": ["--access", "admin"],
    "slack": ["--allow-post", "*"],
}


def build_widest(name: str, tmp: Path) -> Any:
    """`name`'s server built with every tool it can list (Redis modules taken as present)."""
    server = importlib.import_module(f"patchbay_{name}.server")
    args = widest(name, tmp) + EXTRA.get(name, [])
    if name in ("slack", "browser"):
        args += ["--upload-dir", str(tmp)]
    settings = server.Settings(_cli_parse_args=args)
    if name == "redis":
        from patchbay_redis.connection import Modules

        return server.build(settings, Modules(json=True, search=True))
    return server.build(settings)


@pytest.fixture(scope="module")
def widest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Any]]:
    """Each server built once at its widest settings, for both tests below (building costs seconds)."""
    secrets = {
        "BRAVE_API_KEY": "test-key",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_" + "a" * 36,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in secrets.items():
            patch.setenv(name, value)
        built: dict[str, Any] = {}

        def get(name: str) -> Any:
            if name not in built:
                built[name] = build_widest(name, tmp_path_factory.mktemp(name))
            return built[name]

        yield get


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found += walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += walk(value, f"{path}/{index}")
    return found


def test_portable_inlines_references_and_makes_bounds_inclusive() -> None:
    schema = {
        "type": "object",
        "properties": {
            "edits": {"type": "array", "items": {"$ref": "#/$defs/Edit"}},
            "wait": {"type": "number", "exclusiveMinimum": 0, "description": "Seconds."},
            "count": {"type": "integer", "exclusiveMinimum": 0},
        },
        "$defs": {"Edit": {"type": "object", "properties": {"old": {"type": "string"}}}},
    }
    out = portable(schema)
    text = json.dumps(out)
    assert "$ref" not in text and "$defs" not in text and "exclusive" not in text
    assert out["properties"]["edits"]["items"]["properties"]["old"] == {"type": "string"}
    assert out["properties"]["wait"] == {
        "type": "number",
        "minimum": 0,
        "description": "Seconds. Must be more than 0.",
    }
    assert out["properties"]["count"] == {"type": "integer", "minimum": 1}


@pytest.mark.parametrize("name", SERVERS)
def test_every_input_schema_is_portable(name: str, widest_server: Callable[[str], Any]) -> None:
    mcp = widest_server(name)
    problems = []
    for tool in sdk.registered_tools(mcp):
        for path, node in walk(tool.parameters):
            where = f"{tool.name}{path}"
            if "$ref" in node or "$defs" in node:
                problems.append(f"{where}: $ref/$defs")
            if "exclusiveMinimum" in node or "exclusiveMaximum" in node:
                problems.append(f"{where}: exclusive bound")
            if node.get("type") == "array" and not node.get("items"):
                problems.append(f"{where}: untyped array items")
            if node.get("type") == "object" and not node.get("properties") and path:
                problems.append(f"{where}: map-shaped open object")
            if "additionalProperties" in node:  # open: strict modes close it; false: google-genai crashes
                problems.append(f"{where}: additionalProperties")
    assert problems == []


# --- the real converters ------------------------------------------------------------------------------


def _agents(tool: mt.Tool) -> tuple[dict[str, Any], bool]:
    from agents.mcp import MCPServerStdio
    from agents.mcp.util import MCPUtil

    never_started = MCPServerStdio(params={"command": "true"})
    function_tool = MCPUtil.to_function_tool(tool, never_started, convert_schemas_to_strict=True)
    return function_tool.params_json_schema, function_tool.strict_json_schema


def _langchain(tool: mt.Tool) -> tuple[dict[str, Any], bool]:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    function = {"name": tool.name, "description": tool.description or "", "parameters": tool.input_schema}
    converted = convert_to_openai_tool(function, strict=True)["function"]
    return converted["parameters"], converted.get("strict") is True


def _genai(tool: mt.Tool) -> tuple[dict[str, Any], bool]:
    from google.genai._mcp_utils import mcp_to_gemini_tool

    declarations = mcp_to_gemini_tool(tool).function_declarations or []
    parameters = declarations[0].parameters
    assert parameters is not None
    return _camel(parameters.model_dump(exclude_none=True, mode="json")), True


def _pydantic_ai(tool: mt.Tool) -> tuple[dict[str, Any], bool]:
    from pydantic_ai.profiles.openai import OpenAIJsonSchemaTransformer

    return OpenAIJsonSchemaTransformer(copy.deepcopy(tool.input_schema), strict=True).walk(), True


CONVERTERS: dict[str, Callable[[mt.Tool], tuple[dict[str, Any], bool]]] = {
    "openai-agents": _agents,
    "langchain-core": _langchain,
    "google-genai": _genai,
    "pydantic-ai": _pydantic_ai,
}

_GEMINI_NAMES = {
    "any_of": "anyOf",
    "min_items": "minItems",
    "max_items": "maxItems",
    "min_length": "minLength",
    "max_length": "maxLength",
    "min_properties": "minProperties",
    "max_properties": "maxProperties",
}
BOUNDS = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern", "enum")


def _camel(node: Any) -> Any:
    """google-genai's Schema dumped with JSON Schema's names (and its upper-case types lowered)."""
    if isinstance(node, list):
        return [_camel(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        _GEMINI_NAMES.get(key, key): (
            {name: _camel(sub) for name, sub in value.items()} if key == "properties" else _camel(value)
        )
        for key, value in node.items()
    }
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    return out


def _branches(node: dict[str, Any]) -> list[dict[str, Any]]:
    """`node`'s non-null alternatives (a nullable X is X, as google-genai writes it)."""
    options = node.get("anyOf")
    if not isinstance(options, list):
        return [node]
    return [option for option in options if option.get("type") != "null"]


def _pairs(before: Any, after: Any, path: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Nodes of the original schema paired with where the converter put them."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return
    yield path, before, after
    for name, sub in (before.get("properties") or {}).items():
        yield from _pairs(sub, (after.get("properties") or {}).get(name), f"{path}.{name}")
    if "items" in before:
        yield from _pairs(before["items"], after.get("items"), f"{path}[]")
    old, new = _branches(before), _branches(after)
    if len(old) == len(new) and (old != [before] or new != [after]):
        for index, (one, two) in enumerate(zip(old, new, strict=True)):
            yield from _pairs(one, two, f"{path}|{index}")


def losses(before: dict[str, Any], after: dict[str, Any], bounds: bool = False) -> list[str]:
    """What a model can no longer send after a converter rewrote `before` (with `bounds`: or no longer knows).

    Bounds are informational only: google-genai's MCP translation drops `minItems`/`maxItems`/`minLength`/
    `maxLength` from every schema (it filters camelCase keywords against its snake_case model), which no
    server can change; the server still enforces them and says so in its error text.
    """
    found = []
    for path, old, new in _pairs(before, after, ""):
        where = path or "(root)"
        for name in old.get("properties") or {}:
            if name not in (new.get("properties") or {}):
                found.append(f"{where}.{name}: property dropped")
        missing = set(old.get("required") or []) - set(new.get("required") or [])
        if missing:
            found.append(f"{where}: no longer required: {sorted(missing)}")
        open_before = old.get("type") == "object" and old.get("additionalProperties") is not False
        if open_before and not old.get("properties") and path:
            found.append(f"{where}: open object emptied")
        if old.get("additionalProperties") not in (None, False) and new.get("additionalProperties") is False:
            found.append(f"{where}: open object closed")
        for bound in BOUNDS if bounds else ():
            if bound in old and new.get(bound) != old[bound]:
                shown = json.dumps(old[bound]) if bound == "enum" else str(old[bound])
                if bound == "enum" or shown not in str(new.get("description", "")):
                    found.append(f"{where}: {bound} lost")
    return found


def conversion_problems(tool: mt.Tool, converter: str, bounds: bool = False) -> list[str]:
    """Why `converter` does not carry `tool` to a model intact (empty when it does)."""
    try:
        converted, strict = CONVERTERS[converter](tool)
    except Exception as error:
        return [f"refused: {type(error).__name__}: {str(error)[:160]}"]
    no_arguments = not tool.input_schema.get("properties")
    problems = [] if strict or no_arguments else ["fell back to a non-strict schema"]
    return problems + losses(tool.input_schema, converted, bounds)


@pytest.mark.anyio
@pytest.mark.parametrize("name", SERVERS)
async def test_real_converters_carry_every_schema_without_loss(
    name: str, widest_server: Callable[[str], Any]
) -> None:
    logging.getLogger("openai.agents").setLevel(logging.WARNING)
    problems = {
        f"{converter} {tool.name}": found
        for tool in await widest_server(name).list_tools()
        for converter in CONVERTERS
        if (found := conversion_problems(tool, converter))
    }
    assert problems == {}


@pytest.mark.parametrize("converter", sorted(CONVERTERS))
def test_the_loss_check_sees_what_the_converters_did_to_open_maps(converter: str) -> None:
    """The redis tools' old map argument: each converter refuses or loses it, and the check says so."""
    old = {
        "type": "object",
        "properties": {
            "key": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["key", "fields"],
    }
    tool = mt.Tool(name="hash_set", description="Set fields.", input_schema=old)
    assert conversion_problems(tool, converter) != []


def test_no_argument_tools_stay_open_because_closing_them_breaks_google_genai() -> None:
    """The one allowed fallback, pinned: if either library changes, this says the layer can close them."""
    listed = {"type": "object", "properties": {}, "title": "pingArguments"}
    closed = {**listed, "additionalProperties": False, "required": []}
    assert _agents(mt.Tool(name="ping", input_schema=listed))[1] is False
    assert _agents(mt.Tool(name="ping", input_schema=closed))[1] is True
    with pytest.raises(AttributeError):
        _genai(mt.Tool(name="ping", input_schema=closed))
