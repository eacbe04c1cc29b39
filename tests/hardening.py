"""Shared pieces of the hardening checks: one streamable HTTP server per registered server, the smoke call.

The conformance suite, the independent clients and the malformed-traffic checks all talk to the same
long-lived HTTP server of each registered server (`HttpPool`), which also checks that the abuse of one
test leaves the server up for the next. Started on first use, stopped with SIGTERM at the end of the
session (`http_server` asserts a clean exit then).
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from patchbay_common.testing.clients import HttpServer, http_server
from registry import ServerSpec, TestEnv

SNAPSHOTS = Path(__file__).parent / "snapshots"


class HttpPool:
    """One streamable HTTP server per spec, started on first use and stopped when the pool closes."""

    def __init__(self, envs: dict[str, TestEnv]) -> None:
        self.envs = envs
        self.stack = ExitStack()
        self.servers: dict[str, HttpServer] = {}

    def get(self, spec: ServerSpec) -> HttpServer:
        """The running HTTP server of `spec` (asserted alive: a crash in an earlier test shows up here)."""
        server = self.servers.get(spec.name)
        if server is None:
            launch = spec.launch(self.envs[spec.name])
            server = self.stack.enter_context(http_server(launch, "streamable-http"))
            self.servers[spec.name] = server
        code = server.process.poll()
        assert code is None, f"patchbay-{spec.name} (HTTP) exited with {code}"
        return server

    def close(self) -> None:
        """SIGTERM every server; each must exit 0."""
        self.stack.close()


def listed_tools(spec: ServerSpec) -> list[dict[str, Any]]:
    """The server's tools/list in its default configuration, from tests/snapshots (kept exact elsewhere)."""
    return json.loads((SNAPSHOTS / f"{spec.name}.json").read_text())


def minimal_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """The simplest arguments that satisfy the required properties' types (values need not make sense)."""
    samples = {"string": "a", "integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}
    args: dict[str, Any] = {}
    for name in schema.get("required", []):
        prop = schema.get("properties", {}).get(name, {})
        kind = prop.get("type", "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if "enum" in prop:
            args[name] = prop["enum"][0]
        elif kind in ("integer", "number"):
            args[name] = max(prop.get("minimum", 1), 1)
        else:
            args[name] = samples.get(kind, "a")
    return args


def smoke_call(spec: ServerSpec) -> tuple[str, dict[str, Any]]:
    """The read-only call the independent clients make: the spec's, or the first that needs no argument.

    A server without such a tool gets its first read-only tool with minimal arguments: an isError answer
    (no key configured, an invalid value) still proves the client and the server understood each other.
    """
    if spec.smoke_call is not None:
        return spec.smoke_call[0], dict(spec.smoke_call[1])
    tools = [t for t in listed_tools(spec) if (t.get("annotations") or {}).get("readOnlyHint")]
    assert tools, f"{spec.name} lists no read-only tool: set ServerSpec.smoke_call"
    for tool in tools:
        if not tool["inputSchema"].get("required"):
            return tool["name"], {}
    return tools[0]["name"], minimal_arguments(tools[0]["inputSchema"])
