"""Input schemas every model provider accepts: what pydantic emits, rewritten where providers refuse it.

Some providers reject JSON Schema features pydantic uses freely: Gemini's function declarations refuse
`$ref`/`$defs` and exclusive bounds; OpenAI's strict mode needs every array's items typed. `portable()`
inlines references and turns exclusive bounds into inclusive ones (an integer `> 0` becomes `>= 1`; a
number keeps its bound as `minimum` and says "more than" in its description). The server still validates
arguments with the original model, so nothing the tool refuses today gets through.

A tool without arguments keeps `{"type": "object", "properties": {}}`. openai-agents runs it non-strict
unless it says `"additionalProperties": false`, but google-genai's MCP translation raises on that keyword
(it treats every `additionalProperties` as a schema), failing every tool of the session; a non-strict
schema for a tool that takes nothing loses nothing. tests/test_portable_schemas.py pins both behaviours.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["portable"]

_MAX_DEPTH = 32


def _inline(node: Any, defs: dict[str, Any], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return {}
    if isinstance(node, list):
        return [_inline(item, defs, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = copy.deepcopy(defs.get(ref.removeprefix("#/$defs/"), {}))
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs, depth + 1)
    out = {k: _inline(v, defs, depth + 1) for k, v in node.items() if k != "$defs"}
    for exclusive, inclusive, words in (
        ("exclusiveMinimum", "minimum", "more than"),
        ("exclusiveMaximum", "maximum", "less than"),
    ):
        if exclusive in out and isinstance(out[exclusive], int | float):
            bound = out.pop(exclusive)
            if out.get("type") == "integer":
                out[inclusive] = bound + 1 if inclusive == "minimum" else bound - 1
            else:
                out[inclusive] = bound
                note = f"Must be {words} {bound:g}."
                out["description"] = f"{out.get('description', '').rstrip()} {note}".strip()
    return out


def portable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with `$ref`/`$defs` inlined and exclusive bounds made inclusive."""
    defs = schema.get("$defs", {}) if isinstance(schema.get("$defs"), dict) else {}
    result = _inline(schema, defs, 0)
    return result if isinstance(result, dict) else schema
