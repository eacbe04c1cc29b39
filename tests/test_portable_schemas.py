"""Every tool's input schema, at each server's widest settings, is one every model provider accepts."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from test_declarations import OWN_CONTENT, widest

from patchbay_common import sdk
from patchbay_common.schemas import portable

# Map-shaped open objects still to be replaced by lists of {name, value} pairs (issue 23).
OPEN_OBJECTS = {("redis", "hash_set"), ("redis", "zset_add"), ("redis", "stream_add")}


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


@pytest.mark.parametrize("name", sorted(OWN_CONTENT))
def test_every_input_schema_is_portable(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAVE_API_KEY", "test-key")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("GITHUB_PERSONAL_ACCESS_TOKEN", "ghp_" + "a" * 36)
    server = importlib.import_module(f"patchbay_{name}.server")
    mcp = server.build(server.Settings(_cli_parse_args=widest(name, tmp_path)))
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
            open_map = node.get("type") == "object" and not node.get("properties") and path
            if open_map and (name, tool.name) not in OPEN_OBJECTS:
                problems.append(f"{where}: map-shaped open object")
    assert problems == []
